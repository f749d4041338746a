//! The one step of ingress-operator: an IngressConfig's entries in the
//! ingress controller's services ConfigMaps and its ports on the
//! controller's Service, applied under the guest cluster's own field
//! manager ([`crate::nginx`]), written only when they differ from what the
//! cluster applied before ([`crate::plan`]).
//!
//! - A port someone else holds is not taken: `Ready=False`/`PortsMapped=
//!   False`, reason `PortConflict` naming the holder, one Warning Event;
//!   the other ports are served and listed in `status.mappedPorts`. A
//!   change of the holder's entries brings the IngressConfig back
//!   ([`crate::claims`]).
//! - A ConfigMap or Service that does not exist: `IngressControllerNotFound`,
//!   nothing written (an apply would create it), back when it appears.
//! - A ConfigMap that would exceed its size limit: `IngressControllerFull`,
//!   nothing written.
//! - Two writers racing for one port: the API server refuses the second
//!   apply (409, the entry's value differs); the loop reads again and
//!   reports the conflict.
//! - Deletion applies an empty configuration: the API server removes exactly
//!   the entries and ports this cluster owns. Absent objects are skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apiextensions::IngressConfig;
use apiextensions::core::ingress_config::{IngressController, ProtocolPort};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use operatorkit::status::READY;
use operatorkit::{Context, OperatorStatus, Outcome, Step, StepError, condition};
use serde_json::{Value, json};

use crate::claims::{Claim, Claims};
use crate::nginx::{self, Mapping};
use crate::plan::{Host, Plan, plan};

/// The condition saying which ports are mapped.
pub const PORTS_MAPPED: &str = "PortsMapped";

/// Reasons of `Ready` and `PortsMapped`.
pub mod reasons {
    /// Every port is mapped.
    pub const MAPPED: &str = "Mapped";
    /// A port is held by another cluster or by an entry nobody manages.
    pub const PORT_CONFLICT: &str = "PortConflict";
    /// The ConfigMap or the Service does not exist.
    pub const NOT_FOUND: &str = "IngressControllerNotFound";
    /// A ConfigMap would exceed the API server's size limit.
    pub const FULL: &str = "IngressControllerFull";
    /// Another IngressConfig maps the same guest cluster.
    pub const DUPLICATE: &str = "DuplicateCluster";
    /// The spec names an ingress controller this operator does not serve.
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// How long a waiting IngressConfig (conflict, missing or full host object,
/// duplicate) waits at most before looking again. Changes of the host
/// objects bring it back sooner ([`Claims`]); this is the safety net.
pub const RECHECK: Duration = Duration::from_secs(60);

/// How many times one loop re-reads and re-plans after the API server
/// refused an apply (another writer got there first).
const ATTEMPTS: usize = 4;

/// The ports step.
pub struct Ports {
    namespace: String,
    claims: Claims,
}

/// Why an apply did not happen.
enum Refused {
    /// Another writer holds a field now (409) or the object went (403 on a
    /// create): read again.
    Stale,
    /// The object would exceed the API server's size limit.
    TooLarge(String),
    /// Anything else.
    Failed(kube::Error),
}

impl Ports {
    /// The step, for ingress controllers in `namespace`, recording claims in
    /// `claims`.
    pub fn new(namespace: impl Into<String>, claims: Claims) -> Self {
        Self {
            namespace: namespace.into(),
            claims,
        }
    }

    /// Refuses a spec naming a namespace this operator does not watch.
    fn check_namespace(&self, controller: &IngressController) -> Result<(), StepError> {
        if controller.namespace == self.namespace {
            return Ok(());
        }
        Err(StepError::permanent(format!(
            "spec.hostCluster.ingressController.namespace is {:?}, but this operator serves the ingress controller in {:?} (its --controller-namespace)",
            controller.namespace, self.namespace
        ))
        .reason(reasons::INVALID_SPEC))
    }

