//! The checks a bundle passes before it is written to a Secret: all three
//! parts present and parsable, the key matching the certificate, the
//! certificate signed by the CA, and valid now. Also what the status reports
//! about a certificate.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::PkiError;
use super::keys::PrivateKey;

/// What a certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
    /// Subject common name.
    pub common_name: String,
    /// Subject organisations.
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<IpAddr>,
}

fn bad(msg: impl Into<String>) -> PkiError {
    PkiError::Bundle(msg.into())
}

/// The DER of the first certificate in `pem`.
fn der_of(pem: &str, what: &str) -> Result<Vec<u8>, PkiError> {
    if pem.trim().is_empty() {
        return Err(bad(format!("{what} is empty")));
    }
    let (_, pem) = parse_x509_pem(pem.as_bytes()).map_err(|_| bad(format!("{what} is not PEM")))?;
    if pem.label != "CERTIFICATE" {
        return Err(bad(format!("{what} is a {}, not a CERTIFICATE", pem.label)));
    }
    Ok(pem.contents)
}

/// Reads a certificate (`tls.crt`).
pub fn inspect(cert_pem: &str) -> Result<CertInfo, PkiError> {
    let der = der_of(cert_pem, "tls.crt")?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| bad(format!("tls.crt does not parse: {e}")))?;
    Ok(info(&cert))
}

fn info(cert: &X509Certificate<'_>) -> CertInfo {
    let subject = cert.subject();
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str().unwrap_or_default().to_owned()
    };
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => {
                        let o: [u8; 4] = [b[0], b[1], b[2], b[3]];
                        ip_addresses.push(IpAddr::from(o));
                    }
                    16 => {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(b);
                        ip_addresses.push(IpAddr::from(o));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    CertInfo {
        serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        common_name: subject
            .iter_common_name()
            .next()
            .map(text)
            .unwrap_or_default(),
        organizations: subject.iter_organization().map(text).collect(),
        dns_names,
        ip_addresses,
    }
}

/// Checks a bundle: CA, certificate and key present; the key is the
/// certificate's; the CA signed the certificate; both are valid at `now`
/// (unix seconds). Returns what the certificate says.
pub fn verify_bundle(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    now: i64,
) -> Result<CertInfo, PkiError> {
    let ca_der = der_of(ca_pem, "ca.crt")?;
    let cert_der = der_of(cert_pem, "tls.crt")?;
    if key_pem.trim().is_empty() {
        return Err(bad("tls.key is empty"));
    }
    let (_, ca) = X509Certificate::from_der(&ca_der)
        .map_err(|e| bad(format!("ca.crt does not parse: {e}")))?;
    let (_, cert) = X509Certificate::from_der(&cert_der)
        .map_err(|e| bad(format!("tls.crt does not parse: {e}")))?;
    let key = PrivateKey::from_pem(key_pem)?;
    if key.public_key_der()? != cert.tbs_certificate.subject_pki.raw {
        return Err(bad("tls.key does not belong to tls.crt"));
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|e| bad(format!("tls.crt is not signed by ca.crt: {e}")))?;
    if cert.issuer() != ca.subject() {
        return Err(bad("tls.crt names another issuer than ca.crt"));
    }
    for (what, c) in [("ca.crt", &ca), ("tls.crt", &cert)] {
        let v = c.validity();
        if now < v.not_before.timestamp() || now > v.not_after.timestamp() {
            return Err(bad(format!("{what} is not valid now")));
        }
    }
    Ok(info(&cert))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use apiextensions::core::cert_config::KeyAlgorithm;

    use super::*;
    use crate::pki::{Ca, CertRequest};

    fn request(alg: KeyAlgorithm) -> CertRequest {
        CertRequest {
            common_name: "api.abc12.example.com".into(),
            alt_names: vec!["api.abc12.example.com".into(), "kubernetes".into()],
            ip_sans: vec![
                "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
                "::1".parse().unwrap_or(IpAddr::from([0u8; 16])),
            ],
            organizations: vec!["system:masters".into(), "team, with comma".into()],
            ttl: Duration::from_secs(48 * 3600),
            key_algorithm: alg,
            allow_bare_domains: false,
        }
    }

    fn now() -> i64 {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        )
        .unwrap_or_default()
    }

    #[test]
    fn issued_certificates_verify_and_say_what_was_asked() {
        let ca = Ca::generate("abc12").unwrap_or_else(|e| panic!("{e}"));
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
        ] {
            let req = request(alg);
            let issued = ca.issue(&req).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            let info = verify_bundle(&issued.ca_pem, &issued.cert_pem, &issued.key_pem, now())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(info.common_name, req.common_name);
            assert_eq!(info.organizations, req.organizations);
            assert_eq!(info.dns_names, req.alt_names);
            assert_eq!(info.ip_addresses, req.ip_sans);
            let lifetime = info.not_after - info.not_before;
            assert!(
                (48 * 3600..=48 * 3600 + 600).contains(&lifetime),
                "{lifetime}"
            );
            assert_eq!(info.serial.len(), 32, "{}", info.serial);
        }
    }

    #[test]
    fn half_or_mismatched_bundles_are_refused() {
        let ca = Ca::generate("abc12").unwrap_or_else(|e| panic!("{e}"));
        let other = Ca::generate("other").unwrap_or_else(|e| panic!("{e}"));
        let a = ca
            .issue(&request(KeyAlgorithm::EcdsaP256))
            .unwrap_or_else(|e| panic!("{e}"));
        let b = ca
            .issue(&request(KeyAlgorithm::EcdsaP256))
            .unwrap_or_else(|e| panic!("{e}"));
        let t = now();
        assert!(verify_bundle(&a.ca_pem, &a.cert_pem, "", t).is_err());
        assert!(verify_bundle("", &a.cert_pem, &a.key_pem, t).is_err());
        assert!(
            verify_bundle(&a.ca_pem, &a.cert_pem, &b.key_pem, t)
                .is_err_and(|e| e.to_string().contains("does not belong"))
        );
        assert!(
            verify_bundle(other.cert_pem(), &a.cert_pem, &a.key_pem, t)
                .is_err_and(|e| e.to_string().contains("not signed"))
        );
        assert!(
            verify_bundle(&a.ca_pem, &a.cert_pem, &a.key_pem, t + 49 * 3600)
                .is_err_and(|e| e.to_string().contains("not valid now"))
        );
    }

    #[test]
    fn a_ca_survives_its_pem_round_trip() {
        let ca = Ca::generate("abc12").unwrap_or_else(|e| panic!("{e}"));
        let key = ca.key_pem().unwrap_or_else(|e| panic!("{e}"));
        let again = Ca::from_pem(ca.cert_pem(), &key).unwrap_or_else(|e| panic!("{e}"));
        let issued = again
            .issue(&request(KeyAlgorithm::EcdsaP256))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_bundle(ca.cert_pem(), &issued.cert_pem, &issued.key_pem, now()).is_ok());
        let other = Ca::generate("x").unwrap_or_else(|e| panic!("{e}"));
        let other_key = other.key_pem().unwrap_or_else(|e| panic!("{e}"));
        assert!(Ca::from_pem(ca.cert_pem(), &other_key).is_err());
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }
}
