//! Who makes a request, as authentication (`auth`) found it: the user name,
//! UID and groups every layer below it (authorization, the REST verbs'
//! field managers and requesters, reviews) reads.

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name (`system:anonymous` when anonymous).
    pub(crate) name: String,
    /// UID from the token file.
    pub(crate) uid: String,
    /// Groups (`system:authenticated` added for token users).
    pub(crate) groups: Vec<String>,
}

impl User {
    /// The user of ServiceAccount `name` in `namespace`.
    pub(crate) fn service_account(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_owned(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// `system:anonymous`, in `system:unauthenticated`.
    pub(crate) fn anonymous() -> Self {
        Self {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}
