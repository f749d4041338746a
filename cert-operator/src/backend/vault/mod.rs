//! The Vault PKI backend: a mount `pki-<clusterID>` with a root CA per
//! cluster, a role per organisation set, certificates through
//! `/issue/<role>` (see [`client`]).

pub mod client;

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use operatorkit::Context;
use zeroize::Zeroizing;

use apiextensions::CertConfig;
use apiextensions::core::cert_config::KeyAlgorithm;

use self::client::{IssueRequest, KeyType, Vault, VaultError};
use super::{Backend, BackendError, Scope};
use crate::pki::{CertRequest, IssuedCert};

/// Issues through Vault. Clusters whose CA is known to exist are remembered,
/// so a certificate costs one Vault cx.
pub struct VaultBackend {
    vault: Vault,
    with_ca: Mutex<HashSet<String>>,
}

impl VaultBackend {
    /// A backend on `vault`.
    pub fn new(vault: Vault) -> Self {
        Self {
            vault,
            with_ca: Mutex::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Plain data: usable after a panic elsewhere.
        self.with_ca.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn ensure_ca(&self, cluster: &str) -> Result<(), VaultError> {
        if self.known().contains(cluster) {
            return Ok(());
        }
        self.vault.ensure_ca(cluster).await?;
        self.known().insert(cluster.to_owned());
        Ok(())
    }
}

fn key_type(a: KeyAlgorithm) -> KeyType {
    match a {
        KeyAlgorithm::EcdsaP256 => KeyType::EcP256,
        KeyAlgorithm::EcdsaP384 => KeyType::EcP384,
        KeyAlgorithm::Rsa2048 => KeyType::Rsa2048,
        KeyAlgorithm::Rsa4096 => KeyType::Rsa4096,
    }
}

fn backend_error(e: VaultError) -> BackendError {
    match e {
        VaultError::Invalid(_) => BackendError::Invalid(e.to_string()),
        // Outages, refused tokens, unreadable answers: all may clear up.
        _ => BackendError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl Backend for VaultBackend {
    fn name(&self) -> &'static str {
        "vault"
    }

    async fn issue(
        &self,
        _cx: &Context<CertConfig>,
        scope: &Scope,
        cert: &CertRequest,
    ) -> Result<IssuedCert, BackendError> {
        let issue = IssueRequest {
            common_name: cert.common_name.clone(),
            alt_names: cert.alt_names.clone(),
            ip_sans: cert.ip_sans.clone(),
            organizations: cert.organizations.clone(),
            ttl: cert.ttl,
            key_type: key_type(cert.key_algorithm),
            allow_bare_domains: cert.allow_bare_domains,
        };
        let cluster = &scope.cluster_id;
        self.ensure_ca(cluster).await.map_err(backend_error)?;
        let issued = match self.vault.issue(cluster, &issue).await {
            // The mount went away (a Vault restored or restarted empty):
            // make the CA again, once.
            Err(VaultError::NotFound(_)) => {
                self.known().remove(cluster);
                self.ensure_ca(cluster).await.map_err(backend_error)?;
                self.vault.issue(cluster, &issue).await
            }
            other => other,
        }
        .map_err(backend_error)?;
        Ok(IssuedCert {
            ca_pem: issued.issuing_ca.clone(),
            cert_pem: issued.certificate.clone(),
            key_pem: Zeroizing::new(issued.private_key.clone()),
        })
    }

    async fn delete_cluster(
        &self,
        _cx: &Context<CertConfig>,
        scope: &Scope,
    ) -> Result<(), BackendError> {
        self.known().remove(&scope.cluster_id);
        self.vault
            .delete_cluster(&scope.cluster_id)
            .await
            .map_err(backend_error)
    }
}

/// How long one Vault request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
