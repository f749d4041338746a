//! The kubelet of every fake node: pods bound to a fake node start after a
//! delay (`Running`, containers running and ready, `Ready=True` once every
//! readiness gate is True), pods that run to completion finish
//! (`Succeeded`), pods annotated [`keys::POD_FAIL`] fail or crash-loop
//! (restart counts growing on kubelet's back-off: 10 s doubling to 5 min),
//! and a pod being deleted gracefully is stopped and then deleted with a
//! zero grace period, as the kubelet confirms a deletion. Pods on a node
//! taken down lose readiness and are left alone until it is back, as the
//! node lifecycle controller leaves them.
//!
//! Every status write is a merge patch of `status` by field manager
//! `kubelet`, and only when something changed: a steady pod costs no
//! write. Every pod is looked at again every [`pods::RESYNC`] even without
//! an event, as a kubelet syncs its pods every `syncFrequency`.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::{keys, nodes, pods};

/// Kubelet's restart back-off: 10 s, doubling, at most 5 minutes.
const BACKOFF_START: i64 = 10;
const BACKOFF_MAX: i64 = 300;

/// What the kubelets read and remember.
pub struct Context {
    pub client: Client,
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    /// Seconds a pod takes to start, unless annotated.
    pub start_seconds: i64,
    /// Seconds a pod takes to stop, unless annotated (capped by its grace period).
    pub stop_seconds: i64,
    /// Pod IPs handed out, by node, by pod UID.
    pub ips: Mutex<HashMap<String, BTreeMap<String, u8>>>,
}

