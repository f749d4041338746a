//! The step: a FlannelConfig's network in etcd and on the host nodes, and
//! its removal in order.
//!
//! # Creation
//! 1. The spec is checked ([`Network::from_spec`]); bad input is
//!    `InvalidSpec`, not retried until the spec changes.
//! 2. One etcd read ([`claims::snapshot`]) finds the claims and the config.
//!    Claims not all held: [`claims::claim`] takes them in one transaction,
//!    or finds who holds them: `NetworkConflict` naming the other cluster,
//!    one Warning Event, nothing written, looked at again every
//!    `--recheck`.
//! 3. The config is written only when it is missing or says something
//!    else, by compare-and-swap on its mod revision and the claims; a
//!    value changed by hand is put back (Warning Event `NetworkConfigRestored`).
//! 4. The namespace, the ServiceAccount and the flanneld DaemonSet are
//!    applied only when they drifted ([`operatorkit::crud::is_applied`]).
//! 5. `DaemonSetReady` follows the DaemonSet's status; the object is Ready
//!    when flanneld is ready on every node it is scheduled to. The etcd
//!    config is looked at again every `--recheck`.
//!
//! # Deletion, in order
//! 1. While a pod of the guest cluster exists outside the cluster's flannel
//!    namespace: nothing is touched, `WaitingForGuestPods` says so, and the
//!    pods' events bring the object back ([`PodWaiters`]).
//! 2. If the namespace is this FlannelConfig's: delete the flanneld
//!    DaemonSet and wait for its pods to go; apply the cleanup DaemonSet on
//!    the same nodes and wait until it is Ready everywhere (bridge and VXLAN
//!    device gone); delete the namespace and wait until it is gone.
//! 3. In one etcd transaction: the config, the subnet leases and the
//!    claims ([`claims::release`]). Then operatorkit releases the finalizer.
//!
//! Every stage is read back from the API server and etcd, never remembered:
//! a crash between two stages resumes at the first one not done. The
//! namespace is deleted only after the cleanup finished, so a namespace
//! gone (or never made) means there is nothing left on the nodes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use operatorkit::crud::is_applied;
use operatorkit::{Context, Outcome, Step, StepError, condition};

use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL};
use apiextensions::waiting::PodWaiters;
use apiextensions::{FlannelConfig, OperatorStatus};

use crate::OPERATOR;
use crate::claims::{self, ClaimKeys, Claimed, Conflict, Holder};
use crate::etcd::{Etcd, EtcdError};
use crate::hosts::{self, CLEANUP, FLANNELD, Hosts, SERVICE_ACCOUNT, belongs_to, owner_of};
use crate::network::{Network, config_key, namespace_name, same_config, subnets_prefix};
use crate::settings::FlannelArgs;

/// Condition: the network config is in etcd and the claims are held.
pub const NETWORK_CONFIGURED: &str = "NetworkConfigured";
/// Condition: flanneld is ready on every node it is scheduled to.
pub const DAEMONSET_READY: &str = "DaemonSetReady";
/// Condition (on deletion): pods of the guest cluster still exist.
pub const WAITING_FOR_GUEST_PODS: &str = "WaitingForGuestPods";

/// Condition reasons.
pub mod reasons {
    /// The spec cannot be served.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Another FlannelConfig holds the VNI, an overlapping network or the bridge.
    pub const NETWORK_CONFLICT: &str = "NetworkConflict";
    /// etcd did not answer (or refused).
    pub const ETCD_UNAVAILABLE: &str = "EtcdUnavailable";
    /// The config is in etcd.
    pub const CONFIGURED: &str = "Configured";
    /// flanneld is ready on every node.
    pub const PODS_READY: &str = "PodsReady";
    /// flanneld is not (yet) ready on every node.
    pub const PODS_NOT_READY: &str = "PodsNotReady";
    /// No host node matches: the network runs nowhere.
    pub const NO_NODES: &str = "NoNodes";
    /// The config in etcd was changed or removed by hand and was put back.
    pub const CONFIG_RESTORED: &str = "NetworkConfigRestored";
    /// Guest pods still exist (deletion waits).
    pub const GUEST_PODS_EXIST: &str = "GuestPodsExist";
    /// No guest pod is left.
    pub const NO_GUEST_PODS: &str = "NoGuestPods";
    /// The deletion is removing the network from the hosts.
    pub const CLEANING_UP: &str = "CleaningUp";
    /// The host objects belong to another FlannelConfig.
    pub const NOT_OURS: &str = "HostObjectsNotOwned";
}

