//! Private keys of the algorithms a CertConfig may ask for: generation,
//! PKCS#8 PEM encoding, reading the formats backends return (PKCS#8, SEC1,
//! PKCS#1), and the public key info a certificate must carry to match.

use apiextensions::core::cert_config::KeyAlgorithm;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use super::PkiError;

/// A private key.
pub enum PrivateKey {
    /// ECDSA on P-256.
    P256(p256::SecretKey),
    /// ECDSA on P-384.
    P384(p384::SecretKey),
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        let kind = match self {
            Self::P256(_) => "P256",
            Self::P384(_) => "P384",
            Self::Rsa(_) => "RSA",
        };
        write!(f, "PrivateKey({kind}, ***)")
    }
}

impl PrivateKey {
    /// A fresh key of `algorithm`.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        Ok(match algorithm {
            KeyAlgorithm::EcdsaP256 => Self::P256(p256::SecretKey::random(&mut OsRng)),
            KeyAlgorithm::EcdsaP384 => Self::P384(p384::SecretKey::random(&mut OsRng)),
            KeyAlgorithm::Rsa2048 => Self::rsa(2048)?,
            KeyAlgorithm::Rsa4096 => Self::rsa(4096)?,
        })
    }

    fn rsa(bits: usize) -> Result<Self, PkiError> {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
            .map_err(|e| PkiError::Key(format!("generating an RSA-{bits} key: {e}")))?;
        Ok(Self::Rsa(Box::new(key)))
    }

    /// Reads a PEM key: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or
    /// PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let bad = |what: &str| PkiError::Key(format!("the private key is not a valid {what} key"));
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            return rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|k| Self::Rsa(Box::new(k)))
                .map_err(|_| bad("PKCS#1 RSA"));
        }
        if pem.contains("BEGIN EC PRIVATE KEY") {
            return p256::SecretKey::from_sec1_pem(pem)
                .map(Self::P256)
                .or_else(|_| p384::SecretKey::from_sec1_pem(pem).map(Self::P384))
                .map_err(|_| bad("SEC1 P-256/P-384"));
        }
        p256::SecretKey::from_pkcs8_pem(pem)
            .map(Self::P256)
            .or_else(|_| p384::SecretKey::from_pkcs8_pem(pem).map(Self::P384))
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem).map(|k| Self::Rsa(Box::new(k))))
            .map_err(|_| bad("PKCS#8 P-256, P-384 or RSA"))
    }

    /// The key as PKCS#8 PEM (what `tls.key` holds).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, PkiError> {
        let pem = match self {
            Self::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            Self::P384(k) => k.to_pkcs8_pem(LineEnding::LF),
            Self::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| PkiError::Key(format!("encoding the private key: {e}")))?;
        Ok(Zeroizing::new(pem.as_str().to_owned()))
    }

    /// DER of the public key info (SubjectPublicKeyInfo).
    pub fn public_key_der(&self) -> Result<Vec<u8>, PkiError> {
        let doc = match self {
            Self::P256(k) => k.public_key().to_public_key_der(),
            Self::P384(k) => k.public_key().to_public_key_der(),
            Self::Rsa(k) => k.to_public_key().to_public_key_der(),
        }
        .map_err(|e| PkiError::Key(format!("encoding the public key: {e}")))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// The public key info, for a certificate.
    pub fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
        use x509_cert::der::Decode;
        SubjectPublicKeyInfoOwned::from_der(&self.public_key_der()?)
            .map_err(|e| PkiError::Key(format!("decoding the public key: {e}")))
    }

    /// Whether key encipherment belongs in a certificate for this key (RSA).
    pub fn is_rsa(&self) -> bool {
        matches!(self, Self::Rsa(_))
    }
}
