//! The scheduler: every pod without a node (and for the default scheduler)
//! is bound, through `pods/binding`, to the fake node that can take it and
//! has the most room, as kube-scheduler's filters and least-allocated score
//! would choose: the node is Ready and schedulable, the pod tolerates its
//! NoSchedule and NoExecute taints, its node selector and required node
//! affinity match, and its CPU, memory and pod count fit. A pod no node can
//! take gets `PodScheduled=False` (`Unschedulable`) and is tried again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodCondition, PodSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::{keys, nodes, pods, quantity};

/// How long a pod no node can take waits before it is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// What the scheduler reads, and what it remembers under one lock (which
/// also makes one decision at a time, as kube-scheduler's single loop does).
pub struct Context {
    pub client: Client,
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub state: tokio::sync::Mutex<State>,
}

/// How often what the nodes hold is counted again from every pod; between
/// counts, pods the scheduler binds are added to it as it binds them.
const RECOUNT: Duration = Duration::from_secs(1);

/// The scheduler's memory.
#[derive(Default)]
pub struct State {
    /// Pods bound that the cache has not seen bound yet (kube-scheduler's
    /// "assumed" pods), by UID to node.
    assumed: HashMap<String, String>,
    /// What each node's pods request, and when it was counted.
    used: HashMap<String, (i128, i128, i128)>,
    counted: Option<std::time::Instant>,
}

/// Binds `pod` if it waits for a node.
pub async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let scheduler = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref());
    if pods::node_name(&pod).is_some()
        || pods::is_deleting(&pod)
        || pods::is_terminal(&pod)
        || !matches!(scheduler, None | Some("default-scheduler"))
    {
        return Ok(Action::await_change());
    }
    let mut state = ctx.state.lock().await;
    if state
        .assumed
        .contains_key(pod.metadata.uid.as_deref().unwrap_or_default())
    {
        return Ok(Action::await_change());
    }
    if state.counted.is_none_or(|at| at.elapsed() > RECOUNT) {
        let used = usage(&ctx.pods, &mut state.assumed);
        state.used = used;
        state.counted = Some(std::time::Instant::now());
    }
    let candidates: Vec<Arc<Node>> = ctx.nodes.state();
    let used = &state.used;
    let mut reasons: HashMap<&'static str, usize> = HashMap::new();
    let mut best: Option<(i128, Arc<Node>)> = None;
    for node in &candidates {
        match fits(&pod, node, used.get(node.name_any().as_str())) {
            Ok(score) => {
                if best.as_ref().is_none_or(|(s, n)| {
                    score > *s || (score == *s && node.name_any() < n.name_any())
                }) {
                    best = Some((score, node.clone()));
                }
            }
            Err(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    match best {
        Some((_, node)) => {
            bind(&api, &pod, &node.name_any()).await?;
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            state.assumed.insert(uid, node.name_any());
            let (cpu, memory) = requests(&pod);
            let entry = state.used.entry(node.name_any()).or_default();
            entry.0 = entry.0.saturating_add(cpu);
            entry.1 = entry.1.saturating_add(memory);
            entry.2 = entry.2.saturating_add(1000);
            Ok(Action::await_change())
        }
        None => {
            unschedulable(&api, &pod, candidates.len(), &reasons).await?;
            Ok(Action::requeue(RETRY))
        }
    }
}

/// What the pods on each node request: (milli-CPU, memory in thousandths,
/// pods). Assumed pods count on their node until the cache shows them there.
fn usage(
    pods: &Store<Pod>,
    assumed: &mut HashMap<String, String>,
) -> HashMap<String, (i128, i128, i128)> {
    let mut out: HashMap<String, (i128, i128, i128)> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for pod in pods.state() {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let node = match pods::node_name(&pod) {
            Some(node) => node.to_owned(),
            None => match assumed.get(uid) {
                Some(node) => {
                    seen.insert(uid.to_owned());
                    node.clone()
                }
                None => continue,
            },
        };
        if pods::is_terminal(&pod) {
            continue;
        }
        let (cpu, memory) = requests(&pod);
        let entry = out.entry(node).or_default();
        entry.0 = entry.0.saturating_add(cpu);
        entry.1 = entry.1.saturating_add(memory);
        entry.2 = entry.2.saturating_add(1000);
    }
    // Forget the pods the cache shows bound (or gone).
    assumed.retain(|uid, _| seen.contains(uid));
    out
}

/// The pod's CPU and memory requests (its containers' sum).
fn requests(pod: &Pod) -> (i128, i128) {
    let mut cpu = 0;
    let mut memory = 0;
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let Some(r) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) else {
            continue;
        };
        let quantity = |key: &str| r.get(key).and_then(|q| quantity::milli(&q.0)).unwrap_or(0);
        cpu = quantity("cpu").saturating_add(cpu);
        memory = quantity("memory").saturating_add(memory);
    }
    (cpu, memory)
}

