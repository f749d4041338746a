//! The DaemonSet controller, as kube-controller-manager's: one pod per node
//! that may run it (node selector, required node affinity, taints tolerated
//! with the tolerations every daemon pod gets), pinned to its node by node
//! affinity on `metadata.name` and bound by the scheduler; pods on nodes that
//! may no longer run it deleted; `RollingUpdate` replacing old pods within
//! `maxUnavailable` (`OnDelete` waits for someone to delete them); and the
//! status `kubectl rollout status` reads. Not simulated: `maxSurge` (a
//! rolling update with `maxUnavailable: 0` and a surge never replaces a
//! pod), ControllerRevision objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::expectations::Expectations;
use crate::{keys, pods, replicaset, scheduler, status};

/// What the controller reads and remembers.
pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub expectations: Expectations,
}

/// The tolerations kube gives every daemon pod.
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    };
    let mut out = vec![
        t(keys::TAINT_NOT_READY, "NoExecute"),
        t(keys::TAINT_UNREACHABLE, "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        out.push(t("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    out
}

/// `template` as a daemon pod gets it: the daemon tolerations added.
fn with_tolerations(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(spec) = t.spec.as_mut() {
        let extra = daemon_tolerations(spec.host_network == Some(true));
        let list = spec.tolerations.get_or_insert_with(Vec::new);
        for tol in extra {
            if !list.contains(&tol) {
                list.push(tol);
            }
        }
    }
    t
}

/// Whether a daemon pod of `template` should run on `node`, and whether one
/// already there may go on running (kube's `NodeShouldRunDaemonPod`): a
/// taint the pod does not tolerate keeps new pods away, but only an
/// untolerated NoExecute taint (or a node the selectors no longer pick)
/// removes one.
fn judge(template: &PodTemplateSpec, node: &Node) -> (bool, bool) {
    let spec = template.spec.clone().unwrap_or_default();
    if !scheduler::selects(&spec, node) {
        return (false, false);
    }
    let tolerations = spec.tolerations.unwrap_or_default();
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .any(|t| t.effect == effect && !scheduler::tolerated(t, &tolerations))
    };
    let keep = !untolerated("NoExecute");
    (keep && !untolerated("NoSchedule"), keep)
}

/// The node a daemon pod is for: its node, or the one its affinity pins.
fn target(pod: &Pod) -> Option<String> {
    if let Some(n) = pods::node_name(pod) {
        return Some(n.to_owned());
    }
    pod.spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|f| f.key == "metadata.name" && f.operator == "In")
        .and_then(|f| f.values.as_ref()?.first().cloned())
}

/// A daemon pod of `template` pinned to `node`.
fn pinned(template: &PodTemplateSpec, node: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    let field = NodeSelectorRequirement {
        key: "metadata.name".into(),
        operator: "In".into(),
        values: Some(vec![node.to_owned()]),
    };
    if let Some(spec) = t.spec.as_mut() {
        let affinity = spec.affinity.get_or_insert_with(Default::default);
        let node_affinity = affinity.node_affinity.get_or_insert_with(Default::default);
        let required = node_affinity
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default);
        if required.node_selector_terms.is_empty() {
            required
                .node_selector_terms
                .push(NodeSelectorTerm::default());
        }
        for term in &mut required.node_selector_terms {
            let fields = term.match_fields.get_or_insert_with(Vec::new);
            fields.retain(|f| f.key != "metadata.name");
            fields.push(field.clone());
        }
    }
    t
}

/// Keeps one pod of `ds` on every node that may run it and reports its status.
pub async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    if ds.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let spec = ds.spec.clone().unwrap_or_default();
    let template = with_tolerations(&spec.template);
    let hash = pods::hash(&spec.template, 0);
    // Expectations first, the pods after: a pod that reaches the cache in
    // between is then counted, never created twice.
    let synced = ctx.expectations.satisfied(&uid, &ctx.pods);
    let owned = replicaset::owned_pods(&ctx.pods, &ns, &uid);
    let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in owned.iter().filter(|p| pods::is_active(p)) {
        if let Some(node) = target(pod) {
            by_node.entry(node).or_default().push(pod.clone());
        }
    }
    let nodes = ctx.nodes.state();
    let judged: Vec<(String, bool, bool)> = nodes
        .iter()
        .map(|n| {
            let (run, keep) = judge(&template, n);
            (n.name_any(), run, keep)
        })
        .collect();
    let eligible: Vec<String> = judged.iter().filter(|j| j.1).map(|j| j.0.clone()).collect();
    let kept: Vec<String> = judged.iter().filter(|j| j.2).map(|j| j.0.clone()).collect();
    let mut failed = false;
    if synced {
        failed = step(&ctx, &ds, &template, &hash, (&eligible, &kept), &by_node).await?;
    }
    report(&ctx, &ds, &hash, &eligible, &by_node).await?;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let wait = pods::first_available_in(by_node.values().flatten(), min_ready);
    Ok(pods::next_action(synced, failed, wait))
}