/// Brings `pod`'s status to what its kubelet would report now.
pub async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let Some(node_name) = pods::node_name(&pod) else {
        return Ok(Action::await_change());
    };
    let Some(node) = ctx.nodes.get(&ObjectRef::new(node_name)) else {
        return Ok(Action::await_change());
    };
    if !nodes::is_fake(&node) {
        return Ok(Action::await_change());
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    if nodes::taken_down(&node) {
        unready(&api, &pod).await?;
        return Ok(Action::await_change());
    }
    if pods::is_deleting(&pod) {
        return stop(&api, &pod, &ctx).await;
    }
    if pods::is_terminal(&pod) {
        return Ok(Action::await_change());
    }
    let now = pods::now();
    let start = bound_at(&pod)
        .saturating_add(annotation(&pod, keys::POD_START_SECONDS).unwrap_or(ctx.start_seconds));
    if now < start {
        return Ok(Action::requeue(secs(start - now)));
    }
    let ip = ctx.ip(&pod, node_name, &node);
    let (status, next) = desired(&pod, &node, start, now, ip);
    let current = serde_json::to_value(&pod.status).unwrap_or(Value::Null);
    if current != status {
        let pp = PatchParams {
            field_manager: Some(keys::KUBELET.into()),
            ..PatchParams::default()
        };
        api.patch_status(
            &pod.name_any(),
            &pp,
            &Patch::Merge(json!({"status": status})),
        )
        .await?;
    }
    Ok(match next {
        Some(at) => Action::requeue(secs((at - now).max(1))),
        None => Action::requeue(pods::RESYNC),
    })
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// Longest delay an annotation may ask for: a year.
const MAX_SECONDS: i64 = 365 * 24 * 3600;

/// A seconds annotation of the pod, within 0 and [`MAX_SECONDS`].
fn annotation(pod: &Pod, key: &str) -> Option<i64> {
    let seconds: i64 = pod.annotations().get(key)?.trim().parse().ok()?;
    Some(seconds.clamp(0, MAX_SECONDS))
}

/// When the pod was bound: its `PodScheduled` transition (or creation).
fn bound_at(pod: &Pod) -> i64 {
    pods::condition(pod, "PodScheduled")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map_or_else(pods::now, |t| t.0.as_second())
}

impl Context {
    /// The pod's IP on `node`: the one it has, or the lowest free one of the
    /// node's pod network.
    fn ip(&self, pod: &Pod, node_name: &str, node: &Node) -> Ipv4Addr {
        let base: Ipv4Addr = node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(|c| c.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or(Ipv4Addr::new(10, 244, 0, 0));
        if let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|a| a.parse().ok())
        {
            return ip;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let on_node: BTreeMap<String, Option<Ipv4Addr>> = self
            .pods
            .state()
            .iter()
            .filter(|p| pods::node_name(p) == Some(node_name))
            .map(|p| {
                let ip = p
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.as_deref())
                    .and_then(|a| a.parse().ok());
                (p.metadata.uid.clone().unwrap_or_default(), ip)
            })
            .collect();
        let mut ips = self
            .ips
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let given = ips.entry(node_name.to_owned()).or_default();
        given.retain(|u, _| on_node.get(u).is_some_and(Option::is_none));
        let host = match given.get(&uid) {
            Some(host) => *host,
            None => {
                let taken: Vec<u8> = on_node
                    .values()
                    .flatten()
                    .map(|ip| ip.octets()[3])
                    .chain(given.values().copied())
                    .collect();
                let host = (2..=254).find(|h| !taken.contains(h)).unwrap_or(254);
                given.insert(uid, host);
                host
            }
        };
        let [a, b, c, _] = base.octets();
        Ipv4Addr::new(a, b, c, host)
    }
}

/// The status the pod's kubelet reports at `now`, and when it next changes.
fn desired(pod: &Pod, node: &Node, start: i64, now: i64, ip: Ipv4Addr) -> (Value, Option<i64>) {
    let spec = pod.spec.clone().unwrap_or_default();
    let restart = spec.restart_policy.as_deref().unwrap_or("Always");
    let fail = pod.annotations().get(keys::POD_FAIL).map(String::as_str);
    let run = annotation(pod, keys::POD_RUN_SECONDS).unwrap_or(0);
    let started = rfc3339(start);
    let (phase, state, next) = match (fail, restart) {
        (Some("crash" | "error"), "Never") => ("Failed", State::Exited(1, "Error"), None),
        (Some("crash"), _) => {
            let (restarts, next) = crash_loop(start, now);
            ("Running", State::CrashLoop(restarts), Some(next))
        }
        (_, "Never" | "OnFailure") if now >= start.saturating_add(run) => {
            ("Succeeded", State::Exited(0, "Completed"), None)
        }
        (_, "Never" | "OnFailure") => ("Running", State::Running, Some(start.saturating_add(run))),
        _ => ("Running", State::Running, None),
    };
    let ready_containers = matches!(state, State::Running) && fail != Some("never-ready");
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                &c.name,
                c.image.as_deref(),
                &state,
                &started,
                ready_containers,
                pod,
            )
        })
        .collect();
    let gates_ok = spec
        .readiness_gates
        .iter()
        .flatten()
        .all(|g| pods::condition(pod, &g.condition_type).is_some_and(|c| c.status == "True"));
    let completed = phase != "Running";
    let conditions = conditions(
        pod,
        ready_containers,
        gates_ok && ready_containers,
        completed,
    );
    let host_ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .unwrap_or_default();
    let mut status = serde_json::to_value(&pod.status).unwrap_or_else(|_| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    status["phase"] = phase.into();
    status["conditions"] = serde_json::to_value(conditions).unwrap_or_default();
    status["containerStatuses"] = containers.into();
    status["hostIP"] = host_ip.clone().into();
    status["hostIPs"] = json!([{"ip": host_ip}]);
    status["podIP"] = ip.to_string().into();
    status["podIPs"] = json!([{"ip": ip.to_string()}]);
    status["startTime"] = started.into();
    (status, next)
}

