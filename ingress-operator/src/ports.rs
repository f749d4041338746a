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
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use operatorkit::status::READY;
use operatorkit::{Context, Outcome, Step, StepError, condition};
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
    /// The spec names an ingress controller this operator does not serve,
    /// or ports ingress-nginx keeps for itself.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// (Event) The API server refused the withdrawal on deletion.
    pub const WITHDRAWAL_FORBIDDEN: &str = "WithdrawalForbidden";
}

/// How long a waiting IngressConfig (conflict, missing or full host object,
/// duplicate) waits at most before looking again. Changes of the host
/// objects bring it back sooner ([`Claims`]); this is the safety net.
pub const RECHECK: Duration = Duration::from_secs(60);

/// How long a refused duplicate waits at most before looking again: the
/// first IngressConfig's deletion may be seen only by another version of
/// the operator, so nothing else brings it back.
pub const DUPLICATE_RECHECK: Duration = Duration::from_secs(10);

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
    /// Another writer holds a field now (409), or the object went since it
    /// was read (a 403 for the create an apply of a missing object is):
    /// read again.
    Stale,
    /// The object would exceed the API server's size limit.
    TooLarge(String),
    /// Anything else.
    Failed(kube::Error),
}

/// Why a loop's reads and writes failed (transient: retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// A request to the API server failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// Other writers got there first on every attempt.
    #[error("the ingress controller's objects kept changing under {ATTEMPTS} attempts to apply")]
    Unsettled,
}

/// How a loop's reads, plan and writes ended.
enum Converged {
    /// The plan, carried out (or refused as a whole: missing, full).
    Planned(Plan),
    /// Another IngressConfig maps this cluster and came first: nothing was
    /// written.
    Duplicate(Box<IngressConfig>),
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

    /// Refuses what the schema lets through but cannot be served: a
    /// namespace this operator does not watch, ports ingress-nginx keeps.
    fn check_spec(&self, spec: &apiextensions::IngressConfigSpec) -> Result<(), StepError> {
        let controller = &spec.host_cluster.ingress_controller;
        if controller.namespace != self.namespace {
            return Err(StepError::permanent(format!(
                "spec.hostCluster.ingressController.namespace is {:?}, but this operator serves the ingress controller in {:?} (its --controller-namespace)",
                controller.namespace, self.namespace
            ))
            .reason(reasons::INVALID_SPEC));
        }
        let reserved: Vec<String> = spec
            .protocol_ports
            .iter()
            .filter(|p| nginx::RESERVED_PORTS.contains(&p.lb_port))
            .map(|p| p.lb_port.to_string())
            .collect();
        if !reserved.is_empty() {
            return Err(StepError::permanent(format!(
                "lbPort {} is reserved by ingress-nginx for itself (its http, https, ssl-proxy, health, default backend, profiler, status and stream ports: {:?}); it would ignore the mapping",
                reserved.join(", "),
                nginx::RESERVED_PORTS
            ))
            .reason(reasons::INVALID_SPEC));
        }
        Ok(())
    }

    /// The spec's ingress controller, in the namespace this operator serves
    /// (where anything it wrote is, whatever the spec says now).
    fn served(&self, spec: &apiextensions::IngressConfigSpec) -> IngressController {
        IngressController {
            namespace: self.namespace.clone(),
            ..spec.host_cluster.ingress_controller.clone()
        }
    }

    /// The other live IngressConfigs of this guest cluster for this
    /// operator's ingress controller, of every version (a live list by the
    /// CRD's selectable field `spec.guestCluster.id`: the cache holds this
    /// version's only).
    async fn others_of_cluster(
        &self,
        cx: &Context<IngressConfig>,
    ) -> Result<Vec<IngressConfig>, kube::Error> {
        let me = cx.object();
        let params = ListParams::default().fields(&format!(
            "spec.guestCluster.id={}",
            me.spec.guest_cluster.id
        ));
        let all: Api<IngressConfig> = Api::all(cx.client());
        Ok(all
            .list(&params)
            .await?
            .items
            .into_iter()
            .filter(|c| c.uid() != me.uid() && c.metadata.deletion_timestamp.is_none())
            .filter(|c| c.spec.host_cluster.ingress_controller.namespace == self.namespace)
            .collect())
    }