/// How long a waiting stage waits at most (events usually come first).
const STAGE_RECHECK: Duration = Duration::from_secs(30);
/// How often a terminating namespace is looked at (no event for it).
const NAMESPACE_RECHECK: Duration = Duration::from_secs(2);
/// How often the config write reads again after losing a race.
const ATTEMPTS: usize = 5;

/// The step of flannel-operator.
pub struct Overlay {
    flags: Arc<FlannelArgs>,
    etcd: Etcd,
    keys: ClaimKeys,
    waiters: PodWaiters<FlannelConfig>,
}

impl Overlay {
    /// The step, talking to `etcd`.
    pub fn new(flags: FlannelArgs, etcd: Etcd) -> Self {
        Self {
            keys: ClaimKeys::new(&flags.claims_prefix),
            flags: Arc::new(flags),
            etcd,
            waiters: PodWaiters::default(),
        }
    }

    /// The deletions waiting for pods: map pod events through
    /// [`PodWaiters::waiting_for`].
    pub fn pod_waiters(&self) -> PodWaiters<FlannelConfig> {
        self.waiters.clone()
    }

    fn checked(cx: &Context<FlannelConfig>) -> Result<Network, StepError> {
        Network::from_spec(&cx.object().spec).map_err(|m| {
            cx.set_condition(
                condition(NETWORK_CONFIGURED)
                    .is(false)
                    .because(reasons::INVALID_SPEC)
                    .message(m.clone()),
            );
            StepError::permanent(m).reason(reasons::INVALID_SPEC)
        })
    }

    /// The claims and the config in etcd; conflicts if others hold what
    /// this network needs.
    async fn configure(
        &self,
        cx: &Context<FlannelConfig>,
        network: &Network,
        holder: &Holder,
    ) -> Result<Option<Vec<Conflict>>, EtcdError> {
        let key = config_key(&self.flags.etcd_prefix, &network.cluster);
        let desired = network.config();
        for _ in 0..ATTEMPTS {
            let snap = claims::snapshot(&self.etcd, &self.keys, holder, network, &key).await?;
            if !snap.held {
                if let Claimed::Conflicts(c) =
                    claims::claim(&self.etcd, &self.keys, holder, network).await?
                {
                    return Ok(Some(c));
                }
                continue;
            }
            if let Some((value, _)) = &snap.config
                && same_config(value, desired.as_bytes())
            {
                return Ok(None);
            }
            let seen = snap.config.as_ref().map(|(_, rev)| *rev);
            if claims::write_config(&self.etcd, &self.keys, holder, network, &key, seen).await? {
                tracing::info!(key, value = desired, "wrote the network config");
                self.restored(cx, &key, snap.config.as_ref().map(|(v, _)| v.as_slice()))
                    .await;
                return Ok(None);
            }
        }
        Err(EtcdError::Unavailable(format!(
            "{key} kept changing during {ATTEMPTS} attempts"
        )))
    }