/// Whether `node` can take `pod`: its score (free CPU share, in thousandths),
/// or the reason it cannot, in kube-scheduler's words.
fn fits(pod: &Pod, node: &Node, used: Option<&(i128, i128, i128)>) -> Result<i128, &'static str> {
    if !nodes::is_ready(node) {
        return Err("node(s) were not ready");
    }
    let pod_spec = pod.spec.clone().unwrap_or_default();
    placement(&pod_spec, node)?;
    let allocatable = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    let capacity = |key: &str| {
        allocatable
            .get(key)
            .and_then(|q| quantity::milli(&q.0))
            .unwrap_or(0)
    };
    let (used_cpu, used_memory, used_pods) = used.copied().unwrap_or_default();
    let (cpu, memory) = requests(pod);
    if used_pods.saturating_add(1000) > capacity("pods") {
        return Err("Too many pods");
    }
    if used_cpu.saturating_add(cpu) > capacity("cpu") {
        return Err("Insufficient cpu");
    }
    if used_memory.saturating_add(memory) > capacity("memory") {
        return Err("Insufficient memory");
    }
    let free_cpu = capacity("cpu").saturating_sub(used_cpu).saturating_sub(cpu);
    let free_pods = capacity("pods")
        .saturating_sub(used_pods)
        .saturating_sub(1000);
    Ok((free_cpu.saturating_mul(1000) / capacity("cpu").max(1)).saturating_add(free_pods / 1000))
}

/// Whether a pod of `spec` may be placed on `node` at all: the node is
/// schedulable (or tolerated so), the pod tolerates its NoSchedule and
/// NoExecute taints, and its node selector and required node affinity match.
pub fn placement(spec: &PodSpec, node: &Node) -> Result<(), &'static str> {
    let node_spec = node.spec.clone().unwrap_or_default();
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    if node_spec.unschedulable == Some(true) && !tolerated(&unschedulable_taint(), &tolerations) {
        return Err("node(s) were unschedulable");
    }
    let taints = node_spec.taints.unwrap_or_default();
    if taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .any(|t| !tolerated(t, &tolerations))
    {
        return Err("node(s) had untolerated taint(s)");
    }
    if !selects(spec, node) {
        return Err("node(s) didn't match Pod's node affinity/selector");
    }
    Ok(())
}

/// Whether the pod's node selector and required node affinity pick `node`.
pub fn selects(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.labels();
    let selected = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selected && required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

fn unschedulable_taint() -> Taint {
    Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        time_added: None,
        value: None,
    }
}

/// Whether one of `tolerations` tolerates `taint`.
pub fn tolerated(taint: &Taint, tolerations: &[Toleration]) -> bool {
    tolerations.iter().any(|t| {
        let effect = t.effect.as_deref().unwrap_or("");
        let key = t.key.as_deref().unwrap_or("");
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
        match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => key.is_empty() || key == taint.key,
            _ => {
                key == taint.key
                    && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    })
}

/// Whether a node selector term (all of its expressions) matches `node`.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let labels = node.labels();
    let name = node.name_any();
    let by_label = term
        .match_expressions
        .iter()
        .flatten()
        .all(|e| requirement(e, labels.get(&e.key).map(String::as_str)));
    let by_field = term.match_fields.iter().flatten().all(|e| {
        let value = (e.key == "metadata.name").then_some(name.as_str());
        requirement(e, value)
    });
    let empty = term.match_expressions.as_ref().is_none_or(Vec::is_empty)
        && term.match_fields.as_ref().is_none_or(Vec::is_empty);
    !empty && by_label && by_field
}

fn requirement(e: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = e.values.clone().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match e.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v > x)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v < x)
        }
        _ => false,
    }
}

async fn bind(api: &Api<Pod>, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let name = pod.name_any();
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let pp = PostParams {
        field_manager: Some(keys::SCHEDULER.into()),
        ..PostParams::default()
    };
    match api
        .create_subresource::<_, serde_json::Value>("binding", &name, &pp, &binding)
        .await
    {
        // Bound meanwhile, or gone: nothing to do.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        other => other.map(|_| ()),
    }
}

/// `PodScheduled=False`, as kube-scheduler words it:
/// `0/3 nodes are available: 3 Insufficient cpu.`
async fn unschedulable(
    api: &Api<Pod>,
    pod: &Pod,
    total: usize,
    reasons: &HashMap<&'static str, usize>,
) -> Result<(), kube::Error> {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let message = format!("0/{total} nodes are available: {}.", parts.join(", "));
    let current = pods::condition(pod, "PodScheduled");
    if current.is_some_and(|c| c.message.as_deref() == Some(message.as_str())) {
        return Ok(());
    }
    let condition = PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(message),
        last_transition_time: Some(Time(jiff::Timestamp::now())),
        ..PodCondition::default()
    };
    let mut conditions: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    conditions.retain(|c| c.type_ != "PodScheduled");
    conditions.push(condition);
    let patch = json!({"status": {"conditions": conditions}});
    let pp = PatchParams {
        field_manager: Some(keys::SCHEDULER.into()),
        ..PatchParams::default()
    };
    api.patch_status(&pod.name_any(), &pp, &Patch::Merge(&patch))
        .await?;
    Ok(())
}