    /// The IngressConfig of this cluster that came first, if it is not this
    /// one: both would write under one field manager.
    async fn first_of_cluster(
        &self,
        cx: &Context<IngressConfig>,
    ) -> Result<Option<IngressConfig>, kube::Error> {
        let rank = |c: &IngressConfig| {
            (
                c.metadata.creation_timestamp.clone().map(|t| t.0),
                c.namespace(),
                c.name_any(),
            )
        };
        let me = rank(cx.object());
        Ok(self
            .others_of_cluster(cx)
            .await?
            .into_iter()
            .filter(|c| rank(c) < me)
            .min_by_key(|c| rank(c)))
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
                && !nginx::applied_keys(nginx::managed(cm), manager).is_empty()
        });
        host.stale_services = stale::<Service>(cx, ns, |s| {
            s.name_any() != controller.service
                && !nginx::applied_ports(nginx::managed(s), manager).is_empty()
        });
        Ok(host)
    }

    /// Reads, plans and writes until the plan holds (or is refused for
    /// good). Before the first write of an IngressConfig, and before any
    /// write that changes what the cluster has, `guard` checks that it is
    /// the cluster's first IngressConfig.
    async fn converge(
        &self,
        cx: &Context<IngressConfig>,
        controller: &IngressController,
        wanted: &[Mapping],
        guard: bool,
    ) -> Result<Converged, ConvergeError> {
        let manager = nginx::field_manager(&cx.object().spec.guest_cluster.id);
        // A withdrawal reads the objects live: a cache that does not show a
        // write another replica made a moment ago would leave it behind.
        let mut live = wanted.is_empty();
        let mut checked = !guard;
        for _ in 0..ATTEMPTS {
            let host = self.read(cx, controller, &manager, live).await?;
            let mut planned = plan(controller, &host, wanted, &manager);
            let first_loop = cx.object().status.is_none();
            if !checked && (first_loop || !planned.is_quiet()) {
                checked = true;
                if let Some(first) = self.first_of_cluster(cx).await? {
                    return Ok(Converged::Duplicate(Box::new(first)));
                }
            }
            if planned.full.is_some() {
                return Ok(Converged::Planned(planned));
            }
            match write(cx, &controller.namespace, &manager, &planned).await {
                Ok(()) => return Ok(Converged::Planned(planned)),
                Err(Refused::Stale) => live = true,
                Err(Refused::TooLarge(name)) => {
                    planned.full = Some(name);
                    return Ok(Converged::Planned(planned));
                }
                Err(Refused::Failed(e)) => return Err(e.into()),
            }
        }
        Err(ConvergeError::Unsettled)
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

/// The applies of `planned`: ConfigMaps first (their entries are what
/// decides a race: two clusters' values differ), then Services. When one is
/// refused as too large, the ones before it are put back as they were:
/// nothing partial.
async fn write(
    cx: &Context<IngressConfig>,
    namespace: &str,
    manager: &str,
    planned: &Plan,
) -> Result<(), Refused> {
    let cms = planned.config_maps.iter().map(|a| {
        (
            Target::ConfigMap,
            a.name.as_str(),
            cm_body(namespace, &a.name, &a.set),
            cm_body(namespace, &a.name, &a.before),
        )
    });
    let services = planned.services.iter().map(|a| {
        (
            Target::Service,
            a.name.as_str(),
            service_body(namespace, &a.name, &a.set),
            service_body(namespace, &a.name, &a.before),
        )
    });
    let mut done: Vec<(Target, &str, Value)> = Vec::new();
    for (target, name, body, before) in cms.chain(services) {
        let applied = match target {
            Target::ConfigMap => apply::<ConfigMap>(cx, namespace, name, manager, &body).await,
            Target::Service => apply::<Service>(cx, namespace, name, manager, &body).await,
        };
        match applied {
            Ok(()) => done.push((target, name, before)),
            Err(Refused::TooLarge(n)) => {
                put_back(cx, namespace, manager, &done).await;
                return Err(Refused::TooLarge(n));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The kinds of host objects.
#[derive(Clone, Copy)]
enum Target {
    ConfigMap,
    Service,
}

/// Puts back what this loop applied before an apply was refused. A failure
/// here is logged: the next loop's plan repairs it.
async fn put_back(
    cx: &Context<IngressConfig>,
    namespace: &str,
    manager: &str,
    done: &[(Target, &str, Value)],
) {
    for (target, name, before) in done {
        let restored = match target {
            Target::ConfigMap => apply::<ConfigMap>(cx, namespace, name, manager, before).await,
            Target::Service => apply::<Service>(cx, namespace, name, manager, before).await,
        };
        if restored.is_err() {
            tracing::warn!(
                object = name,
                "could not put back what an apply refused as too large left; the next loop will"
            );
        }
    }
}

/// A ConfigMap apply carrying `entries` (none: withdraw them all).
fn cm_body(namespace: &str, name: &str, entries: &BTreeMap<String, String>) -> Value {
    let mut body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name, "namespace": namespace}});
    if !entries.is_empty() {
        body["data"] = json!(entries);
    }
    body
}

/// A Service apply carrying `ports` (none: withdraw them all).
fn service_body(namespace: &str, name: &str, ports: &[Value]) -> Value {
    let mut body = json!({"apiVersion": "v1", "kind": "Service",
                          "metadata": {"name": name, "namespace": namespace}});
    if !ports.is_empty() {
        body["spec"] = json!({ "ports": ports });
    }
    body
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
    let api = cx.api_in::<C>(namespace);
    match api
        .patch(name, &PatchParams::apply(manager), &Patch::Apply(body))
        .await
    {
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
            tracing::info!(kind = C::kind(&()).as_ref(), object = name, manager, error = %e, "apply refused");
            // A 403 may be the create an apply of a vanished object is:
            // gone, read again; otherwise the refusal stands.
            if is_code(&e, 403) && matches!(api.get_opt(name).await, Ok(None)) {
                return Err(Refused::Stale);
            }
            Err(refusal(e, name))
        }
    }
}

/// Whether `e` is the API server's answer with HTTP status `code`.
pub(crate) fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn refusal(e: kube::Error, name: &str) -> Refused {
    let kube::Error::Api(status) = &e else {
        return Refused::Failed(e);
    };
    let too_long = status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "FieldValueTooLong"));
    match status.code {
        409 => Refused::Stale,
        413 => Refused::TooLarge(name.to_owned()),
        422 if too_long => Refused::TooLarge(name.to_owned()),
        500 if status.message.contains("request is too large") => {
            Refused::TooLarge(name.to_owned())
        }
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
    cx.not_ready_with_event(PORTS_MAPPED, reason, message).await;
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
        if let Err(refused) = self.check_spec(spec) {
            // Whatever it mapped before (the namespace changed, a reserved
            // port was added) stays as it was only where it still may: an
            // IngressConfig that moved away withdraws from here.
            if spec.host_cluster.ingress_controller.namespace != self.namespace {
                self.withdraw(cx).await?;
            }
            return Err(refused);
        }
        let wanted = nginx::mappings(spec);
        // Claimed first, so a change of the host objects during this loop
        // brings it back.
        self.claim(cx, &wanted);
        let controller = &spec.host_cluster.ingress_controller;
        let planned = match self.converge(cx, controller, &wanted, true).await? {
            Converged::Planned(p) => p,
            Converged::Duplicate(first) => {
                let message = format!(
                    "guest cluster {} is mapped by IngressConfig {}/{} already; nothing was written",
                    spec.guest_cluster.id,
                    first.namespace().unwrap_or_default(),
                    first.name_any()
                );
                not_ready(cx, reasons::DUPLICATE, message).await;
                return Ok(Outcome::Wait(DUPLICATE_RECHECK));
            }
        };
        if let Some(name) = &planned.full {
            let message = format!(
                "{}/{name} cannot take {} more: it would exceed the API server's size limit; nothing was written",
                controller.namespace,
                list(&wanted)
            );
            not_ready(cx, reasons::FULL, message).await;
            return Ok(Outcome::Wait(RECHECK));
        }
        if !planned.is_quiet() && self.gone_meanwhile(cx).await? {
            return Ok(Outcome::Done);
        }
        if !planned.missing.is_empty() {
            let message = format!(
                "{} not found; mapped: {}",
                planned.missing.join(" and "),
                list(&planned.served)
            );
            not_ready(cx, reasons::NOT_FOUND, message).await;
            return Ok(Outcome::Wait(RECHECK));
        }
        Ok(report(cx, &planned).await)
    }

    async fn ensure_deleted(&self, cx: &Context<IngressConfig>) -> Result<Outcome, StepError> {
        // Another IngressConfig of the cluster lives on (a duplicate, or
        // the one taking over): what is there under the cluster's manager
        // is its now.
        if !self.others_of_cluster(cx).await?.is_empty() {
            self.claims.release(&ObjectRef::from_obj(cx.object()));
            return Ok(Outcome::Done);
        }
        self.withdraw(cx).await?;
        self.claims.release(&ObjectRef::from_obj(cx.object()));
        Ok(Outcome::Done)
    }
}

