//! Certificates: what a CertConfig asks for ([`CertRequest`]), the keys, the
//! built-in CA that issues them ([`ca::Ca`]), and the checks every bundle
//! passes before it is written ([`verify::verify_bundle`]).

pub mod ca;
pub mod keys;
pub mod request;
pub mod verify;

pub use self::ca::Ca;
pub use self::keys::PrivateKey;
pub use self::request::{CertRequest, spec_hash};
pub use self::verify::{CertInfo, verify_bundle};

use zeroize::Zeroizing;

/// Why a key or certificate could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A key could not be generated, read or encoded.
    #[error("{0}")]
    Key(String),
    /// A certificate could not be built or signed.
    #[error("building the certificate: {0}")]
    Build(String),
    /// The request cannot be issued as asked.
    #[error("invalid certificate request: {0}")]
    Invalid(String),
    /// A bundle failed its checks.
    #[error("the certificate bundle is not usable: {0}")]
    Bundle(String),
}

/// An issued certificate: CA, certificate and key, PEM. Its Debug never
/// shows the key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The issuing CA certificate (`ca.crt`).
    pub ca_pem: String,
    /// The certificate (`tls.crt`).
    pub cert_pem: String,
    /// The private key (`tls.key`), PKCS#8 or what the backend returned.
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("ca_pem", &self.ca_pem.len())
            .field("cert_pem", &self.cert_pem.len())
            .field("key_pem", &"***")
            .finish()
    }
}
