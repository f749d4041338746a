//! The step that runs the guest cluster's VMs, and removes them.
//!
//! # Creation
//! 1. The namespace (the cluster ID; refused if it exists and is not this
//!    KVMConfig's), the ServiceAccount, per node its boot Secret (rewritten
//!    when a certificate is renewed: the VM keeps running) and, for a
//!    master with `storageType: PersistentVolume`, its etcd volume claim.
//! 2. The VM Deployments. A new node's is created at once. A node whose VM
//!    changed (size, Kubernetes version, image: the pod template hash in
//!    [`VM_HASH_ANNOTATION`](crate::VM_HASH_ANNOTATION)) is replaced one at
//!    a time, masters before workers, and only while every other VM is
//!    ready and its guest Node Ready: never more than one VM down, which
//!    is what the PodDisruptionBudgets allow. So a changed node whose own
//!    VM is down (crashed, or never up: too big for every host node, which
//!    the progress message says with the scheduler's reason) is replaced
//!    too, first, once every other is up (`next_replacement`); it is
//!    drained only through a guest that answers.
//! 3. A node no longer in the spec is removed (its Deployment, then its
//!    boot Secret and volume), one at a time, only while the others are
//!    ready, and only once its guest Node is drained ([`crate::guest_api`]);
//!    its guest Node is deleted once the VM is gone. Nodes are known by id,
//!    so removing a worker from the middle of the list removes that worker.
//! 4. The Services, the Ingresses and the PodDisruptionBudgets; the admin
//!    kubeconfig Secret ([`crate::kubeconfig`]).
//! 5. Status: one entry per node from its pod, `readyMasters` and
//!    `readyWorkers` counting the guest Nodes that are Ready, `Progressing`;
//!    Ready once every VM is up to date and ready and its guest Node is
//!    Ready. A guest API that does not answer is waited for up to
//!    `--guest-api-wait` after the master VMs became ready (no Node
//!    counts as joined meanwhile, nor while no master VM is ready); after
//!    that, readiness falls back to the
//!    VM pods' (`GuestAPIAvailable` says which), so that a guest out of
//!    kvm-operator's reach does not keep its cluster from Ready forever.
//!
//! Every object is applied only when it drifted
//! ([`operatorkit::crud::is_applied`]): a steady state writes nothing.
//!
//! # Deletion, backwards
//! 1. Delete every VM Deployment of the cluster; wait until their pods
//!    are gone (the VMs shut down within their grace period; pod events
//!    bring the KVMConfig back).
//! 2. Delete the Services, Ingresses, PodDisruptionBudgets, volume claims,
//!    boot Secrets, the ServiceAccount and the kubeconfig Secret, then the
//!    namespace; wait until the namespace is gone.
//! 3. Then the inputs' steps delete the IngressConfig, the FlannelConfig
//!    and the CertConfigs; cert-operator and flannel-operator hold their
//!    own finalizers until no pod of the cluster is left.
//!
//! Every stage is read back from the API server, never remembered: a crash
//! between two stages resumes at the first one not done.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use apiextensions::KVMConfig;
use apiextensions::OperatorStatus;
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL};
use apiextensions::provider::kvm_config::{KVMNodeStatus, NodeRole};
use apiextensions::status::READY;
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use operatorkit::crud::is_applied;
use operatorkit::kind::Kind;
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::guest::{Guest, Node};
use crate::guest_api::{Drain, Endpoint, GuestApi, NodeState, endpoint};
use crate::inputs::OWN_CERTIFICATE;
use crate::objects::{self, MASTER_SERVICE, Objects, SERVICE_ACCOUNT, applied_hash, belongs_to};
use crate::readiness::certificates;
use crate::settings::KvmArgs;
use crate::{NODE_LABEL, OPERATOR};
use apiextensions::certificates::{Certificates, Component};

/// Condition: VMs are being created, replaced or removed.
pub const PROGRESSING: &str = "Progressing";
/// Condition: whether kvm-operator reaches the guest cluster's own API.
pub const GUEST_API: &str = "GuestAPIAvailable";

/// Condition reasons.
pub mod reasons {
    /// Host objects of the cluster belong to another KVMConfig.
    pub const NOT_OURS: &str = "HostObjectsNotOwned";
    /// New VMs are starting.
    pub const CREATING: &str = "Creating";
    /// A changed VM is being replaced.
    pub const REPLACING: &str = "Replacing";
    /// A node no longer in the spec is being removed.
    pub const REMOVING: &str = "Removing";
    /// VMs are not all ready (a replacement waits for them).
    pub const VMS_NOT_READY: &str = "VMsNotReady";
    /// Every VM is up to date and ready.
    pub const COMPLETE: &str = "Complete";
    /// The deletion is removing the cluster.
    pub const DELETING: &str = "Deleting";
    /// A removed node's guest Node is being drained.
    pub const DRAINING: &str = "Draining";
    /// VMs are ready; their guest Nodes are not (yet).
    pub const JOINING: &str = "NodesJoining";
    /// The guest API answers (`GuestAPIAvailable`).
    pub const ANSWERING: &str = "Answering";
    /// No master VM is ready: no guest API to reach yet.
    pub const MASTERS_NOT_READY: &str = "MastersNotReady";
    /// The masters' Service does not say where the guest API answers yet.
    pub const ADDRESS_UNKNOWN: &str = "AddressUnknown";
    /// The guest API does not answer (Ready waits for it up to
    /// `--guest-api-wait`, then the status falls back to the VM pods).
    pub const UNREACHABLE: &str = "Unreachable";
}

