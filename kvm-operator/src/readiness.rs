//! The step that waits for the inputs: every certificate Secret issued
//! (`ca.crt`, `tls.crt`, `tls.key`), the FlannelConfig and the
//! IngressConfig Ready for their current spec. Each has its condition
//! (`CertificatesReady`, `NetworkReady`, `IngressReady`) naming what is
//! missing, with the other operator's own reason and message when it
//! refused (a VNI or port held by another cluster). Until all are served no
//! VM is made; the loop waits without blocking, brought back by the watches
//! of Secrets and of the owned FlannelConfig and IngressConfig.

use std::time::Duration;

use apiextensions::certificates::{Certificates, ClusterIndex, issued};
use apiextensions::status::READY;
use apiextensions::{FlannelConfig, IngressConfig, KVMConfig, OperatorStatus};
use async_trait::async_trait;
use kube::ResourceExt;
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::guest::Guest;
use crate::inputs::COMPONENTS;

/// Condition: every certificate Secret is issued.
pub const CERTIFICATES_READY: &str = "CertificatesReady";
/// Condition: the FlannelConfig is Ready.
pub const NETWORK_READY: &str = "NetworkReady";
/// Condition: the IngressConfig is Ready (or there are no port mappings).
pub const INGRESS_READY: &str = "IngressReady";

/// Condition reasons.
pub mod reasons {
    /// Everything asked for is served.
    pub const SERVED: &str = "Served";
    /// Something asked for is not served yet.
    pub const WAITING: &str = "WaitingForInputs";
    /// The cluster maps no ports: nothing to ask for.
    pub const NO_PORT_MAPPINGS: &str = "NoPortMappings";
}

/// How long a wait for inputs lasts at most (the watches usually end it).
const INPUTS_RECHECK: Duration = Duration::from_secs(300);

/// The step of the inputs.
pub struct Readiness {
    index: ClusterIndex<KVMConfig>,
}

impl Readiness {
    /// The step, recording each KVMConfig's cluster in `index`.
    pub fn new(index: ClusterIndex<KVMConfig>) -> Self {
        Self { index }
    }
}

/// The issued certificates of the cluster, or the names of the Secrets
/// missing (or incomplete).
pub async fn certificates(
    cx: &Context<KVMConfig>,
) -> Result<Result<Certificates, Vec<String>>, StepError> {
    let cluster = &cx.object().spec.cluster.id;
    Ok(issued(cx, cluster, &COMPONENTS).await?)
}

/// `(served, reason, message)` of an input object by its Ready condition.
fn served<K: kube::Resource<DynamicType = ()>>(
    kind: &str,
    object: Option<&K>,
    status: impl Fn(&K) -> Option<(bool, String, String)>,
) -> (bool, String, String) {
    let Some(object) = object else {
        return (
            false,
            reasons::WAITING.to_owned(),
            format!("{kind} not created yet"),
        );
    };
    let name = format!(
        "{kind} {}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    );
    match status(object) {
        Some((true, _, _)) => (true, reasons::SERVED.to_owned(), format!("{name} is Ready")),
        Some((false, reason, message)) => (false, reason, format!("{name}: {message}")),
        None => (
            false,
            reasons::WAITING.to_owned(),
            format!("{name} is not served yet"),
        ),
    }
}

/// The Ready condition of an input for its current generation.
fn ready_of<S: OperatorStatus>(
    generation: Option<i64>,
    status: Option<&S>,
) -> Option<(bool, String, String)> {
    let status = status?;
    if generation.is_some() && status.observed_generation() < generation {
        return None;
    }
    let c = status.condition(READY)?;
    Some((c.status == "True", c.reason.clone(), c.message.clone()))
}

#[async_trait]
impl Step<KVMConfig> for Readiness {
    fn name(&self) -> &str {
        "inputs"
    }

    async fn ensure_created(&self, cx: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let guest = Guest::new(config);
        let ns = cx.namespace();
        self.index.record(config, guest.id);
        let mut waiting = Vec::new();

        let certs = match certificates(cx).await? {
            Ok(_) => (
                true,
                reasons::SERVED.to_owned(),
                format!("{} certificates issued", COMPONENTS.len()),
            ),
            Err(missing) => (
                false,
                reasons::WAITING.to_owned(),
                format!(
                    "waiting for cert-operator to issue Secrets {}",
                    missing.join(", ")
                ),
            ),
        };
        let network = cx.get::<FlannelConfig>(&ns, guest.id).await?;
        let network = served("FlannelConfig", network.as_deref(), |f| {
            ready_of(f.metadata.generation, f.status.as_ref())
        });
        let ingress = if config.spec.port_mappings.is_empty() {
            (
                true,
                reasons::NO_PORT_MAPPINGS.to_owned(),
                "the cluster maps no ports".to_owned(),
            )
        } else {
            let ingress = cx.get::<IngressConfig>(&ns, guest.id).await?;
            served("IngressConfig", ingress.as_deref(), |i| {
                ready_of(i.metadata.generation, i.status.as_ref())
            })
        };
        for (type_, (ok, reason, message)) in [
            (CERTIFICATES_READY, certs),
            (NETWORK_READY, network),
            (INGRESS_READY, ingress),
        ] {
            if !ok {
                waiting.push(message.clone());
            }
            cx.set_condition(condition(type_).is(ok).because(reason).message(message));
        }
        if waiting.is_empty() {
            return Ok(Outcome::Done);
        }
        cx.not_ready(reasons::WAITING, waiting.join("; "));
        Ok(Outcome::Wait(INPUTS_RECHECK))
    }

    async fn ensure_deleted(&self, cx: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        self.index.forget(config, &config.spec.cluster.id);
        Ok(Outcome::Done)
    }
}