    /// The IngressConfig that maps the same guest cluster and came first,
    /// if any: both would write under one field manager.
    fn duplicate_of(cx: &Context<IngressConfig>) -> Option<Arc<IngressConfig>> {
        let me = cx.object();
        let rank = |c: &IngressConfig| {
            (
                c.metadata.creation_timestamp.clone().map(|t| t.0),
                c.namespace(),
                c.name_any(),
            )
        };
        cx.cache::<IngressConfig>()?
            .state()
            .into_iter()
            .filter(|c| c.uid() != me.uid() && c.metadata.deletion_timestamp.is_none())
            .filter(|c| c.spec.guest_cluster.id == me.spec.guest_cluster.id)
            .filter(|c| rank(c) < rank(me))
            .min_by_key(|c| rank(c))
    }

    /// The host objects of `controller`, from the caches (seeing this
    /// operator's writes) or, after a refused apply, from the API server.
    async fn read(
        &self,
        cx: &Context<IngressConfig>,
        controller: &IngressController,
        manager: &str,
        live: bool,
    ) -> Result<Host, kube::Error> {
        let ns = &controller.namespace;
        let mut host = Host::default();
        for protocol in [
            apiextensions::core::ingress_config::Protocol::Tcp,
            apiextensions::core::ingress_config::Protocol::Udp,
        ] {
            let name = nginx::config_map(controller, protocol);
            let cm = read_one::<ConfigMap>(cx, ns, &name, live).await?;
            host.config_maps.insert(name, cm);
        }
        let service = read_one::<Service>(cx, ns, &controller.service, live).await?;
        host.service = (controller.service.clone(), service);
        host.stale_config_maps = stale::<ConfigMap>(cx, ns, |cm| {
            !host.config_maps.contains_key(&cm.name_any())
                && !nginx::applied_keys(managed(cm), manager).is_empty()
        });
        host.stale_services = stale::<Service>(cx, ns, |s| {
            s.name_any() != controller.service
                && !nginx::applied_ports(managed(s), manager).is_empty()
        });
        Ok(host)
    }

    /// Reads, plans and writes until the plan holds (or is refused for good).
    async fn converge(
        &self,
        cx: &Context<IngressConfig>,
        wanted: &[Mapping],
    ) -> Result<Plan, StepError> {
        let spec = &cx.object().spec;
        let controller = &spec.host_cluster.ingress_controller;
        let manager = nginx::field_manager(&spec.guest_cluster.id);
        let mut live = false;
        for _ in 0..ATTEMPTS {
            let host = self.read(cx, controller, &manager, live).await?;
            let mut planned = plan(controller, &host, wanted, &manager);
            if !planned.missing.is_empty() || planned.full.is_some() {
                return Ok(planned);
            }
            match write(cx, &controller.namespace, &manager, &planned).await {
                Ok(()) => return Ok(planned),
                Err(Refused::Stale) => live = true,
                Err(Refused::TooLarge(name)) => {
                    planned.full = Some(name);
                    return Ok(planned);
                }
                Err(Refused::Failed(e)) => return Err(e.into()),
            }
        }
        Err(StepError::transient(format!(
            "the ingress controller's objects kept changing under {ATTEMPTS} attempts to apply"
        )))
    }

    fn claim(&self, cx: &Context<IngressConfig>, wanted: &[Mapping]) {
        let spec = &cx.object().spec;
        let controller = &spec.host_cluster.ingress_controller;
        let mut config_maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for m in wanted {
            config_maps
                .entry(nginx::config_map(controller, m.protocol))
                .or_default()
                .insert(m.key(), m.target.clone());
        }
        let claim = Claim {
            namespace: controller.namespace.clone(),
            manager: nginx::field_manager(&spec.guest_cluster.id),
            config_maps,
            service: controller.service.clone(),
            ports: wanted
                .iter()
                .map(|m| ((m.lb_port, m.protocol), m.port_name()))
                .collect(),
        };
        self.claims.claim(ObjectRef::from_obj(cx.object()), claim);
    }
}

/// `namespace/name` of kind `C`: through the context's read-your-writes, or
/// live (remembered for the next reads).
async fn read_one<C: operatorkit::Kind>(
    cx: &Context<IngressConfig>,
    namespace: &str,
    name: &str,
    live: bool,
) -> Result<Option<Arc<C>>, kube::Error> {
    if !live {
        return cx.get::<C>(namespace, name).await;
    }
    let object = cx.api_in::<C>(namespace).get_opt(name).await?;
    if let Some(o) = &object {
        cx.record_write(o);
    }
    Ok(object.map(Arc::new))
}

/// The cached objects of `namespace` that `keep` selects.
fn stale<C: operatorkit::Kind>(
    cx: &Context<IngressConfig>,
    namespace: &str,
    keep: impl Fn(&C) -> bool,
) -> Vec<Arc<C>> {
    cx.cache::<C>()
        .map(|store| {
            store
                .state()
                .into_iter()
                .filter(|o| o.namespace().as_deref() == Some(namespace) && keep(o))
                .collect()
        })
        .unwrap_or_default()
}

fn managed<C: kube::Resource>(
    o: &C,
) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry] {
    o.meta().managed_fields.as_deref().unwrap_or(&[])
}

