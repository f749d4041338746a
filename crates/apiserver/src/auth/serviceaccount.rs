//! ServiceAccount tokens, as kube-apiserver issues and checks them: JWTs
//! signed by the server's key (ES256), issued by the TokenRequest API
//! (`POST .../serviceaccounts/<name>/token`), optionally bound to a Pod or
//! Secret, and verified on every request: signature, issuer, audience,
//! expiry, and that the ServiceAccount (and the bound object) still exist
//! with the same UID.
//!
//! The signing key lives in `<data-dir>/service-account.key` (PKCS#8 PEM,
//! mode 0600) so tokens outlive a restart; without a data directory it is
//! made at start.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::User;
use crate::error::{ApiError, ApiResult, Target};
use crate::store::{ObjectKey, StorageKey, Store};

/// The issuer and API audience of the tokens, as a real cluster's default.
pub(crate) const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Shortest lifetime a TokenRequest may ask for.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Longest lifetime a TokenRequest may ask for (2^32 s, as kube-apiserver).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// Lifetime when none is asked for.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// The file the signing key is kept in, under the data directory.
const KEY_FILE: &str = "service-account.key";

/// Issues and verifies ServiceAccount tokens.
pub(crate) struct ServiceAccounts {
    encoding: EncodingKey,
    decoding: DecodingKey,
    store: Arc<Store>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: Private,
}

#[derive(Debug, Serialize, Deserialize)]
struct Private {
    namespace: String,
    serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<Ref>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ref {
    name: String,
    uid: String,
}

/// Why the signing key could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("service account key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not a usable ECDSA P-256 key.
    #[error("service account key: {0}")]
    Key(String),
}

impl ServiceAccounts {
    /// Tokens signed with the key kept in `data_dir` (made on first use), or
    /// with a key made now.
    pub(crate) fn new(store: Arc<Store>, data_dir: Option<&Path>) -> Result<Self, KeyError> {
        let key = match data_dir {
            Some(dir) => load_or_create(&dir.join(KEY_FILE))?,
            None => rcgen::KeyPair::generate().map_err(|e| KeyError::Key(e.to_string()))?,
        };
        let encoding = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        let decoding = DecodingKey::from_ec_pem(key.public_key_pem().as_bytes())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(Self {
            encoding,
            decoding,
            store,
        })
    }

