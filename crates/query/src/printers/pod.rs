//! The Pod printer (`printPod`): READY, the STATUS reason (init containers,
//! container waiting/terminated reasons, `Completed` turned back to
//! `Running`/`NotReady`, `Terminating`, `SchedulingGated`), RESTARTS with
//! the time since the last restart, and the wide IP/NODE/NOMINATED
//! NODE/READINESS GATES columns; finished pods carry a row condition.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::cells::{
    age, arr_at, at, bool_at, deleting, int_at, is_set, name, or, str_at, text, time_at,
};
use super::descriptions as d;
use super::{AGE, Column, NAME, READY, Row, col, wide};
use crate::table::{ZERO_TIME_NANOS, since};

/// Pod columns.
pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col(
        READY,
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", d::POD_IP),
    wide("Node", "string", d::POD_NODE_NAME),
    wide("Nominated Node", "string", d::POD_NOMINATED_NODE_NAME),
    wide("Readiness Gates", "string", d::POD_READINESS_GATES),
];

/// The containers' restart count and latest restart (`lastState.terminated.finishedAt`).
#[derive(Clone, Copy)]
struct Restarts {
    count: i64,
    last: i128,
}

impl Restarts {
    const NONE: Restarts = Restarts {
        count: 0,
        last: ZERO_TIME_NANOS,
    };

    fn add(&mut self, status: &Value) {
        self.count += int_at(status, &["restartCount"]);
        if is_set(status, &["lastState", "terminated"]) {
            let finished = time_at(status, &["lastState", "terminated", "finishedAt"]);
            if self.last < finished {
                self.last = finished;
            }
        }
    }
}

/// The pod's state as `printPod` accumulates it.
struct State {
    reason: String,
    ready: i64,
    total: i64,
    restarts: Restarts,
}