impl Ports {
    /// After this loop wrote: whether the IngressConfig was deleted
    /// meanwhile (another replica's loop may have withdrawn its entries
    /// before this one's writes landed); then what was written is withdrawn
    /// again, unless another IngressConfig of the cluster took over.
    async fn gone_meanwhile(&self, cx: &Context<IngressConfig>) -> Result<bool, StepError> {
        let me = cx.object();
        let live = cx
            .api_in::<IngressConfig>(&cx.namespace())
            .get_opt(&cx.name())
            .await?;
        let alive =
            live.is_some_and(|c| c.uid() == me.uid() && c.metadata.deletion_timestamp.is_none());
        if alive {
            return Ok(false);
        }
        tracing::info!("deleted while this loop wrote; withdrawing again");
        if self.others_of_cluster(cx).await?.is_empty() {
            self.withdraw(cx).await?;
        }
        Ok(true)
    }

    /// Withdraws every entry and port of this cluster from the namespace
    /// this operator serves. An object already gone is skipped; when the
    /// API server refuses even to read them (ingress-nginx uninstalled with
    /// the Role that let the operator in), the withdrawal is given up with
    /// a Warning Event rather than keeping the IngressConfig forever.
    async fn withdraw(&self, cx: &Context<IngressConfig>) -> Result<(), StepError> {
        let controller = self.served(&cx.object().spec);
        match self.converge(cx, &controller, &[], false).await {
            Ok(Converged::Planned(p)) if p.full.is_some() => Err(StepError::transient(format!(
                "withdrawing from {} was refused as too large",
                p.full.unwrap_or_default()
            ))),
            Ok(_) => Ok(()),
            Err(ConvergeError::Api(e)) if is_code(&e, 403) => {
                let note = format!(
                    "could not withdraw guest cluster {}'s entries and ports in {}: {e}; they stay until removed by hand",
                    cx.object().spec.guest_cluster.id,
                    self.namespace
                );
                tracing::warn!(%note);
                cx.event(EventType::Warning, reasons::WITHDRAWAL_FORBIDDEN, note)
                    .await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