    /// Answers a TokenRequest for ServiceAccount `name` in `namespace`.
    pub(crate) fn token_request(
        &self,
        namespace: &str,
        name: &str,
        body: &Value,
    ) -> ApiResult<Value> {
        let account = self
            .get("serviceaccounts", namespace, name)
            .ok_or_else(|| {
                ApiError::not_found(Target {
                    group: "",
                    resource: "serviceaccounts",
                    name,
                })
            })?;
        let mut spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
        let seconds = expiration_seconds(name, &spec)?;
        let mut audiences = crate::meta::strings(spec.get("audiences"));
        if audiences.is_empty() {
            audiences.push(ISSUER.to_owned());
        }
        let (pod, secret) = self.bound_object(namespace, name, spec.get("boundObjectRef"))?;
        let now = jiff::Timestamp::now().as_second();
        // Bounded above: seconds <= 2^32, now is a current Unix time.
        let exp = now.saturating_add(seconds);
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: format!("system:serviceaccount:{namespace}:{name}"),
            aud: audiences.clone(),
            exp,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: Private {
                namespace: namespace.to_owned(),
                serviceaccount: Ref {
                    name: name.to_owned(),
                    uid: uid(&account),
                },
                pod,
                secret,
            },
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("signing the token failed: {e}")))?;
        let expires = jiff::Timestamp::from_second(exp)
            .map(|t| t.to_string())
            .unwrap_or_default();
        spec["audiences"] = audiences.into();
        spec["expirationSeconds"] = seconds.into();
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": expires},
        }))
    }

    /// The user of a ServiceAccount token for the API, or `None` if it is not
    /// one of ours (`Err` for one of ours that is no longer valid).
    pub(crate) fn authenticate(&self, token: &str) -> Option<ApiResult<User>> {
        self.authenticate_for(token, &[ISSUER.to_owned()])
            .map(|r| r.map(|(user, _)| user))
    }

    /// Like [`ServiceAccounts::authenticate`], for a token meant for one of
    /// `audiences`; also returns the audiences it is valid for (TokenReview).
    pub(crate) fn authenticate_for(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Option<ApiResult<(User, Vec<String>)>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 {
            return None;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(audiences);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        let claims = match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                return None;
            }
            Err(e) => {
                tracing::debug!(error = %e, "refused a service account token");
                return Some(Err(ApiError::unauthorized()));
            }
        };
        let valid_for: Vec<String> = claims
            .aud
            .iter()
            .filter(|a| audiences.contains(a))
            .cloned()
            .collect();
        Some(
            self.still_valid(&claims)
                .map(|user| (user, valid_for))
                .ok_or_else(ApiError::unauthorized),
        )
    }

    /// The user, if the account and the bound object still exist as they were.
    fn still_valid(&self, claims: &Claims) -> Option<User> {
        let k = &claims.kubernetes;
        let ns = &k.namespace;
        let alive = |resource: &str, r: &Ref| {
            self.get(resource, ns, &r.name)
                .is_some_and(|o| uid(&o) == r.uid && !crate::meta::is_deleting(&o))
        };
        let account_alive = self
            .get("serviceaccounts", ns, &k.serviceaccount.name)
            .is_some_and(|o| uid(&o) == k.serviceaccount.uid && !crate::meta::is_deleting(&o));
        if !account_alive
            || k.pod.as_ref().is_some_and(|p| !alive("pods", p))
            || k.secret.as_ref().is_some_and(|s| !alive("secrets", s))
        {
            tracing::debug!(sub = %claims.sub, "refused a token whose account or bound object is gone");
            return None;
        }
        Some(User::service_account(
            ns,
            &k.serviceaccount.name,
            &k.serviceaccount.uid,
        ))
    }

    /// The Pod or Secret a token is bound to, checked to exist.
    fn bound_object(
        &self,
        namespace: &str,
        name: &str,
        bound: Option<&Value>,
    ) -> ApiResult<(Option<Ref>, Option<Ref>)> {
        let Some(bound) = bound.filter(|b| !b.is_null()) else {
            return Ok((None, None));
        };
        let kind = bound
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let object = bound
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = match kind {
            "Pod" => "pods",
            "Secret" => "secrets",
            other => {
                return Err(invalid(
                    name,
                    "spec.boundObjectRef.kind",
                    &format!("Unsupported value: {other:?}: supported values: \"Pod\", \"Secret\""),
                ));
            }
        };
        let found = self.get(resource, namespace, object).ok_or_else(|| {
            ApiError::not_found(Target {
                group: "",
                resource,
                name: object,
            })
        })?;
        let want = bound.get("uid").and_then(Value::as_str).unwrap_or_default();
        if !want.is_empty() && want != uid(&found) {
            return Err(ApiError::conflict_message(format!(
                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            )));
        }
        let r = Ref {
            name: object.to_owned(),
            uid: uid(&found),
        };
        Ok(if kind == "Pod" {
            (Some(r), None)
        } else {
            (None, Some(r))
        })
    }

    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = ObjectKey::new(namespace, name);
        self.store
            .read(|s| s.value(&StorageKey::new("", resource), &key))
    }
}

fn uid(obj: &Value) -> String {
    crate::meta::uid(obj).unwrap_or_default().to_owned()
}

fn invalid(name: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "TokenRequest",
        "authentication.k8s.io",
        name,
        vec![crate::error::Cause {
            reason: "FieldValueInvalid".into(),
            message: message.to_owned(),
            field: field.to_owned(),
        }],
    )
}

fn load_or_create(path: &Path) -> Result<rcgen::KeyPair, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| KeyError::Key(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = rcgen::KeyPair::generate().map_err(|e| KeyError::Key(e.to_string()))?;
            write_private(path, &key.serialize_pem()).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}