/// The applies of `planned`: ConfigMaps first (their entries are what
/// decides a race: two clusters' values differ), then Services.
async fn write(
    cx: &Context<IngressConfig>,
    namespace: &str,
    manager: &str,
    planned: &Plan,
) -> Result<(), Refused> {
    for (name, entries) in &planned.config_maps {
        let mut body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": name, "namespace": namespace}});
        if !entries.is_empty() {
            body["data"] = json!(entries);
        }
        apply::<ConfigMap>(cx, namespace, name, manager, &body).await?;
    }
    for (name, ports) in &planned.services {
        let mut body = json!({"apiVersion": "v1", "kind": "Service",
                              "metadata": {"name": name, "namespace": namespace}});
        if !ports.is_empty() {
            let ports: Vec<Value> = ports.iter().map(Mapping::service_port).collect();
            body["spec"] = json!({ "ports": ports });
        }
        apply::<Service>(cx, namespace, name, manager, &body).await?;
    }
    Ok(())
}

/// One server-side apply as `manager`, never forced: what another manager
/// holds with another value is refused by the API server.
async fn apply<C: operatorkit::Kind>(
    cx: &Context<IngressConfig>,
    namespace: &str,
    name: &str,
    manager: &str,
    body: &Value,
) -> Result<(), Refused> {
    let result = cx
        .api_in::<C>(namespace)
        .patch(name, &PatchParams::apply(manager), &Patch::Apply(body))
        .await;
    match result {
        Ok(written) => {
            tracing::debug!(
                kind = C::kind(&()).as_ref(),
                object = name,
                manager,
                "applied"
            );
            cx.record_write(&written);
            Ok(())
        }
        Err(e) => {
            tracing::info!(kind = C::kind(&()).as_ref(), object = name, manager, error = %e, "apply refused; reading again");
            Err(refusal(e, name))
        }
    }
}

fn refusal(e: kube::Error, name: &str) -> Refused {
    let kube::Error::Api(status) = &e else {
        return Refused::Failed(e);
    };
    let too_large = status.message.contains("must have at most")
        || status.message.contains("request is too large")
        || status.code == 413;
    match status.code {
        409 => Refused::Stale,
        // An apply that would create the object: it went since it was read.
        403 if status.message.ends_with("is forbidden: ") => Refused::Stale,
        _ if too_large => Refused::TooLarge(name.to_owned()),
        _ => Refused::Failed(e),
    }
}

/// `31000/TCP`.
fn port_text(m: &Mapping) -> String {
    format!("{}/{}", m.lb_port, nginx::protocol_upper(m.protocol))
}

fn list(ports: &[Mapping]) -> String {
    if ports.is_empty() {
        return "none".to_owned();
    }
    ports.iter().map(port_text).collect::<Vec<_>>().join(", ")
}

/// Says in the status and, on a change, in one Warning Event why the
/// IngressConfig is not Ready.
async fn not_ready(cx: &Context<IngressConfig>, reason: &str, message: String) {
    let previous = cx
        .object()
        .status
        .as_ref()
        .and_then(|s| s.condition(PORTS_MAPPED))
        .map(|c| (c.reason.clone(), c.message.clone()));
    if previous != Some((reason.to_owned(), message.clone())) {
        cx.event(EventType::Warning, reason, message.clone()).await;
    }
    cx.set_condition(
        condition(PORTS_MAPPED)
            .is(false)
            .because(reason)
            .message(message.clone()),
    );
    cx.not_ready(reason, message);
}