/// `podutil.IsRestartableInitContainer`: a sidecar (`restartPolicy: Always`).
fn restartable(spec: &Value, container_name: &str) -> bool {
    arr_at(spec, &["initContainers"])
        .iter()
        .find(|c| str_at(c, &["name"]) == container_name)
        .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

fn condition_is_true(status: &Value, typ: &str) -> bool {
    arr_at(status, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == typ)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn has_ready_condition(status: &Value) -> bool {
    arr_at(status, &["conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == READY && str_at(c, &["status"]) == "True")
}

/// The reason of a terminated container without one: `Signal:N` or `ExitCode:N`.
fn exit_reason(terminated: &Value) -> String {
    match int_at(terminated, &["signal"]) {
        0 => format!("ExitCode:{}", int_at(terminated, &["exitCode"])),
        signal => format!("Signal:{signal}"),
    }
}

/// Walks the init container statuses; returns whether the pod is still
/// initializing (and sets the reason then), and the sidecars' restarts.
fn init_containers(spec: &Value, status: &Value, st: &mut State) -> (bool, Restarts) {
    let mut sidecars = Restarts::NONE;
    let init_count = arr_at(spec, &["initContainers"]).len();
    for (i, c) in arr_at(status, &["initContainerStatuses"])
        .iter()
        .enumerate()
    {
        st.restarts.add(c);
        let is_sidecar = restartable(spec, str_at(c, &["name"]));
        if is_sidecar {
            sidecars.add(c);
        }
        let terminated = at(c, &["state", "terminated"]);
        let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
        if terminated.is_object() && int_at(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if is_sidecar && at(c, &["started"]).as_bool() == Some(true) {
            if bool_at(c, &["ready"]) {
                st.ready += 1;
            }
            continue;
        }
        st.reason = if terminated.is_object() {
            match str_at(terminated, &["reason"]) {
                "" => format!("Init:{}", exit_reason(terminated)),
                r => format!("Init:{r}"),
            }
        } else if is_set(c, &["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{init_count}")
        };
        return (true, sidecars);
    }
    (false, sidecars)
}

/// Walks the container statuses, last first; the last one with a reason wins.
fn app_containers(status: &Value, st: &mut State) {
    let mut has_running = false;
    for c in arr_at(status, &["containerStatuses"]).iter().rev() {
        st.restarts.add(c);
        let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
        let terminated = at(c, &["state", "terminated"]);
        if is_set(c, &["state", "waiting"]) && !waiting_reason.is_empty() {
            st.reason = waiting_reason.to_string();
        } else if terminated.is_object() {
            st.reason = match str_at(terminated, &["reason"]) {
                "" => exit_reason(terminated),
                r => r.to_string(),
            };
        } else if bool_at(c, &["ready"]) && is_set(c, &["state", "running"]) {
            has_running = true;
            st.ready += 1;
        }
    }
    if st.reason == "Completed" && has_running {
        st.reason = if has_ready_condition(status) {
            "Running"
        } else {
            "NotReady"
        }
        .to_string();
    }
}

fn initial_reason(status: &Value) -> String {
    let mut reason = match str_at(status, &["reason"]) {
        "" => str_at(status, &["phase"]),
        r => r,
    };
    if arr_at(status, &["conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated";
    }
    reason.to_string()
}

fn row_conditions(phase: &str) -> Option<Value> {
    let (reason, message) = match phase {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

fn readiness_gates(spec: &Value, status: &Value) -> String {
    let gates = arr_at(spec, &["readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = arr_at(status, &["conditions"]);
    let true_count = gates
        .iter()
        .filter(|g| {
            conditions
                .iter()
                .find(|c| str_at(c, &["type"]) == str_at(g, &["conditionType"]))
                .is_some_and(|c| str_at(c, &["status"]) == "True")
        })
        .count();
    format!("{true_count}/{}", gates.len())
}

fn wide_cells(pod: &Value) -> [Value; 4] {
    let (spec, status) = (at(pod, &["spec"]), at(pod, &["status"]));
    let ip = arr_at(status, &["podIPs"])
        .first()
        .map_or("", |p| str_at(p, &["ip"]));
    [
        or(ip, "<none>"),
        or(str_at(spec, &["nodeName"]), "<none>"),
        or(str_at(status, &["nominatedNodeName"]), "<none>"),
        text(readiness_gates(spec, status)),
    ]
}

/// Prints one pod.
pub(super) fn print(pod: &Value, now: SystemTime) -> Row {
    let (spec, status) = (at(pod, &["spec"]), at(pod, &["status"]));
    let phase = str_at(status, &["phase"]);
    let sidecar_count = arr_at(spec, &["initContainers"])
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();
    let mut st = State {
        reason: initial_reason(status),
        ready: 0,
        total: (arr_at(spec, &["containers"]).len() + sidecar_count) as i64,
        restarts: Restarts::NONE,
    };
    let (initializing, sidecars) = init_containers(spec, status, &mut st);
    if !initializing || condition_is_true(status, "Initialized") {
        st.restarts = sidecars;
        app_containers(status, &mut st);
    }
    if deleting(pod) && str_at(status, &["reason"]) == "NodeLost" {
        st.reason = "Unknown".to_string();
    } else if deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        st.reason = "Terminating".to_string();
    }
    let restarts = match st.restarts {
        Restarts { count, last } if count != 0 && last != ZERO_TIME_NANOS => {
            format!("{count} ({} ago)", since(last, now))
        }
        Restarts { count, .. } => count.to_string(),
    };
    let mut cells = vec![
        name(pod),
        text(format!("{}/{}", st.ready, st.total)),
        text(st.reason),
        text(restarts),
        age(pod, now),
    ];
    cells.extend(wide_cells(pod));
    Row {
        cells,
        conditions: row_conditions(phase),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": "2025-06-01T11:00:00Z"}, "spec": spec, "status": status})
    }

    fn cells(p: &Value) -> Vec<Value> {
        print(p, now()).cells
    }

    fn running(name: &str, restarts: i64) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts, "state": {"running": {"startedAt": "2025-06-01T11:00:00Z"}}})
    }

    #[test]
    fn running_pod_with_restarts_and_wide_columns() {
        let mut c = running("app", 2);
        c["lastState"] =
            json!({"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:55:00Z"}});
        let p = pod(
            json!({"containers": [{"name": "app"}, {"name": "side"}], "nodeName": "node-1",
                   "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/other"}]}),
            json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                   "conditions": [{"type": "example.com/lb", "status": "True"}, {"type": "Ready", "status": "False"}],
                   "containerStatuses": [c, {"name": "side", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
        );
        assert_eq!(
            cells(&p),
            vec![
                json!("p"),
                json!("1/2"),
                json!("Running"),
                json!("2 (5m ago)"),
                json!("60m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("1/2")
            ]
        );
        assert!(print(&p, now()).conditions.is_none());
    }

    #[test]
    fn pending_pod_and_empty_pod() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Pending"}),
        );
        assert_eq!(
            cells(&p)[..5],
            [
                json!("p"),
                json!("0/1"),
                json!("Pending"),
                json!("0"),
                json!("60m")
            ]
        );
        let empty = cells(&json!({}));
        assert_eq!(
            empty,
            vec![
                json!(""),
                json!("0/0"),
                json!(""),
                json!("0"),
                json!("<unknown>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn init_containers() {
        let spec = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]});
        let waiting_app =
            json!([{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]);
        let st = |init: Value| json!({"phase": "Pending", "initContainerStatuses": init, "containerStatuses": waiting_app});
        let done = json!({"name": "i1", "state": {"terminated": {"exitCode": 0}}});
        let p = pod(
            spec.clone(),
            st(json!([done, {"name": "i2", "state": {"running": {}}}])),
        );
        assert_eq!(cells(&p)[2], "Init:1/2");
        let p = pod(
            spec.clone(),
            st(json!([{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}])),
        );
        assert_eq!(cells(&p)[2], "Init:0/2");
        let p = pod(
            spec.clone(),
            st(
                json!([{"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
            ),
        );
        assert_eq!(cells(&p)[2], "Init:CrashLoopBackOff");
        assert_eq!(cells(&p)[3], "3");
        let p = pod(
            spec.clone(),
            st(json!([{"name": "i1", "state": {"terminated": {"exitCode": 2}}}])),
        );
        assert_eq!(cells(&p)[2], "Init:ExitCode:2");
        let p = pod(
            spec.clone(),
            st(json!([{"name": "i1", "state": {"terminated": {"exitCode": 137, "signal": 9}}}])),
        );
        assert_eq!(cells(&p)[2], "Init:Signal:9");
        let p = pod(
            spec,
            st(
                json!([{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
            ),
        );
        assert_eq!(cells(&p)[2], "Init:Error");
    }

    #[test]
    fn sidecars_count_as_containers() {
        let spec = json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "a"}]});
        let mut proxy = running("proxy", 1);
        proxy["started"] = json!(true);
        proxy["lastState"] = json!({"terminated": {"finishedAt": "2025-06-01T11:58:00Z"}});
        let p = pod(
            spec,
            json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [proxy], "containerStatuses": [running("a", 0)]}),
        );
        assert_eq!(
            cells(&p)[1..4],
            [json!("2/2"), json!("Running"), json!("1 (2m ago)")]
        );
    }

    #[test]
    fn container_reasons() {
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let crash = json!({"name": "b", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T10:00:00Z"}}});
        let p = pod(
            spec.clone(),
            json!({"phase": "Running", "containerStatuses": [running("a", 0), crash]}),
        );
        assert_eq!(
            cells(&p)[1..4],
            [
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("5 (120m ago)")
            ]
        );
        let completed =
            json!({"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
        let p = pod(
            spec.clone(),
            json!({"phase": "Running", "containerStatuses": [running("a", 0), completed.clone()],
            "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(cells(&p)[2], "Running");
        let p = pod(
            spec.clone(),
            json!({"phase": "Running", "containerStatuses": [running("a", 0), completed.clone()]}),
        );
        assert_eq!(cells(&p)[2], "NotReady");
        let p = pod(
            spec.clone(),
            json!({"phase": "Succeeded", "containerStatuses": [completed.clone(), completed]}),
        );
        assert_eq!(cells(&p)[1..3], [json!("0/2"), json!("Completed")]);
        assert_eq!(
            print(&p, now()).conditions,
            Some(
                json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
            )
        );
        let killed = json!({"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}});
        let p = pod(
            spec,
            json!({"phase": "Failed", "containerStatuses": [killed]}),
        );
        assert_eq!(cells(&p)[2], "Signal:9");
        assert_eq!(
            print(&p, now()).conditions.unwrap()[0]["message"],
            "The pod failed."
        );
    }

    #[test]
    fn terminating_unknown_and_gated() {
        let mut p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [running("a", 0)]}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:00Z");
        assert_eq!(cells(&p)[2], "Terminating");
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(&p)[2], "Unknown");
        p["status"] = json!({"phase": "Succeeded"});
        assert_eq!(cells(&p)[2], "Succeeded");
        let gated = pod(
            json!({}),
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
        );
        assert_eq!(cells(&gated)[2], "SchedulingGated");
        let evicted = pod(json!({}), json!({"phase": "Failed", "reason": "Evicted"}));
        assert_eq!(cells(&evicted)[2], "Evicted");
    }
}
