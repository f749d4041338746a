//! Where certificates come from: one trait, two backends — the built-in CA
//! (default, nothing to run) and Vault PKI ([`vault`]).

pub mod builtin;
pub mod vault;

use async_trait::async_trait;
use operatorkit::Context;

use apiextensions::CertConfig;

use crate::pki::{CertRequest, IssuedCert};

/// Why a backend could not issue or clean up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be reached or refused for now; retry later.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The request cannot be issued as asked; retrying will not help until
    /// the spec changes.
    #[error("the backend refused the request: {0}")]
    Invalid(String),
}

/// Where a certificate is issued: the cluster and the namespace its
/// Secrets live in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Namespace of the cluster's Secrets.
    pub namespace: String,
    /// Guest cluster ID.
    pub cluster_id: String,
}

/// A source of certificates.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `builtin` or `vault`: the `backend` label of the metrics.
    fn name(&self) -> &'static str;

    /// Issues a certificate of `scope`'s cluster, creating the cluster's CA
    /// the first time.
    async fn issue(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
        cert: &CertRequest,
    ) -> Result<IssuedCert, BackendError>;

    /// Removes what the backend keeps for the cluster (its CA), once the
    /// cluster's last CertConfig is gone.
    async fn delete_cluster(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
    ) -> Result<(), BackendError>;
}
