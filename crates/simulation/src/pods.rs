//! What the controllers ask of pods, as kube-controller-manager's
//! `podutil` answers it: readiness, availability, ownership, the pods a
//! selector picks, new pods from a template, and the order pods are given
//! up in when a controller scales down.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use std::sync::Arc;

use crate::keys;

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, keys::READY).is_some_and(|c| c.status == "True")
}

/// Whether the pod has been Ready for `min_ready_seconds` at `now` (unix seconds).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    let Some(ready) = condition(pod, keys::READY).filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready
        .last_transition_time
        .as_ref()
        .is_some_and(|t| t.0.as_second() + i64::from(min_ready_seconds) <= now)
}

/// Seconds until a Ready pod becomes available (0 if it is, or is not Ready).
pub fn seconds_to_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> i64 {
    condition(pod, keys::READY)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map_or(0, |t| {
            (t.0.as_second() + i64::from(min_ready_seconds) - now).max(0)
        })
}

/// The condition of `type_`.
pub fn condition<'a>(
    pod: &'a Pod,
    type_: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `Succeeded` or `Failed`.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's phase (`Pending` when it has none yet).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the pod is being deleted.
pub fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Neither finished nor being deleted: a pod a controller counts.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_deleting(pod)
}

/// Whether `uid` is the pod's controller.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// The pod's node (`None` while unscheduled).
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// Whether a workload's label `selector` picks `labels` (a selector that
/// does not parse, or selects everything, picks nothing, as kube's
/// controllers treat them).
pub fn selected_by(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    use kube::core::{Selector, SelectorExt};
    match Selector::try_from(selector.clone()) {
        Ok(parsed) if !parsed.selects_all() => parsed.matches(labels),
        _ => false,
    }
}

/// The controller owner reference of an object of kind `kind`.
pub fn owner(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A new pod from `template`, controlled by `owner`, named `<prefix>` plus a
/// server-generated suffix, with `labels` added to the template's.
pub fn from_template(
    template: &PodTemplateSpec,
    owner: OwnerReference,
    namespace: &str,
    prefix: &str,
    labels: &[(&str, &str)],
) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut all_labels = template_meta.labels.unwrap_or_default();
    for (k, v) in labels {
        all_labels.insert((*k).to_owned(), (*v).to_owned());
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            namespace: Some(namespace.to_owned()),
            labels: Some(all_labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// A short hash of `value`'s JSON, in the alphabet kube uses for
/// `pod-template-hash` (no vowels, no look-alike digits), FNV-32a as kube's.
pub fn hash<T: serde::Serialize>(value: &T, collisions: i32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes.iter().chain(collisions.to_le_bytes().iter()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| ALPHABET[usize::from(d) % ALPHABET.len()] as char)
        .collect()
}

/// The pods to give up first when scaling down, as kube's `ActivePods`
/// ordering: unscheduled before scheduled, pending before running, not ready
/// before ready, more restarts before fewer, newer before older.
pub fn deletion_order(pods: &mut [std::sync::Arc<Pod>]) {
    pods.sort_by_key(|p| {
        let scheduled = node_name(p).is_some();
        let running = phase(p) == "Running";
        let ready = is_ready(p);
        let restarts: i32 = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum());
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second());
        (
            scheduled,
            running,
            ready,
            std::cmp::Reverse(restarts),
            std::cmp::Reverse(created),
        )
    });
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// How often a workload controller and the kubelet look at an object again
/// with no event (kube-controller-manager's informers resync, the kubelet
/// syncs every pod every `syncFrequency`): a missed event costs at most
/// this long, never forever.
pub const RESYNC: std::time::Duration = std::time::Duration::from_secs(10);

/// What a workload controller does after a pass: look again soon while its
/// cache has not caught up with its own writes, retry after a failed create
/// (nothing else would wake it), wake when a Ready pod turns available
/// (`minReadySeconds`), or look again after [`RESYNC`] (or at the next
/// change).
pub fn next_action(
    synced: bool,
    failed: bool,
    available_in: Option<i64>,
) -> kube::runtime::controller::Action {
    use kube::runtime::controller::Action;
    use std::time::Duration;
    match (synced, failed, available_in) {
        (false, _, _) => Action::requeue(Duration::from_millis(500)),
        (_, true, _) => Action::requeue(Duration::from_secs(5)),
        (_, _, Some(s)) => {
            Action::requeue(Duration::from_secs(u64::try_from(s).unwrap_or(1).max(1)))
        }
        _ => Action::requeue(RESYNC),
    }
}

/// Seconds until the first of `pods` that is Ready turns available, if one will.
pub fn first_available_in<'a>(
    pods: impl IntoIterator<Item = &'a Arc<Pod>>,
    min_ready_seconds: i32,
) -> Option<i64> {
    let now = now();
    pods.into_iter()
        .map(|p| seconds_to_available(p, min_ready_seconds, now))
        .filter(|s| *s > 0)
        .min()
}