/// How long a wait for VMs lasts at most (pod events usually end it).
const VM_RECHECK: Duration = Duration::from_secs(60);
/// How often a terminating namespace is looked at (no event for it).
const NAMESPACE_RECHECK: Duration = Duration::from_secs(2);
/// How often a drain or guest Nodes joining are looked at (the guest is
/// not watched).
const GUEST_RECHECK: Duration = Duration::from_secs(3);
/// How often an unreachable guest API is tried again.
const UNREACHABLE_RECHECK: Duration = Duration::from_secs(30);
/// How long a node waits for an unreachable guest API to be drained
/// before its VM goes undrained.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(300);

/// The guest API as one pass found it: a client, and its Nodes by name.
struct Reached {
    url: String,
    api: GuestApi,
    nodes: BTreeMap<String, NodeState>,
}

/// How the guest API answered one pass.
enum GuestView {
    /// It answers.
    Reached(Reached),
    /// It does not answer yet, and the master VMs became ready less than
    /// `--guest-api-wait` ago ([`masters_ready_since`]): readiness waits
    /// for it, as for a guest with no Node Ready yet, and so do VM
    /// replacements and removals.
    Awaited,
    /// No master VM is ready: the guest API cannot answer, so no guest
    /// Node counts as joined (as while it is awaited; counting the VM pods
    /// instead would count workers up, then down again once a master is
    /// ready and the guest is awaited).
    NoMaster,
    /// The guest has not answered for longer than `--guest-api-wait`
    /// after the master VMs became ready: readiness falls back to the VM
    /// pods.
    FallBack,
}

/// The guest Nodes of a guest whose API is awaited: none yet.
static NO_NODES: BTreeMap<String, NodeState> = BTreeMap::new();

impl GuestView {
    fn reached(&self) -> Option<&Reached> {
        match self {
            Self::Reached(r) => Some(r),
            Self::Awaited | Self::NoMaster | Self::FallBack => None,
        }
    }

    /// The guest Nodes readiness counts; `None`: the VM pods' readiness.
    fn nodes(&self) -> Option<&BTreeMap<String, NodeState>> {
        match self {
            Self::Reached(r) => Some(&r.nodes),
            Self::Awaited | Self::NoMaster => Some(&NO_NODES),
            Self::FallBack => None,
        }
    }
}

/// The step of the VMs.
pub struct Vms {
    flags: Arc<KvmArgs>,
}

/// Where one node's VM stands.
#[derive(Debug)]
struct VmState {
    /// Its Deployment exists with the current VM hash.
    current: bool,
    /// Its Deployment rolled out and its one pod is ready.
    ready: bool,
}

impl Vms {
    /// The step, under `flags`.
    pub fn new(flags: KvmArgs) -> Self {
        Self {
            flags: Arc::new(flags),
        }
    }
}

/// A host object that is not this KVMConfig's: refused, never touched.
fn not_ours(kind: &str, ns: &str, name: &str) -> StepError {
    StepError::permanent(format!(
        "{kind} {ns}/{name} exists and does not belong to this KVMConfig; not touching it"
    ))
    .reason(reasons::NOT_OURS)
}

/// An object that could not be rendered: a bug, not bad input.
fn render_error(e: serde_json::Error) -> StepError {
    StepError::permanent(format!("rendering a host object: {e}"))
}

/// Applies `desired` unless the current object already is it.
async fn ensure<C: Kind>(
    cx: &Context<KVMConfig>,
    owner: &str,
    desired: &C,
) -> Result<Arc<C>, StepError> {
    let ns = desired.namespace().unwrap_or_default();
    let name = desired.name_any();
    match cx.get::<C>(&ns, &name).await? {
        Some(c) if !belongs_to(c.meta(), owner) => Err(not_ours(&C::kind(&()), &ns, &name)),
        Some(c) if is_applied(c.as_ref(), desired, OPERATOR.as_str()) => Ok(c),
        _ => Ok(Arc::new(cx.apply(desired).await?)),
    }
}

/// The cached objects of kind `C` in `ns` that belong to `owner`.
fn cached<C: Kind>(cx: &Context<KVMConfig>, ns: &str, owner: &str) -> Vec<Arc<C>> {
    cx.cache::<C>()
        .map(|s| s.state())
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.namespace().as_deref() == Some(ns) && belongs_to(o.meta(), owner))
        .collect()
}

/// Whether a Deployment rolled out its current template and its pod is ready.
fn rolled_out(d: &Deployment) -> bool {
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas == Some(1)
        && s.ready_replicas == Some(1)
        && s.replicas == Some(1)
}

/// A pod's Ready condition.
fn pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Since when a pod is Ready (the Unix epoch if its condition does not
/// say); `None` while it is not.
fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions
        .iter()
        .find(|c| c.type_ == READY && c.status == "True")?;
    Some(
        ready
            .last_transition_time
            .as_ref()
            .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

/// Whether the guest API answered since `up_since` (the master VMs
/// ready), by the last pass's `GuestAPIAvailable`: True, or turned False
/// since then (its transition time moves only on a change of status, and
/// it was False until the guest first answered). A guest that answered is
/// not waited for again: a failed request falls back to the VM pods
/// rather than taking `Ready` back for up to `--guest-api-wait`.
fn answered_since(config: &KVMConfig, up_since: jiff::Timestamp) -> bool {
    guest_api_condition(config)
        .is_some_and(|c| c.status == "True" || c.last_transition_time.0 >= up_since)
}

/// The last pass's `GuestAPIAvailable`, if any.
fn guest_api_condition(config: &KVMConfig) -> Option<&Condition> {
    config.status.as_ref()?.condition(GUEST_API)
}

/// Why no node takes a VM pod: the scheduler's `PodScheduled=False`
/// message (`0/20 nodes are available: 20 Insufficient memory.`) of the
/// pod of node `id`, if any.
fn unschedulable<'p>(pods: &'p [Arc<Pod>], id: &str) -> Option<&'p str> {
    pods.iter()
        .filter(|p| p.labels().get(NODE_LABEL).map(String::as_str) == Some(id))
        .filter_map(|p| p.status.as_ref()?.conditions.as_ref())
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| c.message.as_deref().unwrap_or("not scheduled"))
}

