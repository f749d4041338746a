//! Who is asking, as kube-apiserver's authenticators decide it, in its order:
//! a verified client certificate (`--client-ca-file`; CN is the user, O the
//! groups), a bearer token from `--token-auth-file`
//! (`token,user,uid,"group1,group2"`), a ServiceAccount token
//! ([`serviceaccount`]), else `system:anonymous` when `--anonymous-auth`
//! allows it. `system:authenticated` is added to every authenticated user.
//!
//! Every request is authenticated here into a [`User`] before authorization
//! (`authz`) and its handler.

pub(crate) mod serviceaccount;
pub(crate) mod x509;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{ApiError, ApiResult};
use crate::user::User;

/// Authenticates requests.
#[derive(Clone)]
pub(crate) struct Authenticator {
    tokens: HashMap<String, User>,
    anonymous: bool,
    service_accounts: Option<Arc<serviceaccount::ServiceAccounts>>,
}

/// Why the token file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("reading token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,"groups"]`.
    #[error("token file {path} line {line}: expected token,user,uid[,\"group1,group2\"]")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
}

/// Name of the user the server's own admin token authenticates as.
pub(crate) const ADMIN_USER: &str = "operatorkit:admin";

impl Authenticator {
    /// Adds the server's admin token: user [`ADMIN_USER`] in `system:masters`.
    pub(crate) fn with_admin_token(mut self, token: &str) -> Self {
        self.tokens.insert(
            token.to_owned(),
            User {
                name: ADMIN_USER.to_owned(),
                uid: String::new(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        );
        self
    }

    /// Everyone is `system:anonymous`.
    #[cfg(test)]
    pub(crate) fn anonymous() -> Self {
        Self::without_tokens(true)
    }

    /// No token users; requests without credentials are anonymous if
    /// `anonymous` is set, else refused.
    pub(crate) fn without_tokens(anonymous: bool) -> Self {
        Self {
            tokens: HashMap::new(),
            anonymous,
            service_accounts: None,
        }
    }

    /// Also accepts ServiceAccount tokens issued by `accounts`.
    pub(crate) fn with_service_accounts(
        mut self,
        accounts: Arc<serviceaccount::ServiceAccounts>,
    ) -> Self {
        self.service_accounts = Some(accounts);
        self
    }

    /// Users from a token file; requests without a token are anonymous if
    /// `anonymous` is set, else refused.
    pub(crate) fn from_token_file(path: &Path, anonymous: bool) -> Result<Self, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (fields, groups) = match line.split_once(",\"") {
                Some((head, tail)) => (head, tail.trim_end_matches('"')),
                None => (line, ""),
            };
            let parts: Vec<&str> = fields.split(',').map(str::trim).collect();
            let [token, name, uid, ..] = parts.as_slice() else {
                return Err(TokenFileError::Line {
                    path: path.display().to_string(),
                    line: i + 1,
                });
            };
            if token.is_empty() {
                // As kube-apiserver: an empty token authenticates nobody.
                tracing::warn!(file = %path.display(), line = i + 1, "skipping a token-file line with an empty token");
                continue;
            }
            let mut groups: Vec<String> = groups
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            groups.push("system:authenticated".into());
            tokens.insert(
                (*token).to_owned(),
                User {
                    name: (*name).to_owned(),
                    uid: (*uid).to_owned(),
                    groups,
                },
            );
        }
        Ok(Self {
            tokens,
            anonymous,
            service_accounts: None,
        })
    }

    /// The user of a request: its verified client certificate's, else its
    /// `Authorization` header's, else anonymous (if allowed); 401 otherwise.
    pub(crate) fn authenticate(
        &self,
        certificate: Option<&User>,
        authorization: Option<&str>,
    ) -> ApiResult<User> {
        if let Some(user) = certificate {
            return Ok(user.clone());
        }
        // The scheme is case-insensitive; an empty bearer token is invalid.
        let token = authorization.and_then(|a| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        let Some(token) = token else {
            return match self.anonymous {
                true => Ok(User::anonymous()),
                false => Err(ApiError::unauthorized()),
            };
        };
        if token.is_empty() {
            return Err(ApiError::unauthorized());
        }
        if let Some(user) = self.tokens.get(token) {
            return Ok(user.clone());
        }
        match self
            .service_accounts
            .as_ref()
            .and_then(|sa| sa.authenticate(token))
        {
            Some(result) => result,
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl Authenticator {
    /// Whether `token` authenticates for one of `audiences` (the API's when
    /// empty): its user and the audiences it is valid for (TokenReview).
    /// Token-file tokens are valid for any audience, as kube-apiserver's.
    pub(crate) fn authenticate_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> ApiResult<(User, Vec<String>)> {
        let api = [serviceaccount::ISSUER.to_owned()];
        let audiences = if audiences.is_empty() {
            &api[..]
        } else {
            audiences
        };
        if token.is_empty() {
            return Err(ApiError::unauthorized());
        }
        if let Some(user) = self.tokens.get(token) {
            return Ok((user.clone(), audiences.to_vec()));
        }
        match self
            .service_accounts
            .as_ref()
            .and_then(|sa| sa.authenticate_for(token, audiences))
        {
            Some(result) => result,
            None => Err(ApiError::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_users_and_anonymous() {
        let dir = std::env::temp_dir().join(format!("apiserver-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens.csv");
        std::fs::write(
            &file,
            "# users\nsecret1,alice,1,\"admins,devs\"\nsecret2,bob,2\n",
        )
        .unwrap();
        let a = Authenticator::from_token_file(&file, false).unwrap();
        let alice = a.authenticate(None, Some("Bearer secret1")).unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["admins", "devs", "system:authenticated"]);
        assert_eq!(
            a.authenticate(None, Some("Bearer nope")).unwrap_err().code,
            401
        );
        assert_eq!(a.authenticate(None, None).unwrap_err().code, 401);
        assert_eq!(
            Authenticator::anonymous()
                .authenticate(None, None)
                .unwrap()
                .name,
            "system:anonymous"
        );
        // The scheme is case-insensitive; an empty bearer token is refused
        // (not anonymous); a token-file line without a token is skipped.
        assert_eq!(
            a.authenticate(None, Some("bearer secret2")).unwrap().name,
            "bob"
        );
        let open = Authenticator::anonymous();
        assert_eq!(
            open.authenticate(None, Some("Bearer ")).unwrap_err().code,
            401
        );
        std::fs::write(&file, ",carol,3\nsecret4,dave,4\n").unwrap();
        let skipped = Authenticator::from_token_file(&file, false).unwrap();
        assert_eq!(
            skipped
                .authenticate(None, Some("Bearer "))
                .unwrap_err()
                .code,
            401
        );
        assert_eq!(
            skipped
                .authenticate(None, Some("Bearer secret4"))
                .unwrap()
                .name,
            "dave"
        );
        std::fs::write(&file, "only-a-token\n").unwrap();
        assert!(Authenticator::from_token_file(&file, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
