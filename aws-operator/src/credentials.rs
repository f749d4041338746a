//! An AWSConfig's AWS credentials: the Secret `spec.credentialSecret` names,
//! with the keys of the AWS CLI's credentials file. Their values are never
//! logged, nor put in a status, an Event or an error message (the SDK's
//! `Credentials` redacts them in `Debug`).

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::Secret;

/// The access key id (required).
pub const ACCESS_KEY_ID: &str = "aws_access_key_id";
/// The secret access key (required).
pub const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
/// A session token, for temporary credentials (optional).
pub const SESSION_TOKEN: &str = "aws_session_token";

/// The credentials in `secret`; what is missing or unusable, by key name,
/// when they are not there.
pub fn from_secret(secret: &Secret) -> Result<Credentials, String> {
    let text = |key: &str| -> Result<Option<String>, String> {
        let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) else {
            return Ok(None);
        };
        let value = std::str::from_utf8(&bytes.0)
            .map_err(|_| format!("key {key} is not UTF-8"))?
            .trim();
        Ok((!value.is_empty()).then(|| value.to_owned()))
    };
    let id = text(ACCESS_KEY_ID)?;
    let secret_key = text(SECRET_ACCESS_KEY)?;
    let (Some(id), Some(secret_key)) = (id.as_ref(), secret_key.as_ref()) else {
        let missing: Vec<&str> = [(ACCESS_KEY_ID, &id), (SECRET_ACCESS_KEY, &secret_key)]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        return Err(format!("missing or empty keys: {}", missing.join(", ")));
    };
    let token = text(SESSION_TOKEN)?;
    Ok(Credentials::new(
        id.clone(),
        secret_key.clone(),
        token,
        None,
        "AWSConfig credentialSecret",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn keys_are_read_and_missing_ones_named_without_values() {
        let creds = from_secret(&secret(&[
            (ACCESS_KEY_ID, "AKIA1"),
            (SECRET_ACCESS_KEY, "s3cr3t"),
        ]))
        .unwrap();
        assert_eq!(creds.access_key_id(), "AKIA1");
        assert!(!format!("{creds:?}").contains("s3cr3t"), "redacted");
        let missing = from_secret(&secret(&[
            (ACCESS_KEY_ID, "AKIA1"),
            (SECRET_ACCESS_KEY, " "),
        ]))
        .unwrap_err();
        assert_eq!(missing, "missing or empty keys: aws_secret_access_key");
        let none = from_secret(&Secret::default()).unwrap_err();
        assert!(none.contains(ACCESS_KEY_ID) && none.contains(SECRET_ACCESS_KEY));
    }
}