/// The progress message while the VMs of `nodes` are not ready, each with
/// the scheduler's reason where no host node takes its pod: a VM too big
/// for every node says so rather than waiting in silence.
fn waiting_for(nodes: &[Node<'_>], pods: &[Arc<Pod>]) -> String {
    let vms: Vec<String> = nodes
        .iter()
        .map(|n| match unschedulable(pods, n.id) {
            Some(why) => format!("{} (unschedulable: {why})", n.name()),
            None => n.name(),
        })
        .collect();
    format!("waiting for VMs {} to be ready", vms.join(", "))
}

/// Since when the master VMs are ready: the earliest Ready transition of
/// the master pods that are Ready now (the Unix epoch for one that does not
/// say); `None` while none is ready. A guest that never answers is waited
/// for again once every master VM has restarted.
fn masters_ready_since(pods: &[Arc<Pod>]) -> Option<jiff::Timestamp> {
    pods.iter()
        .filter(|p| p.labels().get(COMPONENT_LABEL).map(String::as_str) == Some("master"))
        .filter_map(|p| ready_since(p))
        .min()
}

impl Vms {
    /// Step 1: namespace, ServiceAccount, boot Secrets, etcd claims.
    async fn ensure_base(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        objects: &Objects<'_>,
        certs: &Certificates,
    ) -> Result<(), StepError> {
        let owner = guest.owner();
        let ns = guest.namespace();
        let sa = cx.get::<ServiceAccount>(ns, SERVICE_ACCOUNT).await?;
        if !sa.as_ref().is_some_and(|s| belongs_to(s.meta(), &owner)) {
            self.ensure_namespace(cx, guest, objects).await?;
        }
        ensure(cx, &owner, &objects.service_account()).await?;
        for node in guest.nodes() {
            if let Some(secret) = objects.boot_secret(&node, certs) {
                ensure(cx, &owner, &secret).await?;
            }
            if let Some(claim) = objects.etcd_claim(&node) {
                ensure(cx, &owner, &claim).await?;
            }
        }
        Ok(())
    }

    async fn ensure_namespace(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        objects: &Objects<'_>,
    ) -> Result<(), StepError> {
        let api = Api::<Namespace>::all(cx.client());
        let name = guest.namespace();
        if let Some(ns) = api.get_opt(name).await? {
            if !belongs_to(&ns.metadata, &guest.owner()) {
                return Err(not_ours("Namespace", "", name));
            }
            if ns.metadata.deletion_timestamp.is_some() {
                return Err(StepError::transient(format!(
                    "namespace {name} is being deleted; it is made again once it is gone"
                )));
            }
            return Ok(());
        }
        let params = PatchParams::apply(OPERATOR.as_str()).force();
        api.patch(name, &params, &Patch::Apply(&objects.namespace()))
            .await?;
        Ok(())
    }

    /// Step 2 and 3: the VM Deployments, rolled one node at a time; the
    /// state of every node of the spec.
    async fn ensure_vms(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        objects: &Objects<'_>,
        view: &GuestView,
    ) -> Result<(Vec<VmState>, Option<(&'static str, String)>), StepError> {
        let owner = guest.owner();
        let ns = guest.namespace();
        let nodes = guest.nodes();
        let mut states = Vec::with_capacity(nodes.len());
        // Changed nodes: the index into `nodes` and the desired Deployment.
        let mut changed: Vec<(usize, Deployment)> = Vec::new();
        let mut created = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let desired = objects.deployment(node).map_err(render_error)?;
            let current = cx.get::<Deployment>(ns, &node.name()).await?;
            let current = match current {
                Some(c) if !belongs_to(c.meta(), &owner) => {
                    return Err(not_ours("Deployment", ns, &node.name()));
                }
                Some(c) if applied_hash(&c) != applied_hash(&desired) => {
                    changed.push((i, desired));
                    states.push(VmState {
                        current: false,
                        ready: rolled_out(&c),
                    });
                    continue;
                }
                Some(c) if is_applied(c.as_ref(), &desired, OPERATOR.as_str()) => c,
                Some(_) => Arc::new(cx.apply(&desired).await?),
                None => {
                    created.push(node.name());
                    Arc::new(cx.apply(&desired).await?)
                }
            };
            states.push(VmState {
                current: true,
                ready: rolled_out(&current),
            });
        }
        let removed = self.removed_nodes(cx, guest, &nodes);
        // Ready VMs whose guest Nodes are Ready too (where the guest
        // answers): the next VM is replaced only then (etcd quorum).
        let joined = |n: &Node<'_>| {
            view.nodes()
                .is_none_or(|nodes| nodes.get(&n.name()).is_some_and(|s| s.ready))
        };
        // While no master VM is ready the guest cannot say who joined: the
        // VMs alone say whether the others are up for the one master that
        // is down to be replaced.
        let settled_each: Vec<bool> = nodes
            .iter()
            .zip(&states)
            .map(|(n, s)| s.ready && (joined(n) || matches!(view, GuestView::NoMaster)))
            .collect();
        let settled = nodes.iter().zip(&states).all(|(n, s)| s.ready && joined(n));
        let removed_ready = removed.iter().all(|(_, ready)| *ready);
        let all_ready = settled && removed_ready;
        let changed_at: Vec<usize> = changed.iter().map(|(i, _)| *i).collect();
        let next = next_replacement(&settled_each, &changed_at, removed_ready);
        let progress = if !created.is_empty() {
            Some((
                reasons::CREATING,
                format!("creating VMs {}", created.join(", ")),
            ))
        } else if let Some(&(first, _)) = changed.first() {
            match next.and_then(|i| changed.iter().find(|(at, _)| *at == i)) {
                Some((i, desired)) => Some(
                    replace_vm(
                        cx,
                        view,
                        &nodes[*i],
                        desired,
                        states[*i].ready,
                        changed.len(),
                    )
                    .await?,
                ),
                None => Some(replacing(&nodes[first].name(), changed.len(), false, view)),
            }
        } else if let Some((name, _)) = removed.first() {
            let mut progress = (
                reasons::REMOVING,
                format!("removing {} (no longer in the spec)", name),
            );
            if all_ready || settled {
                match drained(cx, view.reached(), name).await? {
                    Drain::Done => self.remove_node(cx, guest, name).await?,
                    Drain::Waiting(why) => progress = (reasons::DRAINING, why),
                }
            }
            Some(progress)
        } else {
            None
        };
        Ok((states, progress))
    }

    /// Deployments of the cluster whose node is not in the spec, with
    /// whether their VM is ready.
    fn removed_nodes(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        nodes: &[Node<'_>],
    ) -> Vec<(String, bool)> {
        let wanted: BTreeSet<String> = nodes.iter().map(Node::name).collect();
        let mut removed: Vec<(String, bool)> =
            cached::<Deployment>(cx, guest.namespace(), &guest.owner())
                .iter()
                .filter(|d| {
                    d.metadata.deletion_timestamp.is_none() && !wanted.contains(&d.name_any())
                })
                .map(|d| (d.name_any(), rolled_out(d)))
                .collect();
        removed.sort();
        removed
    }

    /// A node's VM, boot Secret and etcd claim.
    async fn remove_node(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        name: &str,
    ) -> Result<(), StepError> {
        let ns = guest.namespace();
        tracing::info!(node = name, "removing a node no longer in the spec");
        if let Some(d) = cx.get::<Deployment>(ns, name).await? {
            cx.delete(d.as_ref()).await?;
        }
        if let Some(s) = cx.get::<Secret>(ns, name).await? {
            cx.delete(s.as_ref()).await?;
        }
        if let Some(c) = cx
            .get::<PersistentVolumeClaim>(ns, &format!("{name}-etcd"))
            .await?
        {
            cx.delete(c.as_ref()).await?;
        }
        Ok(())
    }

    /// Step 4: Services, Ingresses, PodDisruptionBudgets.
    async fn ensure_network(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        objects: &Objects<'_>,
    ) -> Result<(), StepError> {
        let owner = guest.owner();
        ensure(cx, &owner, &objects.master_service().map_err(render_error)?).await?;
        match objects.worker_service().map_err(render_error)? {
            Some(s) => {
                ensure(cx, &owner, &s).await?;
            }
            None => {
                if let Some(s) = cx
                    .get::<Service>(guest.namespace(), objects::WORKER_SERVICE)
                    .await?
                    && belongs_to(s.meta(), &owner)
                {
                    cx.delete(s.as_ref()).await?;
                }
            }
        }
        for ingress in objects.ingresses().map_err(render_error)? {
            ensure(cx, &owner, &ingress).await?;
        }
        for pdb in objects.disruption_budgets().map_err(render_error)? {
            ensure(cx, &owner, &pdb).await?;
        }
        Ok(())
    }

    /// Step 5: the status of every node from its pod and, where `joined`
    /// gives the guest's Nodes (it answers, or is awaited: none yet), its
    /// guest Node; the nodes whose VM is ready but whose guest Node is not
    /// (yet).
    fn report(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        states: &[VmState],
        joined: Option<&BTreeMap<String, NodeState>>,
    ) -> (i32, i32, Vec<String>) {
        let pods = cached::<Pod>(cx, guest.namespace(), &guest.owner());
        let mut entries = Vec::new();
        let mut joining = Vec::new();
        let (mut masters, mut workers) = (0, 0);
        for (node, state) in guest.nodes().iter().zip(states) {
            let pod = pods
                .iter()
                .filter(|p| p.labels().get(NODE_LABEL).map(String::as_str) == Some(node.id))
                .filter(|p| p.labels().get(CLUSTER_LABEL).map(String::as_str) == Some(guest.id))
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
            let vm_ready = state.current && pod.is_some_and(|p| pod_ready(p));
            let in_guest = joined.is_none_or(|n| n.get(&node.name()).is_some_and(|s| s.ready));
            if vm_ready && !in_guest {
                joining.push(node.name());
            }
            let ready = vm_ready && in_guest;
            if ready {
                match node.role {
                    NodeRole::Master => masters += 1,
                    NodeRole::Worker => workers += 1,
                }
            }
            entries.push(KVMNodeStatus {
                id: node.id.to_owned(),
                role: node.role,
                pod: pod.map(|p| p.name_any()),
                phase: pod.and_then(|p| p.status.as_ref()?.phase.clone()),
                ready,
            });
        }
        entries.extend(Self::removing(cx, guest, &pods));
        cx.status(move |s| {
            s.nodes = entries.clone();
            s.ready_masters = Some(masters);
            s.ready_workers = Some(workers);
        });
        (masters, workers, joining)
    }

    /// Entries of nodes no longer in the spec whose VM still exists:
    /// phase `Removing`, not ready.
    fn removing(
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        pods: &[Arc<Pod>],
    ) -> Vec<KVMNodeStatus> {
        let wanted: BTreeSet<&str> = guest.nodes().iter().map(|n| n.id).collect();
        let mut entries: Vec<KVMNodeStatus> =
            cached::<Deployment>(cx, guest.namespace(), &guest.owner())
                .iter()
                .filter_map(|d| {
                    let id = d.labels().get(NODE_LABEL)?;
                    let role = match d.labels().get(COMPONENT_LABEL).map(String::as_str) {
                        Some("master") => NodeRole::Master,
                        Some("worker") => NodeRole::Worker,
                        _ => return None,
                    };
                    if wanted.contains(id.as_str()) {
                        return None;
                    }
                    let pod = pods
                        .iter()
                        .find(|p| p.labels().get(NODE_LABEL) == Some(id))
                        .map(|p| p.name_any());
                    Some(KVMNodeStatus {
                        id: id.clone(),
                        role,
                        pod,
                        phase: Some("Removing".to_owned()),
                        ready: false,
                    })
                })
                .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    /// Reaches the guest API (once a master VM is ready) with kvm-operator's
    /// own certificate, reads its Nodes and deletes those of VMs that are
    /// gone; says how it went in `GuestAPIAvailable`. Where it does not
    /// answer, readiness waits for it up to `--guest-api-wait` after the
    /// master VMs became ready ([`masters_ready_since`]), then falls back to
    /// the VM pods.
    async fn reach(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        certs: &Certificates,
        endpoint: Option<&Endpoint>,
    ) -> GuestView {
        let said = |ok: bool, reason: &str, message: String| {
            cx.set_condition(condition(GUEST_API).is(ok).because(reason).message(message));
        };
        let pods = cached::<Pod>(cx, guest.namespace(), &guest.owner());
        let Some(up_since) = masters_ready_since(&pods) else {
            said(
                false,
                reasons::MASTERS_NOT_READY,
                "no master VM is ready yet".into(),
            );
            return GuestView::NoMaster;
        };
        let (reason, why) = match self.answer(guest, certs, endpoint).await {
            Ok(reached) => {
                let ready = reached.nodes.values().filter(|n| n.ready).count();
                let message = format!(
                    "the guest API at {} answers: {} nodes, {ready} Ready",
                    reached.url,
                    reached.nodes.len()
                );
                said(true, reasons::ANSWERING, message);
                self.forget_gone(cx, guest, &reached).await;
                return GuestView::Reached(reached);
            }
            Err(unanswered) => unanswered,
        };
        let waited = jiff::Timestamp::now().duration_since(up_since);
        let wait = self.flags.guest_api_wait;
        let waiting =
            waited < jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::MAX);
        if waiting && !answered_since(cx.object(), up_since) {
            // No running count in the message: it would be a status write
            // on every pass of the wait.
            let message = format!(
                "{why}; Ready waits for it up to {}s after the master VMs became ready",
                wait.as_secs()
            );
            said(false, reason, message);
            GuestView::Awaited
        } else {
            said(
                false,
                reason,
                format!("{why}; readiness falls back to the VM pods"),
            );
            GuestView::FallBack
        }
    }

    /// The guest API's Nodes, or why it did not answer: a condition reason
    /// and message.
    async fn answer(
        &self,
        guest: &Guest<'_>,
        certs: &Certificates,
        endpoint: Option<&Endpoint>,
    ) -> Result<Reached, (&'static str, String)> {
        let Some(url) = endpoint.map(|e| e.operator.clone()) else {
            let annotation = self.flags.guest_api_address_annotation.as_deref();
            let message = format!(
                "Service {}/{MASTER_SERVICE} has no {} annotation yet",
                guest.namespace(),
                annotation.unwrap_or_default()
            );
            return Err((reasons::ADDRESS_UNKNOWN, message));
        };
        let Some(own) = certs.get(&OWN_CERTIFICATE) else {
            let message = "kvm-operator's own certificate is missing".to_owned();
            return Err((reasons::UNREACHABLE, message));
        };
        let listed = match GuestApi::new(guest, &url, own).await {
            Ok(api) => api
                .nodes()
                .await
                .map(|nodes| Reached {
                    url: url.clone(),
                    api,
                    nodes,
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        listed.map_err(|e| {
            tracing::info!(cluster = guest.id, %url, error = %e, "the guest API does not answer");
            let message = format!("the guest API at {url} does not answer ({e})");
            (reasons::UNREACHABLE, message)
        })
    }

    /// Deletes the guest Nodes of VMs that are gone: not in the spec and
    /// without a VM Deployment. A failure is logged and tried next pass.
    async fn forget_gone(&self, cx: &Context<KVMConfig>, guest: &Guest<'_>, reached: &Reached) {
        let wanted: BTreeSet<String> = guest.nodes().iter().map(Node::name).collect();
        let deployed: BTreeSet<String> =
            cached::<Deployment>(cx, guest.namespace(), &guest.owner())
                .iter()
                .map(|d| d.name_any())
                .collect();
        // A VM pod still terminating keeps its Node (its kubelet may still
        // report); only Nodes named as VMs are ever deleted.
        let running: BTreeSet<String> = cached::<Pod>(cx, guest.namespace(), &guest.owner())
            .iter()
            .filter_map(|p| {
                let role = p.labels().get(COMPONENT_LABEL)?;
                Some(format!("{role}-{}", p.labels().get(NODE_LABEL)?))
            })
            .collect();
        let vm_named = |n: &str| n.starts_with("master-") || n.starts_with("worker-");
        for name in reached.nodes.keys() {
            if wanted.contains(name)
                || deployed.contains(name)
                || running.contains(name)
                || !vm_named(name)
            {
                continue;
            }
            if let Err(e) = reached.api.forget(name).await {
                tracing::warn!(cluster = guest.id, node = %name, error = %e, "deleting a gone VM's guest node failed");
            }
        }
    }

    /// Where the guest API answers: `None` while the masters' Service does
    /// not say (`--guest-api-address-annotation`). Read once per pass, for
    /// kvm-operator's client and the kubeconfig Secret.
    async fn endpoint(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
    ) -> Result<Option<Endpoint>, StepError> {
        let annotation = self.flags.guest_api_address_annotation.as_deref();
        let service = cx.get::<Service>(guest.namespace(), MASTER_SERVICE).await?;
        Ok(endpoint(guest, annotation, service.as_deref()))
    }

    /// The admin kubeconfig Secret, once the guest API's address is known.
    async fn ensure_kubeconfig(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
        certs: &Certificates,
        endpoint: Option<&Endpoint>,
    ) -> Result<(), StepError> {
        let (Some(endpoint), Some(admin)) = (endpoint, certs.get(&Component::Admin)) else {
            return Ok(());
        };
        let secret = crate::kubeconfig::secret(guest, &endpoint.public, admin)
            .map_err(|e| StepError::permanent(format!("rendering the kubeconfig: {e}")))?;
        ensure(cx, &guest.owner(), &secret).await?;
        Ok(())
    }

    /// Deletion stage 1: the VMs. `None` once no VM pod is left.
    async fn remove_vms(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
    ) -> Result<Option<Outcome>, StepError> {
        let owner = guest.owner();
        let ns = guest.namespace();
        let deployments = cached::<Deployment>(cx, ns, &owner);
        for d in deployments
            .iter()
            .filter(|d| d.metadata.deletion_timestamp.is_none())
        {
            cx.delete(d.as_ref()).await?;
        }
        let pods = cached::<Pod>(cx, ns, &owner);
        let live = deployments.len().max(pods.len());
        if live == 0 {
            return Ok(None);
        }
        cx.not_ready(
            reasons::DELETING,
            format!(
                "{} VM Deployments and {} VM pods are shutting down",
                deployments.len(),
                pods.len()
            ),
        );
        Ok(Some(Outcome::Wait(VM_RECHECK)))
    }

    /// Deletion stage 2: everything else, then the namespace. `None` once
    /// the namespace is gone (or was never this KVMConfig's).
    async fn remove_rest(
        &self,
        cx: &Context<KVMConfig>,
        guest: &Guest<'_>,
    ) -> Result<Option<Outcome>, StepError> {
        let owner = guest.owner();
        let ns = guest.namespace();
        delete_all::<Service>(cx, ns, &owner).await?;
        delete_all::<Ingress>(cx, ns, &owner).await?;
        delete_all::<PodDisruptionBudget>(cx, ns, &owner).await?;
        delete_all::<PersistentVolumeClaim>(cx, ns, &owner).await?;
        delete_all::<Secret>(cx, ns, &owner).await?;
        delete_all::<ServiceAccount>(cx, ns, &owner).await?;
        let kubeconfig = apiextensions::certificates::kubeconfig_secret_name(guest.id);
        if let Some(s) = cx.get::<Secret>(&cx.namespace(), &kubeconfig).await?
            && belongs_to(s.meta(), &owner)
            && s.meta().deletion_timestamp.is_none()
        {
            cx.delete(s.as_ref()).await?;
        }
        let api = Api::<Namespace>::all(cx.client());
        let namespace = match api.get_opt(ns).await? {
            Some(n) if belongs_to(&n.metadata, &owner) => n,
            _ => return Ok(None),
        };
        if namespace.metadata.deletion_timestamp.is_none() {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: namespace.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            match api.delete(ns, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(namespace = ns, "VMs gone; deleting the cluster's namespace");
        }
        cx.not_ready(
            reasons::DELETING,
            format!("namespace {ns} is being deleted"),
        );
        Ok(Some(Outcome::Wait(NAMESPACE_RECHECK)))
    }
}

/// Replaces the VM of changed `node` with `desired`, once its guest
/// Node is drained (`up`: its VM is ready; a VM that is down and a
/// guest that does not answer leave nothing to drain); the progress.
async fn replace_vm(
    cx: &Context<KVMConfig>,
    view: &GuestView,
    node: &Node<'_>,
    desired: &Deployment,
    up: bool,
    count: usize,
) -> Result<(&'static str, String), StepError> {
    let name = node.name();
    if (up || view.reached().is_some())
        && let Drain::Waiting(why) = drained(cx, view.reached(), &name).await?
    {
        return Ok((reasons::DRAINING, why));
    }
    cx.apply(desired).await?;
    tracing::info!(node = name, up, "replacing the VM of a changed node");
    Ok(match up {
        true => replacing(&name, count, true, view),
        false => replacing_down(&name, count),
    })
}

/// Whether node `name` is drained in the guest. Where the guest does not
/// answer, it waits (a passing failure must not let a VM go undrained)
/// until the guest has not answered for [`UNREACHABLE_GRACE`], then
/// proceeds undrained (a dead guest never blocks the cluster's changes).
async fn drained(
    cx: &Context<KVMConfig>,
    reached: Option<&Reached>,
    name: &str,
) -> Result<Drain, StepError> {
    if let Some(r) = reached {
        return Ok(r.api.drain(name).await?);
    }
    let down_since = match guest_api_condition(cx.object()) {
        Some(c) if c.status == "True" => None,
        Some(c) => Some(c.last_transition_time.0),
        None => Some(jiff::Timestamp::UNIX_EPOCH),
    };
    let grace = jiff::SignedDuration::try_from(UNREACHABLE_GRACE).unwrap_or_default();
    match down_since {
        Some(t) if jiff::Timestamp::now().duration_since(t) >= grace => {
            tracing::warn!(
                node = name,
                "the guest API has not answered for long: going on undrained"
            );
            Ok(Drain::Done)
        }
        _ => Ok(Drain::Waiting(format!(
            "the guest API does not answer: {name} is drained once it does, or goes undrained after {}s without it",
            UNREACHABLE_GRACE.as_secs()
        ))),
    }
}

/// Uncordons the guest Nodes kvm-operator drained whose VM is current and
/// Ready again (a replaced VM).
async fn uncordon_replaced(
    reached: &Reached,
    guest: &Guest<'_>,
    states: &[VmState],
) -> Result<(), StepError> {
    for (node, state) in guest.nodes().iter().zip(states) {
        let name = node.name();
        let back = reached
            .nodes
            .get(&name)
            .is_some_and(|n| n.drained && n.ready);
        if back && state.current && state.ready {
            reached.api.uncordon(&name).await?;
        }
    }
    Ok(())
}

/// Deletes the cached objects of kind `C` in `ns` that belong to `owner`.
async fn delete_all<C: Kind>(
    cx: &Context<KVMConfig>,
    ns: &str,
    owner: &str,
) -> Result<(), StepError> {
    for object in cached::<C>(cx, ns, owner) {
        if object.meta().deletion_timestamp.is_none() {
            cx.delete(object.as_ref()).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl Step<KVMConfig> for Vms {
    fn name(&self) -> &str {
        "vms"
    }

    async fn ensure_created(&self, cx: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let guest = Guest::new(config);
        let objects = Objects::new(&guest, &self.flags);
        // The inputs step let this run: every certificate is there.
        let certs = match certificates(cx).await? {
            Ok(c) => c,
            Err(missing) => {
                return Err(StepError::transient(format!(
                    "certificate Secrets {} vanished",
                    missing.join(", ")
                )));
            }
        };
        self.ensure_base(cx, &guest, &objects, &certs).await?;
        let endpoint = self.endpoint(cx, &guest).await?;
        let view = self.reach(cx, &guest, &certs, endpoint.as_ref()).await;
        let (states, progress) = self.ensure_vms(cx, &guest, &objects, &view).await?;
        self.ensure_network(cx, &guest, &objects).await?;
        self.ensure_kubeconfig(cx, &guest, &certs, endpoint.as_ref())
            .await?;
        let (masters, workers, joining) = self.report(cx, &guest, &states, view.nodes());
        if let Some(r) = view.reached() {
            uncordon_replaced(r, &guest, &states).await?;
        }
        let all_ready = states.iter().all(|s| s.current && s.ready);
        let progress = match progress {
            None if all_ready && !joining.is_empty() => {
                let awaited = match view {
                    GuestView::Awaited => "the guest API to answer and ",
                    GuestView::Reached(_) | GuestView::NoMaster | GuestView::FallBack => "",
                };
                let nodes = joining.join(", ");
                let message =
                    format!("VMs ready; waiting for {awaited}guest nodes {nodes} to be Ready");
                Some((reasons::JOINING, message))
            }
            progress => progress,
        };
        match progress {
            None if all_ready => {
                cx.set_condition(
                    condition(PROGRESSING)
                        .is(false)
                        .because(reasons::COMPLETE)
                        .message(format!(
                            "{masters} masters and {workers} workers up to date and ready"
                        )),
                );
                let recheck = match view {
                    GuestView::FallBack if masters > 0 => {
                        UNREACHABLE_RECHECK.min(self.flags.recheck)
                    }
                    _ => self.flags.recheck,
                };
                Ok(Outcome::RecheckAfter(recheck))
            }
            progress => {
                let (reason, message) = progress.unwrap_or_else(|| {
                    let pods = cached::<Pod>(cx, guest.namespace(), &guest.owner());
                    let waiting: Vec<Node<'_>> = guest
                        .nodes()
                        .into_iter()
                        .zip(&states)
                        .filter(|(_, s)| !s.ready)
                        .map(|(n, _)| n)
                        .collect();
                    (reasons::VMS_NOT_READY, waiting_for(&waiting, &pods))
                });
                cx.set_condition(
                    condition(PROGRESSING)
                        .is(true)
                        .because(reason)
                        .message(message.clone()),
                );
                cx.not_ready(reason, message);
                // A change held while the guest is awaited goes on once the
                // wait ends, which no event announces.
                let guest_paced = [reasons::DRAINING, reasons::JOINING].contains(&reason)
                    || matches!(view, GuestView::Awaited);
                Ok(Outcome::Wait(if guest_paced {
                    GUEST_RECHECK
                } else {
                    VM_RECHECK
                }))
            }
        }
    }

    async fn ensure_deleted(&self, cx: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        let guest = Guest::new(cx.object());
        if let Some(outcome) = self.remove_vms(cx, &guest).await? {
            return Ok(outcome);
        }
        if let Some(outcome) = self.remove_rest(cx, &guest).await? {
            return Ok(outcome);
        }
        Ok(Outcome::Done)
    }
}

/// The `Replacing` progress of `count` changed nodes, `node` next: being
/// replaced once `started`, else what the replacement waits for.
fn replacing(node: &str, count: usize, started: bool, view: &GuestView) -> (&'static str, String) {
    let changed = nodes_changed(count);
    let message = if started {
        format!("replacing the VM of {node} ({changed}; one at a time, masters first)")
    } else {
        let awaited = match view {
            GuestView::Awaited => "the guest API to answer",
            GuestView::NoMaster | GuestView::Reached(_) => {
                "every other VM and its guest Node to be ready"
            }
            GuestView::FallBack => "every other VM to be ready",
        };
        format!("{changed}; waiting for {awaited} before replacing {node}")
    };
    (reasons::REPLACING, message)
}

/// Which changed node's VM is replaced now (an index into the nodes, as
/// `settled` and `changed` are): the first of `changed` whose replacement
/// leaves every other node settled (VM ready, guest Node Ready) and the
/// VMs being removed ready, so never more than one VM is down. With every
/// node settled that is the first changed node (masters first); with one
/// not, only it can be, even if its VM is down (crashed, or never up: too
/// big for every host node), since replacing it takes no other down.
fn next_replacement(settled: &[bool], changed: &[usize], removed_ready: bool) -> Option<usize> {
    let others_settled = |i: usize| {
        settled
            .iter()
            .enumerate()
            .all(|(j, settled)| *settled || j == i)
    };
    changed
        .iter()
        .copied()
        .find(|&i| removed_ready && others_settled(i))
}

/// `1 node changed`, `2 nodes changed`.
fn nodes_changed(count: usize) -> String {
    match count {
        1 => "1 node changed".to_owned(),
        n => format!("{n} nodes changed"),
    }
}

/// The `Replacing` progress of `count` changed nodes, `node` next, whose
/// VM is down.
fn replacing_down(node: &str, count: usize) -> (&'static str, String) {
    let changed = nodes_changed(count);
    let message = format!("replacing the VM of {node}, which is down ({changed})");
    (reasons::REPLACING, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_replacement_says_what_it_waits_for() {
        let (reason, started) = replacing("master-m1", 2, true, &GuestView::FallBack);
        assert_eq!(reason, reasons::REPLACING);
        assert_eq!(
            started,
            "replacing the VM of master-m1 (2 nodes changed; one at a time, masters first)"
        );
        let held = |view| replacing("worker-w1", 1, false, &view).1;
        assert_eq!(
            held(GuestView::Awaited),
            "1 node changed; waiting for the guest API to answer before replacing worker-w1"
        );
        assert_eq!(
            held(GuestView::FallBack),
            "1 node changed; waiting for every other VM to be ready before replacing worker-w1"
        );
        assert_eq!(
            replacing_down("worker-w1", 2).1,
            "replacing the VM of worker-w1, which is down (2 nodes changed)"
        );
        assert_eq!(
            held(GuestView::NoMaster),
            "1 node changed; waiting for every other VM and its guest Node to be ready before replacing worker-w1"
        );
    }

    /// A VM pod of node `id` with a `PodScheduled` condition.
    fn pod(id: &str, scheduled: &str, message: Option<&str>) -> Arc<Pod> {
        let mut pod = Pod::default();
        pod.metadata.labels = Some([(NODE_LABEL.to_owned(), id.to_owned())].into());
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: scheduled.into(),
                message: message.map(Into::into),
                ..Default::default()
            }]),
            ..Default::default()
        });
        Arc::new(pod)
    }

    #[test]
    fn one_vm_down_at_most() {
        // Everything settled: the first changed node, masters first.
        assert_eq!(
            next_replacement(&[true, true, true], &[0, 2], true),
            Some(0)
        );
        // A changed node that is down (or not joined) is the one.
        assert_eq!(
            next_replacement(&[true, true, false], &[0, 2], true),
            Some(2)
        );
        // A node down that is not changed holds every replacement, and two
        // down hold both (a master replaced while another fails its probe).
        assert_eq!(next_replacement(&[true, false, true], &[0, 2], true), None);
        assert_eq!(next_replacement(&[false, false, true], &[0, 1], true), None);
        // So does a VM being removed that is not ready.
        assert_eq!(next_replacement(&[true, true, false], &[2], false), None);
        assert_eq!(next_replacement(&[true, true], &[], true), None);
    }

    #[test]
    fn a_vm_no_node_takes_says_why() {
        let config = crate::guest::tests::example();
        let nodes = Guest::new(&config).nodes();
        let full = "0/20 nodes are available: 20 Insufficient memory.";
        let pods = [
            pod("m1", "True", None),
            pod("w1", "False", Some(full)),
            pod("w2", "False", None),
        ];
        assert_eq!(
            waiting_for(&nodes, &pods),
            "waiting for VMs master-m1, worker-w1 (unschedulable: 0/20 nodes are available: \
             20 Insufficient memory.), worker-w2 (unschedulable: not scheduled) to be ready"
        );
        assert_eq!(
            waiting_for(&nodes[..1], &[]),
            "waiting for VMs master-m1 to be ready"
        );
    }

    /// A KVMConfig whose `GuestAPIAvailable` is `status` since second `at`.
    fn with_guest_api(status: &str, at: i64) -> KVMConfig {
        let mut config = crate::guest::tests::example();
        let condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: GUEST_API.into(),
            status: status.into(),
            reason: "Any".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::from_second(at).unwrap(),
            ),
        };
        config.status.get_or_insert_default().conditions = vec![condition];
        config
    }

    #[test]
    fn a_guest_that_answered_since_the_masters_were_ready_is_not_awaited_again() {
        let up = jiff::Timestamp::from_second(200).unwrap();
        // Never answered: False since before the masters were ready.
        assert!(!answered_since(&with_guest_api("False", 100), up));
        assert!(!answered_since(&crate::guest::tests::example(), up));
        // Answers, or answered and then failed after the masters were ready.
        assert!(answered_since(&with_guest_api("True", 100), up));
        assert!(answered_since(&with_guest_api("True", 300), up));
        assert!(answered_since(&with_guest_api("False", 300), up));
    }
}
