//! What one CertConfig asks for, checked and with defaults applied, and the
//! hash of it that tells when a certificate must be re-issued.

use std::net::IpAddr;
use std::time::Duration;

use apiextensions::CertConfigSpec;
use apiextensions::core::cert_config::KeyAlgorithm;
use sha2::{Digest, Sha256};

use super::PkiError;

/// The longest lifetime a certificate may ask for (X.509 dates end in 9999).
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// One certificate to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRequest {
    /// Subject common name.
    pub common_name: String,
    /// DNS SANs (the common name is added when it is a DNS name).
    pub alt_names: Vec<String>,
    /// IP SANs.
    pub ip_sans: Vec<IpAddr>,
    /// Subject organisations (RBAC groups).
    pub organizations: Vec<String>,
    /// Lifetime.
    pub ttl: Duration,
    /// Key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Whether the bare domain of the common name may be a name.
    pub allow_bare_domains: bool,
}

impl CertRequest {
    /// The request of `spec`, with `default_key` when it names none. Errors
    /// name the field (what the schema cannot refuse: it checks syntax, not
    /// meaning).
    pub fn from_spec(spec: &CertConfigSpec, default_key: KeyAlgorithm) -> Result<Self, PkiError> {
        let ttl = operatorkit::duration::parse(&spec.ttl)
            .map_err(|e| PkiError::Invalid(format!("spec.ttl: {e}")))?;
        if ttl < Duration::from_secs(3600) {
            return Err(PkiError::Invalid("spec.ttl must be at least 1h".into()));
        }
        if ttl > MAX_TTL {
            return Err(PkiError::Invalid(format!(
                "spec.ttl {:?} is longer than 100 years",
                spec.ttl
            )));
        }
        let ip_sans = spec
            .ip_sans
            .iter()
            .map(|ip| {
                ip.parse::<IpAddr>().map_err(|_| {
                    PkiError::Invalid(format!("spec.ipSans: {ip:?} is not an IP address"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut alt_names = sorted_unique(&spec.alt_names);
        if !spec.common_name.starts_with("*.") || spec.allow_bare_domains {
            // Clients check names against SANs only: the CN must be one.
            if !alt_names.contains(&spec.common_name) {
                alt_names.insert(0, spec.common_name.clone());
            }
        }
        Ok(Self {
            common_name: spec.common_name.clone(),
            alt_names,
            ip_sans: {
                let mut ips = ip_sans;
                ips.sort();
                ips.dedup();
                ips
            },
            organizations: sorted_unique(&spec.organizations),
            ttl,
            key_algorithm: spec.key_algorithm.unwrap_or(default_key),
            allow_bare_domains: spec.allow_bare_domains,
        })
    }
}

fn sorted_unique(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A hash of everything that goes into a certificate: when it changes, the
/// certificate is re-issued. Order of lists does not matter.
pub fn spec_hash(request: &CertRequest) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        h.update([0]);
    };
    field("cn", &request.common_name);
    field("dns", &request.alt_names.join(","));
    let ips: Vec<String> = request.ip_sans.iter().map(ToString::to_string).collect();
    field("ip", &ips.join(","));
    field("o", &request.organizations.join(","));
    field("ttl", &request.ttl.as_secs().to_string());
    field("key", &format!("{:?}", request.key_algorithm));
    field("bare", &request.allow_bare_domains.to_string());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CertConfigSpec {
        serde_json::from_value(serde_json::json!({
            "clusterID": "abc12",
            "clusterComponent": "api",
            "commonName": "api.abc12.example.com",
            "altNames": ["kubernetes", "kubernetes.default"],
            "ipSans": ["172.31.0.1", "127.0.0.1"],
            "organizations": ["system:masters"],
            "ttl": "2160h"
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn requests_carry_defaults_and_the_cn_as_a_san() {
        let r = CertRequest::from_spec(&spec(), KeyAlgorithm::Rsa2048)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.key_algorithm, KeyAlgorithm::Rsa2048);
        assert_eq!(r.alt_names[0], "api.abc12.example.com");
        assert_eq!(r.ip_sans.len(), 2);
        assert_eq!(r.ttl, Duration::from_secs(2160 * 3600));
    }

    #[test]
    fn meaning_errors_name_the_field() {
        let mut s = spec();
        s.ip_sans = vec!["not-an-ip".into()];
        let e = CertRequest::from_spec(&s, KeyAlgorithm::EcdsaP256)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("spec.ipSans")));
    }

    #[test]
    fn the_hash_follows_content_not_order() {
        let a = CertRequest::from_spec(&spec(), KeyAlgorithm::EcdsaP256)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = spec();
        s.alt_names.reverse();
        s.ip_sans.reverse();
        let b =
            CertRequest::from_spec(&s, KeyAlgorithm::EcdsaP256).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec_hash(&a), spec_hash(&b));
        s.organizations.push("other".into());
        let c =
            CertRequest::from_spec(&s, KeyAlgorithm::EcdsaP256).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(spec_hash(&a), spec_hash(&c));
        assert_eq!(spec_hash(&a).len(), 64);
    }
}