/// Creates missing pods, deletes misplaced and extra ones, and replaces old
/// ones within `maxUnavailable`; whether a create failed.
async fn step(
    ctx: &Context,
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    hash: &str,
    (eligible, kept): (&[String], &[String]),
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> Result<bool, kube::Error> {
    let ns = ds.namespace().unwrap_or_default();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut doomed: Vec<Arc<Pod>> = Vec::new();
    for (node, list) in by_node {
        if !kept.contains(node) {
            doomed.extend(list.iter().cloned());
        } else if list.len() > 1 {
            let mut list = list.clone();
            pods::deletion_order(&mut list);
            doomed.extend(list.iter().take(list.len() - 1).cloned());
        }
    }
    let missing: Vec<&String> = eligible
        .iter()
        .filter(|n| !by_node.contains_key(*n))
        .collect();
    let strategy = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.clone())
        .unwrap_or_default();
    if strategy.type_.as_deref() != Some("OnDelete") {
        let max = match strategy.rolling_update.and_then(|r| r.max_unavailable) {
            Some(IntOrString::Int(n)) => usize::try_from(n).unwrap_or(1),
            Some(IntOrString::String(p)) => {
                let pct: usize = p.trim_end_matches('%').parse().unwrap_or(0);
                (eligible.len() * pct).div_ceil(100).max(1)
            }
            None => 1,
        };
        let now = pods::now();
        let min_ready = ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let unavailable = eligible
            .iter()
            .filter(|n| {
                by_node
                    .get(*n)
                    .is_none_or(|l| !l.iter().any(|p| pods::is_available(p, min_ready, now)))
            })
            .count();
        let mut room = max.saturating_sub(unavailable);
        let mut old: Vec<Arc<Pod>> = eligible
            .iter()
            .filter_map(|n| by_node.get(n))
            .flatten()
            .filter(|p| {
                p.labels()
                    .get(keys::CONTROLLER_REVISION_HASH)
                    .map(String::as_str)
                    != Some(hash)
            })
            .cloned()
            .collect();
        // Old pods that are not available go first, and cost no room.
        old.sort_by_key(|p| pods::is_available(p, min_ready, now));
        for pod in old {
            if pods::is_available(&pod, min_ready, now) {
                if room == 0 {
                    break;
                }
                room -= 1;
            }
            doomed.push(pod);
        }
    }
    replicaset::delete(&api, &uid, &doomed, &ctx.expectations).await?;
    let owner = pods::owner("apps/v1", "DaemonSet", &ds.metadata);
    let pp = PostParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    };
    let new_pods: Vec<Pod> = missing
        .iter()
        .map(|node| {
            pods::from_template(
                &pinned(template, node),
                owner.clone(),
                &ns,
                &ds.name_any(),
                &[(keys::CONTROLLER_REVISION_HASH, hash)],
            )
        })
        .collect();
    let created: Vec<Result<Pod, kube::Error>> = stream::iter(new_pods)
        .map(|pod| {
            let (api, pp) = (api.clone(), pp.clone());
            async move { api.create(&pp, &pod).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut failed = false;
    for result in created {
        match result {
            Ok(pod) => ctx.expectations.created(&uid, &ns, &pod.name_any()),
            Err(e) => {
                failed = true;
                tracing::warn!(daemonset = %ds.name_any(), namespace = %ns, error = %e, "creating a daemon pod failed");
            }
        }
    }
    Ok(failed)
}

/// Writes the DaemonSet's status if it changed.
async fn report(
    ctx: &Context,
    ds: &DaemonSet,
    hash: &str,
    eligible: &[String],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> Result<(), kube::Error> {
    let now = pods::now();
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let count = |f: &dyn Fn(&[Arc<Pod>]) -> bool| {
        i32::try_from(
            eligible
                .iter()
                .filter(|n| by_node.get(*n).is_some_and(|l| f(l)))
                .count(),
        )
        .unwrap_or(0)
    };
    let desired = i32::try_from(eligible.len()).unwrap_or(0);
    let current = count(&|l| !l.is_empty());
    let ready = count(&|l| l.iter().any(|p| pods::is_ready(p)));
    let available = count(&|l| l.iter().any(|p| pods::is_available(p, min_ready, now)));
    let updated = count(&|l| {
        l.iter().any(|p| {
            p.labels()
                .get(keys::CONTROLLER_REVISION_HASH)
                .map(String::as_str)
                == Some(hash)
        })
    });
    let misscheduled =
        i32::try_from(by_node.keys().filter(|n| !eligible.contains(*n)).count()).unwrap_or(0);
    let desired_status = json!({
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": ds.metadata.generation,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    });
    let desired_status = status::go_encoded(
        desired_status,
        &[
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
        ],
    );
    let api: Api<DaemonSet> =
        Api::namespaced(ctx.client.clone(), &ds.namespace().unwrap_or_default());
    status::write(&api, &ds.name_any(), ds.status.as_ref(), desired_status).await?;
    Ok(())
}