/// A TokenRequest's `spec.expirationSeconds` (an hour when absent), between
/// ten minutes and 2^32 seconds.
fn expiration_seconds(name: &str, spec: &Value) -> ApiResult<i64> {
    let seconds = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let bound = if seconds < MIN_EXPIRATION_SECONDS {
        "less than 10 minutes"
    } else if seconds > MAX_EXPIRATION_SECONDS {
        "larger than 2^32 seconds"
    } else {
        return Ok(seconds);
    };
    Err(invalid(
        name,
        "spec.expirationSeconds",
        &format!("Invalid value: {seconds}: may not specify a duration {bound}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ObjectKey, StorageKey};

    fn setup() -> (ServiceAccounts, String) {
        let store = Arc::new(Store::new(100, None, 0, Vec::new()));
        let uid = "0f6a9d3e-0000-4000-8000-000000000001".to_owned();
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "robot", "namespace": "ns", "uid": uid}});
        store
            .write(|s| {
                Ok(s.put(
                    &StorageKey::new("", "serviceaccounts"),
                    &ObjectKey::new("ns", "robot"),
                    sa,
                ))
            })
            .unwrap();
        (ServiceAccounts::new(store, None).unwrap(), uid)
    }

    fn signed(accounts: &ServiceAccounts, uid: &str, exp_offset: i64, aud: &str) -> String {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "system:serviceaccount:ns:robot".into(),
            aud: vec![aud.into()],
            exp: now + exp_offset,
            iat: now - 7200,
            nbf: now - 7200,
            jti: "j".into(),
            kubernetes: Private {
                namespace: "ns".into(),
                serviceaccount: Ref {
                    name: "robot".into(),
                    uid: uid.into(),
                },
                pod: None,
                secret: None,
            },
        };
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &accounts.encoding).unwrap()
    }

    #[test]
    fn expired_or_other_audience_tokens_are_refused() {
        let (accounts, uid) = setup();
        let valid = signed(&accounts, &uid, 600, ISSUER);
        let user = accounts.authenticate(&valid).unwrap().unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:robot");
        let expired = signed(&accounts, &uid, -1, ISSUER);
        assert_eq!(
            accounts.authenticate(&expired).unwrap().unwrap_err().code,
            401
        );
        // TokenReview asks for audiences: valid only where the token is.
        let asked = [ISSUER.to_owned(), "vault".to_owned()];
        let (_, valid_for) = accounts.authenticate_for(&valid, &asked).unwrap().unwrap();
        assert_eq!(valid_for, [ISSUER]);
        let vault_only = ["vault".to_owned()];
        assert!(
            accounts
                .authenticate_for(&valid, &vault_only)
                .unwrap()
                .is_err()
        );
        let elsewhere = signed(&accounts, &uid, 600, "vault");
        assert_eq!(
            accounts.authenticate(&elsewhere).unwrap().unwrap_err().code,
            401
        );
        let stale_uid = signed(&accounts, "another-uid", 600, ISSUER);
        assert_eq!(
            accounts.authenticate(&stale_uid).unwrap().unwrap_err().code,
            401
        );
        // Not one of ours (another key): left to the other authenticators.
        let (other, _) = setup();
        assert!(other.authenticate(&valid).is_none());
        assert!(accounts.authenticate("not-a-jwt").is_none());
    }

    #[test]
    fn token_requests_are_checked_as_kube_apiserver_checks_them() {
        let (accounts, _) = setup();
        let short = accounts
            .token_request("ns", "robot", &json!({"spec": {"expirationSeconds": 60}}))
            .unwrap_err();
        assert_eq!(short.code, 422);
        assert!(
            short.message.contains("less than 10 minutes"),
            "{}",
            short.message
        );
        let long = expiration_seconds("robot", &json!({"expirationSeconds": (1i64 << 32) + 1}))
            .unwrap_err();
        assert!(
            long.message.contains("larger than 2^32 seconds"),
            "{}",
            long.message
        );
        assert_eq!(
            expiration_seconds("robot", &json!({"expirationSeconds": 600})).unwrap(),
            600
        );
        let missing = accounts
            .token_request("ns", "nobody", &json!({}))
            .unwrap_err();
        assert_eq!(missing.message, "serviceaccounts \"nobody\" not found");
        let pod =
            json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}});
        assert_eq!(
            accounts
                .token_request("ns", "robot", &pod)
                .unwrap_err()
                .code,
            404
        );
        let ok = accounts.token_request("ns", "robot", &json!({})).unwrap();
        assert_eq!(ok["spec"]["expirationSeconds"], 3600);
        let token = ok["status"]["token"].as_str().unwrap();
        assert!(accounts.authenticate(token).unwrap().is_ok());
    }
}