    /// A Warning Event when the config was put back after a hand edit or
    /// removal (not when it is written the first time).
    async fn restored(&self, cx: &Context<FlannelConfig>, key: &str, before: Option<&[u8]>) {
        let configured_before =
            previous(cx, NETWORK_CONFIGURED).is_some_and(|(status, _, _)| status == "True");
        let note = match before {
            Some(v) => format!(
                "{key} said {}; put back",
                String::from_utf8_lossy(v)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
            None if configured_before => format!("{key} was deleted; put back"),
            None => return,
        };
        cx.event(EventType::Warning, reasons::CONFIG_RESTORED, note)
            .await;
    }

    /// The host objects, applied where they drifted.
    async fn ensure_hosts(
        &self,
        cx: &Context<FlannelConfig>,
        hosts: &Hosts<'_>,
    ) -> Result<Outcome, StepError> {
        let config = cx.object();
        let ns = hosts.namespace_name();
        let sa = cx.get::<ServiceAccount>(ns, SERVICE_ACCOUNT).await?;
        let ds = cx.get::<DaemonSet>(ns, FLANNELD).await?;
        for meta in [
            sa.as_ref().map(|o| &o.metadata),
            ds.as_ref().map(|o| &o.metadata),
        ]
        .into_iter()
        .flatten()
        {
            if !belongs_to(meta, config) {
                let message = format!(
                    "{ns}/{} belongs to another FlannelConfig; not touching it",
                    meta.name.as_deref().unwrap_or_default()
                );
                return Err(StepError::permanent(message).reason(reasons::NOT_OURS));
            }
        }
        if sa.is_none() || ds.is_none() {
            self.apply_namespace(cx, hosts).await?;
        }
        let desired_sa = hosts.service_account().map_err(render_error)?;
        if !sa.is_some_and(|c| is_applied(c.as_ref(), &desired_sa, OPERATOR.as_str())) {
            cx.apply(&desired_sa).await?;
        }
        let desired_ds = hosts.flanneld().map_err(render_error)?;
        let ds = match ds {
            Some(c) if is_applied(c.as_ref(), &desired_ds, OPERATOR.as_str()) => c,
            _ => Arc::new(cx.apply(&desired_ds).await?),
        };
        Ok(daemon_set_ready(cx, &ds, self.flags.recheck))
    }

    async fn apply_namespace(
        &self,
        cx: &Context<FlannelConfig>,
        hosts: &Hosts<'_>,
    ) -> Result<(), StepError> {
        let api = Api::<Namespace>::all(cx.client());
        if let Some(ns) = api.get_opt(hosts.namespace_name()).await?
            && ns.metadata.deletion_timestamp.is_some()
        {
            return Err(StepError::transient(format!(
                "namespace {} is being deleted; it is made again once it is gone",
                hosts.namespace_name()
            )));
        }
        let desired = hosts.namespace().map_err(render_error)?;
        let params = PatchParams::apply(OPERATOR.as_str()).force();
        api.patch(hosts.namespace_name(), &params, &Patch::Apply(&desired))
            .await?;
        Ok(())
    }

    /// Pods of the guest cluster outside its flannel namespace that have
    /// not finished.
    fn guest_pods(cx: &Context<FlannelConfig>, cluster: &str) -> Vec<String> {
        let flannel_ns = namespace_name(cluster);
        cx.cache::<Pod>()
            .map(|pods| {
                pods.state()
                    .iter()
                    .filter(|p| p.labels().get(CLUSTER_LABEL).map(String::as_str) == Some(cluster))
                    .filter(|p| p.namespace().as_deref() != Some(flannel_ns.as_str()))
                    .filter(|p| !finished(p))
                    .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// flanneld pods of the cluster that still exist.
    fn flanneld_pods(cx: &Context<FlannelConfig>, cluster: &str) -> usize {
        let ns = namespace_name(cluster);
        cx.cache::<Pod>()
            .map(|pods| {
                pods.state()
                    .iter()
                    .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
                    .filter(|p| {
                        p.labels().get(COMPONENT_LABEL).map(String::as_str) == Some(FLANNELD)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Stage 2 of the deletion: `None` when nothing (more) is on the hosts.
    async fn remove_hosts(
        &self,
        cx: &Context<FlannelConfig>,
        hosts: &Hosts<'_>,
        cluster: &str,
    ) -> Result<Option<Outcome>, StepError> {
        let config = cx.object();
        let api = Api::<Namespace>::all(cx.client());
        let name = hosts.namespace_name();
        let ns = match api.get_opt(name).await? {
            Some(ns) if belongs_to(&ns.metadata, config) => ns,
            _ => return Ok(None),
        };
        if ns.metadata.deletion_timestamp.is_some() {
            cleaning(cx, format!("namespace {name} is being deleted"));
            return Ok(Some(Outcome::Wait(NAMESPACE_RECHECK)));
        }
        if let Some(ds) = cx.get::<DaemonSet>(name, FLANNELD).await? {
            cx.delete(ds.as_ref()).await?;
            cleaning(cx, format!("stopping flanneld ({name}/{FLANNELD} deleted)"));
            return Ok(Some(Outcome::Wait(STAGE_RECHECK)));
        }
        let running = Self::flanneld_pods(cx, cluster);
        if running > 0 {
            cleaning(cx, format!("{running} flanneld pods are stopping"));
            return Ok(Some(Outcome::Wait(STAGE_RECHECK)));
        }
        let desired = hosts.cleanup().map_err(render_error)?;
        let cleanup = match cx.get::<DaemonSet>(name, CLEANUP).await? {
            Some(c) if is_applied(c.as_ref(), &desired, OPERATOR.as_str()) => c,
            _ => Arc::new(cx.apply(&desired).await?),
        };
        match hosts::rollout(&cleanup) {
            Some((ready, desired)) if ready >= desired => {}
            progress => {
                let (ready, desired) = progress.unwrap_or_default();
                cleaning(
                    cx,
                    format!("removing the bridge from the nodes: done on {ready} of {desired}"),
                );
                return Ok(Some(Outcome::Wait(STAGE_RECHECK)));
            }
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: ns.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            namespace = name,
            "bridges removed from the nodes; deleting the namespace"
        );
        cleaning(cx, format!("namespace {name} is being deleted"));
        Ok(Some(Outcome::Wait(NAMESPACE_RECHECK)))
    }
}

#[async_trait]
impl Step<FlannelConfig> for Overlay {
    fn name(&self) -> &str {
        "network"
    }

    async fn ensure_created(&self, cx: &Context<FlannelConfig>) -> Result<Outcome, StepError> {
        let network = Self::checked(cx)?;
        let holder = holder(cx.object(), &network);
        match self.configure(cx, &network, &holder).await {
            Err(e) => return Err(etcd_failure(cx, e)),
            Ok(Some(conflicts)) => {
                let message = conflicts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                cx.not_ready_with_event(NETWORK_CONFIGURED, reasons::NETWORK_CONFLICT, message)
                    .await;
                return Ok(Outcome::Wait(self.flags.recheck));
            }
            Ok(None) => cx.set_condition(
                condition(NETWORK_CONFIGURED)
                    .is(true)
                    .because(reasons::CONFIGURED)
                    .message(format!(
                        "{} = {}",
                        config_key(&self.flags.etcd_prefix, &network.cluster),
                        network.config()
                    )),
            ),
        }
        let hosts = Hosts::new(&self.flags, cx.object(), &network);
        self.ensure_hosts(cx, &hosts).await
    }

    async fn ensure_deleted(&self, cx: &Context<FlannelConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        // A spec that was never valid made nothing.
        let Ok(network) = Network::from_spec(&config.spec) else {
            return Ok(Outcome::Done);
        };
        let cluster = network.cluster.clone();
        // Registered before the cache is read: a pod event meanwhile brings
        // the object back instead of being missed.
        let me = ObjectRef::from_obj(config);
        self.waiters.wait(&cluster, me.clone());
        let guests = Self::guest_pods(cx, &cluster);
        if let Some(first) = guests.first() {
            let message = format!(
                "{} pods of guest cluster {cluster} still exist (e.g. {first}); the network stays until they are gone",
                guests.len()
            );
            cx.set_condition(
                condition(WAITING_FOR_GUEST_PODS)
                    .is(true)
                    .because(reasons::GUEST_PODS_EXIST)
                    .message(message.clone()),
            );
            cx.not_ready(WAITING_FOR_GUEST_PODS, message);
            return Ok(Outcome::Wait(Duration::from_secs(300)));
        }
        cx.set_condition(
            condition(WAITING_FOR_GUEST_PODS)
                .is(false)
                .because(reasons::NO_GUEST_PODS)
                .message(format!("no pod of guest cluster {cluster} is left")),
        );
        let hosts = Hosts::new(&self.flags, config, &network);
        if let Some(outcome) = self.remove_hosts(cx, &hosts, &cluster).await? {
            return Ok(outcome);
        }
        self.waiters.done(&cluster, &me);
        let released = claims::release(
            &self.etcd,
            &self.keys,
            &holder(config, &network),
            &network.bridge(),
            &config_key(&self.flags.etcd_prefix, &cluster),
            &subnets_prefix(&self.flags.etcd_prefix, &cluster),
        )
        .await
        .map_err(|e| etcd_failure(cx, e))?;
        tracing::info!(cluster, ?released, "network removed from etcd");
        Ok(Outcome::Done)
    }
}

/// The claim holder of a FlannelConfig.
fn holder(config: &FlannelConfig, network: &Network) -> Holder {
    Holder {
        cluster: network.cluster.clone(),
        config: owner_of(config),
    }
}

/// A pod that ran to its end.
fn finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// DaemonSetReady from the DaemonSet's status, and the step's outcome.
fn daemon_set_ready(cx: &Context<FlannelConfig>, ds: &DaemonSet, recheck: Duration) -> Outcome {
    tracing::debug!(rollout = ?hosts::rollout(ds), generation = ?ds.metadata.generation, rv = ?ds.metadata.resource_version, "flanneld DaemonSet");
    let (status, reason, message) = match hosts::rollout(ds) {
        None => (
            false,
            reasons::PODS_NOT_READY,
            "the DaemonSet controller has not rolled out the current flanneld yet".to_owned(),
        ),
        Some((_, 0)) => (
            false,
            reasons::NO_NODES,
            "no host node may run flanneld (node selector, or no nodes)".to_owned(),
        ),
        Some((ready, desired)) => (
            ready >= desired,
            if ready >= desired {
                reasons::PODS_READY
            } else {
                reasons::PODS_NOT_READY
            },
            format!("flanneld ready on {ready} of {desired} nodes"),
        ),
    };
    cx.set_condition(
        condition(DAEMONSET_READY)
            .is(status)
            .because(reason)
            .message(message.clone()),
    );
    if status {
        Outcome::RecheckAfter(recheck)
    } else {
        cx.not_ready(reason, message);
        Outcome::Wait(STAGE_RECHECK)
    }
}

/// Ready False while the deletion cleans up, saying what it waits for.
fn cleaning(cx: &Context<FlannelConfig>, message: String) {
    cx.not_ready(reasons::CLEANING_UP, message);
}

/// `(status, reason, message)` of a condition as last written.
fn previous(cx: &Context<FlannelConfig>, type_: &str) -> Option<(String, String, String)> {
    let c = cx.object().status.as_ref()?.condition(type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// An etcd failure: `NetworkConfigured` and Ready say `EtcdUnavailable`,
/// and the loop backs off.
fn etcd_failure(cx: &Context<FlannelConfig>, e: EtcdError) -> StepError {
    let message = e.to_string();
    cx.set_condition(
        condition(NETWORK_CONFIGURED)
            .is(false)
            .because(reasons::ETCD_UNAVAILABLE)
            .message(message.clone()),
    );
    cx.not_ready(reasons::ETCD_UNAVAILABLE, message);
    StepError::transient(e).reason(reasons::ETCD_UNAVAILABLE)
}

/// An object that could not be rendered: a bug, not bad input; permanent
/// (retrying renders the same).
fn render_error(e: serde_json::Error) -> StepError {
    StepError::permanent(format!("rendering a host object: {e}"))
}
