//! The built-in certificate authority: one self-signed CA per guest cluster
//! (ECDSA P-256), and leaf certificates it signs with the names,
//! organisations, lifetime, key algorithm and usages a request asks for.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rand_core::{OsRng, RngCore};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{Ia5String, OctetString, SetOfVec};
use x509_cert::der::oid::db::{rfc4519, rfc5280};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{Any, DecodePem, EncodePem, Tag};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use zeroize::Zeroizing;

use super::keys::PrivateKey;
use super::request::CertRequest;
use super::{IssuedCert, PkiError};

/// How long a cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How far back a certificate's validity starts, for clocks slightly behind.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// A cluster's CA: its certificate and signing key.
pub struct Ca {
    cert: Certificate,
    cert_pem: String,
    key: SigningKey,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .field("key", &"***")
            .finish()
    }
}

impl Ca {
    /// A new self-signed CA for cluster `cluster_id`.
    pub fn generate(cluster_id: &str) -> Result<Self, PkiError> {
        let key = SigningKey::random(&mut OsRng);
        let subject = name(&format!("{cluster_id} CA"), &["operatorkit".to_owned()])?;
        let spki = public_key_info(&key)?;
        let builder = CertificateBuilder::new(
            Profile::Root,
            serial()?,
            validity(CA_VALIDITY)?,
            subject,
            spki,
            &key,
        )
        .map_err(build)?;
        let cert = builder.build::<DerSignature>().map_err(build)?;
        let cert_pem = cert.to_pem(LineEnding::LF).map_err(build)?;
        Ok(Self {
            cert,
            cert_pem,
            key,
        })
    }

    /// The CA kept in PEM (`ca.crt`, and the PKCS#8 key).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert = Certificate::from_pem(cert_pem)
            .map_err(|e| PkiError::Bundle(format!("the CA certificate does not parse: {e}")))?;
        let key = SigningKey::from_pkcs8_pem(key_pem)
            .map_err(|_| PkiError::Key("the CA key is not a PKCS#8 P-256 key".into()))?;
        let ca = Self {
            cert,
            cert_pem: cert_pem.to_owned(),
            key,
        };
        if public_key_info(&ca.key)? != ca.cert.tbs_certificate.subject_public_key_info {
            return Err(PkiError::Bundle(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        Ok(ca)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key, PKCS#8 PEM.
    pub fn key_pem(&self) -> Result<Zeroizing<String>, PkiError> {
        use p256::pkcs8::EncodePrivateKey;
        let pem = self
            .key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|e| PkiError::Key(format!("encoding the CA key: {e}")))?;
        Ok(Zeroizing::new(pem.as_str().to_owned()))
    }

    /// Issues a certificate for `request` with a fresh key.
    pub fn issue(&self, request: &CertRequest) -> Result<IssuedCert, PkiError> {
        let key = PrivateKey::generate(request.key_algorithm)?;
        let cert = self.sign(request, &key)?;
        Ok(IssuedCert {
            ca_pem: self.cert_pem.clone(),
            cert_pem: cert.to_pem(LineEnding::LF).map_err(build)?,
            key_pem: key.to_pem()?,
        })
    }

    fn sign(&self, request: &CertRequest, key: &PrivateKey) -> Result<Certificate, PkiError> {
        let profile = Profile::Leaf {
            issuer: self.cert.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: key.is_rsa(),
        };
        let mut builder = CertificateBuilder::new(
            profile,
            serial()?,
            validity(request.ttl)?,
            name(&request.common_name, &request.organizations)?,
            key.public_key_info()?,
            &self.key,
        )
        .map_err(build)?;
        let mut names = Vec::new();
        for dns in &request.alt_names {
            let dns = Ia5String::new(dns)
                .map_err(|_| PkiError::Invalid(format!("{dns:?} is not an ASCII DNS name")))?;
            names.push(GeneralName::DnsName(dns));
        }
        for ip in &request.ip_sans {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            names.push(GeneralName::IpAddress(
                OctetString::new(bytes).map_err(build)?,
            ));
        }
        if !names.is_empty() {
            builder
                .add_extension(&SubjectAltName(names))
                .map_err(build)?;
        }
        builder
            .add_extension(&ExtendedKeyUsage(vec![
                rfc5280::ID_KP_SERVER_AUTH,
                rfc5280::ID_KP_CLIENT_AUTH,
            ]))
            .map_err(build)?;
        builder.build::<DerSignature>().map_err(build)
    }
}

/// A subject: the organisations, then the common name.
fn name(common_name: &str, organizations: &[String]) -> Result<Name, PkiError> {
    let rdn = |oid, value: &str| -> Result<RelativeDistinguishedName, PkiError> {
        let atv = AttributeTypeAndValue {
            oid,
            value: Any::new(Tag::Utf8String, value.as_bytes()).map_err(build)?,
        };
        Ok(RelativeDistinguishedName(
            SetOfVec::try_from(vec![atv]).map_err(build)?,
        ))
    };
    let mut rdns = Vec::new();
    for o in organizations {
        rdns.push(rdn(rfc4519::O, o)?);
    }
    rdns.push(rdn(rfc4519::CN, common_name)?);
    Ok(RdnSequence(rdns))
}

/// A random positive 128-bit serial number.
fn serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // no leading zero byte: a canonical DER integer
    SerialNumber::new(&bytes).map_err(build)
}

/// From a little before now, for `ttl`.
fn validity(ttl: Duration) -> Result<Validity, PkiError> {
    use x509_cert::time::Time;
    let now = SystemTime::now();
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
    let not_after = now
        .checked_add(ttl)
        .ok_or_else(|| PkiError::Invalid("the lifetime is too long".into()))?;
    Ok(Validity {
        not_before: Time::try_from(not_before).map_err(build)?,
        not_after: Time::try_from(not_after).map_err(build)?,
    })
}

fn public_key_info(
    key: &SigningKey,
) -> Result<x509_cert::spki::SubjectPublicKeyInfoOwned, PkiError> {
    x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(build)
}

fn build(e: impl std::fmt::Display) -> PkiError {
    PkiError::Build(e.to_string())
}
