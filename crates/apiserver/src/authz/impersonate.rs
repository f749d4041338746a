//! Impersonation, as kube-apiserver's filter does it: a user allowed to
//! `impersonate` users, groups, uids or service accounts acts as another
//! with the `Impersonate-User`, `Impersonate-Group` and `Impersonate-Uid`
//! headers; every impersonated attribute is authorized first.

use http::HeaderMap;

use super::{Attributes, Authorizer, ResourceAttributes, Target};
use crate::error::{ApiError, ApiResult};
use crate::user::User;

/// The user a request acts as: `user`, or whom its headers impersonate.
pub(crate) fn apply(authz: &Authorizer, user: User, headers: &HeaderMap) -> ApiResult<User> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    // An empty header value is no value (as kube-apiserver reads it).
    let name = values("impersonate-user")
        .into_iter()
        .find(|n| !n.is_empty());
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let Some(name) = name else {
        if !groups.is_empty() || uid.is_some() {
            return Err(ApiError::bad_request(
                "requested impersonation of groups or a uid without impersonating a user",
            ));
        }
        return Ok(user);
    };
    let account = service_account(&name);
    let may = |resource: &str, group: &str, namespace: &str, target: &str| -> ApiResult<()> {
        let attrs = Attributes {
            verb: "impersonate".into(),
            target: Target::Resource(ResourceAttributes {
                group: group.into(),
                resource: resource.into(),
                subresource: String::new(),
                namespace: namespace.into(),
                name: target.into(),
            }),
        };
        authz.authorize(&user, &attrs).map(|_| ())
    };
    match account {
        Some((ns, sa)) => may("serviceaccounts", "", ns, sa)?,
        None => may("users", "", "", &name)?,
    }
    for g in &groups {
        may("groups", "", "", g)?;
    }
    if let Some(uid) = &uid {
        may("uids", "authentication.k8s.io", "", uid)?;
    }
    Ok(impersonated(&name, account, groups, uid))
}

/// The namespace and name of `system:serviceaccount:<ns>:<name>`.
fn service_account(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'))
}

/// The user a request acts as: a ServiceAccount's groups unless groups are
/// impersonated too, and `system:authenticated` for anyone but anonymous.
fn impersonated(
    name: &str,
    account: Option<(&str, &str)>,
    groups: Vec<String>,
    uid: Option<String>,
) -> User {
    let mut as_user = match (account, groups.is_empty()) {
        (Some((ns, sa)), true) => User::service_account(ns, sa, ""),
        _ => User {
            name: name.to_owned(),
            uid: String::new(),
            groups,
        },
    };
    as_user.uid = uid.unwrap_or_default();
    let authenticated = "system:authenticated";
    if name != "system:anonymous" && !as_user.groups.iter().any(|g| g == authenticated) {
        as_user.groups.push(authenticated.into());
    }
    as_user
}
