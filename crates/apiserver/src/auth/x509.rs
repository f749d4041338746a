//! Client certificates, as kube-apiserver's x509 authenticator reads them:
//! the TLS layer verifies the chain against `--client-ca-file`; the subject's
//! common name is the user and each organization a group.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;

use super::User;

/// Why the client CA could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientCaError {
    /// It holds no usable CA certificate.
    #[error("client CA: {0}")]
    Invalid(String),
}

/// A verifier that accepts clients with a certificate chaining to a CA in
/// the PEM bundle `pem`, and clients without one (they authenticate
/// otherwise).
pub(crate) fn verifier(
    pem: &[u8],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ClientCaError> {
    let invalid = ClientCaError::Invalid;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(pem).map_err(invalid)? {
        roots.add(cert).map_err(|e| invalid(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(invalid("no certificate in it".into()));
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| invalid(e.to_string()))
}

fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The user of a verified client certificate (DER).
pub(crate) fn user(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    if name.is_empty() {
        // No user to be: the certificate authenticates nobody.
        return None;
    }
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect();
    groups.push("system:authenticated".into());
    Some(User {
        name,
        uid: String::new(),
        groups,
    })
}
