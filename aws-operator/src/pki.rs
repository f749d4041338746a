//! The cluster's certificates: the CertConfigs aws-operator asks
//! cert-operator for (one per component of [`Component::GUEST`], kept by
//! operatorkit's `children` step: owned by the AWSConfig, applied when they
//! drift, deleted in the step's place backwards: after everything in AWS,
//! before the account is forgotten), and the step that waits until every
//! one is issued.
//!
//! Condition `CertificatesReady`: True once every Secret holds `ca.crt`,
//! `tls.crt` and `tls.key`; False with `WaitingForCertificates` naming the
//! Secrets still missing. The wait does not block: the watch of the
//! cluster's Secrets brings the AWSConfig back when cert-operator writes
//! one ([`ClusterIndex`] maps a Secret to its AWSConfig).

use std::time::Duration;

use apiextensions::certificates::{self, ClusterIndex, Component, issued};
use apiextensions::{AWSConfig, CertConfig};
use async_trait::async_trait;
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::stack::reasons::INVALID_SPEC;

/// Condition: every certificate of the cluster is issued.
pub const CERTIFICATES_READY: &str = "CertificatesReady";

/// Condition reasons.
pub mod reasons {
    /// Every certificate is issued.
    pub const ISSUED: &str = "Issued";
    /// A certificate Secret is missing or incomplete.
    pub const WAITING: &str = "WaitingForCertificates";
}

/// How long a wait for certificates lasts at most (the Secret watch
/// usually ends it).
const CERTIFICATES_RECHECK: Duration = Duration::from_secs(300);

/// The CertConfigs of the AWSConfig, for cert-operator `cert_operator`.
pub fn cert_configs(config: &AWSConfig, cert_operator: &str) -> Result<Vec<CertConfig>, StepError> {
    Component::GUEST
        .into_iter()
        .map(|c| certificates::cert_config(&config.spec.cluster, c, &[], cert_operator))
        .collect::<Result<_, _>>()
        .map_err(|m| StepError::permanent(m).reason(INVALID_SPEC))
}

/// The step that waits for the certificates.
pub struct Issued {
    index: ClusterIndex<AWSConfig>,
}

impl Issued {
    /// The step, recording each AWSConfig's cluster in `index`.
    pub fn new(index: ClusterIndex<AWSConfig>) -> Self {
        Self { index }
    }
}

#[async_trait]
impl Step<AWSConfig> for Issued {
    fn name(&self) -> &str {
        "certificates-issued"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let cluster = &config.spec.cluster.id;
        self.index.record(config, cluster);
        match issued(cx, cluster, &Component::GUEST).await? {
            Ok(_) => {
                cx.set_condition(
                    condition(CERTIFICATES_READY)
                        .is(true)
                        .because(reasons::ISSUED)
                        .message(format!("{} certificates issued", Component::GUEST.len())),
                );
                Ok(Outcome::Done)
            }
            Err(missing) => {
                let message = format!(
                    "waiting for cert-operator to issue Secrets {}",
                    missing.join(", ")
                );
                cx.set_condition(
                    condition(CERTIFICATES_READY)
                        .is(false)
                        .because(reasons::WAITING)
                        .message(message.clone()),
                );
                cx.not_ready(reasons::WAITING, message);
                Ok(Outcome::Wait(CERTIFICATES_RECHECK))
            }
        }
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        self.index.forget(config, &config.spec.cluster.id);
        Ok(Outcome::Done)
    }
}