/// What a container is doing.
enum State {
    Running,
    /// Exited with this code and reason, for good.
    Exited(i32, &'static str),
    /// Crashing; restarted this many times.
    CrashLoop(i32),
}

/// Restarts so far of a container crashing since `start`, and when the next
/// comes: the back-off doubles from 10 s to 5 min, then stays.
fn crash_loop(start: i64, now: i64) -> (i32, i64) {
    let (mut restarts, mut at, mut backoff) = (0i64, start, BACKOFF_START);
    while backoff < BACKOFF_MAX && at.saturating_add(backoff) <= now {
        at += backoff;
        restarts += 1;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    if at.saturating_add(backoff) <= now {
        let more = (now.saturating_sub(at)) / backoff;
        at = at.saturating_add(more.saturating_mul(backoff));
        restarts = restarts.saturating_add(more);
    }
    (
        i32::try_from(restarts).unwrap_or(i32::MAX),
        at.saturating_add(backoff),
    )
}

fn container_status(
    name: &str,
    image: Option<&str>,
    state: &State,
    started: &str,
    ready: bool,
    pod: &Pod,
) -> Value {
    let image = image.unwrap_or_default();
    let id = format!("kwok://{}", pod.metadata.uid.as_deref().unwrap_or_default());
    let (state, last, restarts, started_flag) = match state {
        State::Running => (
            json!({"running": {"startedAt": started}}),
            json!({}),
            0,
            true,
        ),
        State::Exited(code, reason) => (
            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": started, "containerID": id}}),
            json!({}),
            0,
            false,
        ),
        State::CrashLoop(restarts) => (
            json!({"waiting": {
                "reason": "CrashLoopBackOff",
                "message": format!(
                    "back-off restarting failed container={name} pod={}_{}({})",
                    pod.name_any(),
                    pod.namespace().unwrap_or_default(),
                    pod.metadata.uid.as_deref().unwrap_or_default()
                ),
            }}),
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": started, "containerID": id}}),
            *restarts,
            false,
        ),
    };
    json!({
        "name": name,
        "image": image,
        "imageID": format!("docker.io/library/{image}"),
        "containerID": id,
        "ready": ready,
        "started": started_flag,
        "restartCount": restarts,
        "state": state,
        "lastState": last,
    })
}

/// The kubelet's conditions, each keeping its transition time while its
/// status stays; other conditions (readiness gates, PodScheduled) untouched.
fn conditions(
    pod: &Pod,
    containers_ready: bool,
    ready: bool,
    completed: bool,
) -> Vec<PodCondition> {
    let current: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let reason = |ok: bool| match (ok, completed) {
        (true, _) => None,
        (false, true) => Some("PodCompleted".to_owned()),
        (false, false) => Some("ContainersNotReady".to_owned()),
    };
    let ours = [
        ("PodReadyToStartContainers", !completed, None),
        ("Initialized", true, None),
        (
            "ContainersReady",
            containers_ready,
            reason(containers_ready),
        ),
        (keys::READY, ready, reason(ready)),
    ];
    let mut out: Vec<PodCondition> = current
        .iter()
        .filter(|c| !ours.iter().any(|(t, _, _)| *t == c.type_))
        .cloned()
        .collect();
    for (type_, ok, reason) in ours {
        out.push(condition(&current, type_, ok, reason));
    }
    out
}

/// Condition `type_` at `ok`, keeping the current one's times if unchanged.
fn condition(
    current: &[PodCondition],
    type_: &str,
    ok: bool,
    reason: Option<String>,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    if let Some(c) = current.iter().find(|c| c.type_ == type_)
        && c.status == status
        && c.reason == reason
    {
        return c.clone();
    }
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason,
        last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::now(),
        )),
        ..PodCondition::default()
    }
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Marks a pod on a node taken down not Ready, as the node lifecycle
/// controller does (`MarkPodsNotReady`).
async fn unready(api: &Api<Pod>, pod: &Pod) -> Result<(), kube::Error> {
    if !pods::is_ready(pod) {
        return Ok(());
    }
    let current: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let conditions: Vec<PodCondition> = current
        .iter()
        .map(|c| match c.type_.as_str() {
            t if t == keys::READY => {
                condition(&current, keys::READY, false, Some("NodeNotReady".into()))
            }
            _ => c.clone(),
        })
        .collect();
    let pp = PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    };
    let patch = json!({"status": {"conditions": conditions}});
    api.patch_status(&pod.name_any(), &pp, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Stops a pod being deleted and confirms the deletion once its containers
/// had their time (its stop time, at most its grace period).
async fn stop(api: &Api<Pod>, pod: &Pod, ctx: &Context) -> Result<Action, kube::Error> {
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
    if grace == 0 {
        // Confirmed already (finalizers, if any, hold it now).
        return Ok(Action::await_change());
    }
    let deadline = pod
        .metadata
        .deletion_timestamp
        .as_ref()
        .map_or_else(pods::now, |t| t.0.as_second());
    let stop = annotation(pod, keys::POD_STOP_SECONDS)
        .unwrap_or(ctx.stop_seconds)
        .clamp(0, grace);
    let done = deadline.saturating_sub(grace).saturating_add(stop);
    let now = pods::now();
    if now < done {
        return Ok(Action::requeue(secs(done - now)));
    }
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&pod.name_any(), &dp).await {
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::crash_loop;

    #[test]
    fn restarts_follow_the_kubelets_back_off() {
        assert_eq!(crash_loop(0, 5), (0, 10));
        assert_eq!(crash_loop(0, 10), (1, 30));
        assert_eq!(crash_loop(0, 30), (2, 70));
        // 10 + 20 + 40 + 80 + 160 = 310, then every 300 s.
        assert_eq!(crash_loop(0, 310), (5, 610));
        assert_eq!(crash_loop(0, 910), (7, 1210));
        assert_eq!(crash_loop(i64::MIN, i64::MAX).0, i32::MAX);
    }
}