/// The status of a plan carried out: mapped ports, conditions.
async fn report(cx: &Context<IngressConfig>, planned: &Plan) -> Outcome {
    let spec = &cx.object().spec;
    let controller = &spec.host_cluster.ingress_controller;
    let mapped: Vec<ProtocolPort> = spec
        .protocol_ports
        .iter()
        .filter(|p| {
            planned
                .served
                .iter()
                .any(|m| m.lb_port == p.lb_port && m.protocol == p.protocol)
        })
        .cloned()
        .collect();
    cx.status(move |s| s.mapped_ports = mapped.clone());
    if !planned.conflicts.is_empty() {
        let held: Vec<String> = planned
            .conflicts
            .iter()
            .map(|(m, owner)| format!("{} is held by {owner}", port_text(m)))
            .collect();
        let message = format!("{}; mapped: {}", held.join("; "), list(&planned.served));
        not_ready(cx, reasons::PORT_CONFLICT, message).await;
        return Outcome::RecheckAfter(RECHECK);
    }
    let message = format!(
        "{} on Service {}/{}",
        list(&planned.served),
        controller.namespace,
        controller.service
    );
    cx.set_condition(
        condition(PORTS_MAPPED)
            .is(true)
            .because(reasons::MAPPED)
            .message(message.clone()),
    );
    cx.set_condition(
        condition(READY)
            .is(true)
            .because(reasons::MAPPED)
            .message(message),
    );
    Outcome::Done
}

#[async_trait]
impl Step<IngressConfig> for Ports {
    fn name(&self) -> &str {
        "ports"
    }

    async fn ensure_created(&self, cx: &Context<IngressConfig>) -> Result<Outcome, StepError> {
        let spec = &cx.object().spec;
        self.check_namespace(&spec.host_cluster.ingress_controller)?;
        let wanted = nginx::mappings(spec);
        // Claimed first, so a change of the host objects during this loop
        // brings it back.
        self.claim(cx, &wanted);
        if let Some(first) = Self::duplicate_of(cx) {
            let message = format!(
                "guest cluster {} is mapped by IngressConfig {}/{} already",
                spec.guest_cluster.id,
                first.namespace().unwrap_or_default(),
                first.name_any()
            );
            not_ready(cx, reasons::DUPLICATE, message).await;
            return Ok(Outcome::Wait(RECHECK));
        }
        let planned = self.converge(cx, &wanted).await?;
        if !planned.missing.is_empty() {
            let message = format!("{} not found", planned.missing.join(" and "));
            not_ready(cx, reasons::NOT_FOUND, message).await;
            return Ok(Outcome::Wait(RECHECK));
        }
        if let Some(name) = &planned.full {
            let message = format!(
                "{}/{name} cannot take {} more: it would exceed the API server's size limit; nothing was written",
                spec.host_cluster.ingress_controller.namespace,
                list(&wanted)
            );
            not_ready(cx, reasons::FULL, message).await;
            return Ok(Outcome::Wait(RECHECK));
        }
        Ok(report(cx, &planned).await)
    }

    async fn ensure_deleted(&self, cx: &Context<IngressConfig>) -> Result<Outcome, StepError> {
        let spec = &cx.object().spec;
        let me = ObjectRef::from_obj(cx.object());
        // Never wrote anything: another namespace, or the second
        // IngressConfig of a cluster (whose manager is the first one's).
        if spec.host_cluster.ingress_controller.namespace != self.namespace
            || Self::duplicate_of(cx).is_some()
        {
            self.claims.release(&me);
            return Ok(Outcome::Done);
        }
        let planned = self.converge(cx, &[]).await?;
        if let Some(name) = planned.full {
            return Err(StepError::transient(format!(
                "withdrawing the entries of {name} was refused as too large"
            )));
        }
        self.claims.release(&me);
        Ok(Outcome::Done)
    }
}
