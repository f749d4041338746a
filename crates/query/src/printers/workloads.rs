//! Printers of the pod controllers: Deployment, ReplicaSet, DaemonSet,
//! StatefulSet, ControllerRevision (`apps`), Job, CronJob (`batch`) and the
//! core ReplicationController.

use std::time::SystemTime;

use serde_json::Value;

use super::cells::{
    age, arr_at, at, bool_ptr, containers, deleting, format_label_selector, format_labels, int_at,
    name, opt_int_at, opt_str_at, selector_string, str_at, text, time_at,
};
use super::descriptions as d;
use super::{AGE, Column, NAME, PrintFn, Printer, READY, Row, col, wide};
use crate::table::{human_nanos, now_nanos, since};

const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);
const READY_COLUMN: Column = col(READY, "string", "Number of the pod with ready state");

/// The printer of an `apps` or `batch` kind (or the core
/// ReplicationController, see [`RC_COLUMNS`]).
pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let (columns, print): (&'static [Column], PrintFn) = match (group, kind) {
        ("apps", "Deployment") => (DEPLOYMENT_COLUMNS, deployment),
        ("apps", "ReplicaSet") => (REPLICASET_COLUMNS, replica_set),
        ("apps", "DaemonSet") => (DAEMONSET_COLUMNS, daemon_set),
        ("apps", "StatefulSet") => (STATEFULSET_COLUMNS, stateful_set),
        ("apps", "ControllerRevision") => (REVISION_COLUMNS, controller_revision),
        ("batch", "Job") => (JOB_COLUMNS, job),
        ("batch", "CronJob") => (CRONJOB_COLUMNS, cron_job),
        _ => return None,
    };
    Some(Printer { columns, print })
}

/// `int64(x)` of an `int32` field as an integer cell.
fn int(v: &Value, path: &[&str]) -> Value {
    Value::from(int_at(v, path))
}

/// `spec.template.spec.containers` as the CONTAINERS and IMAGES cells.
fn template_containers(obj: &Value) -> [Value; 2] {
    containers(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

/// `spec.replicas` as the internal type holds it: a stored object always has
/// it (defaulted to 1).
fn replicas(obj: &Value) -> i64 {
    int_at(obj, &["spec", "replicas"])
}

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    READY_COLUMN,
    col("Up-to-date", "string", d::DEPLOY_UPDATED),
    col("Available", "string", d::DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DEPLOY_SELECTOR),
];

fn deployment(obj: &Value, now: SystemTime) -> Row {
    let ready = int_at(obj, &["status", "readyReplicas"]);
    let mut cells = vec![
        name(obj),
        text(format!("{ready}/{}", replicas(obj))),
        int(obj, &["status", "updatedReplicas"]),
        int(obj, &["status", "availableReplicas"]),
        age(obj, now),
    ];
    cells.extend(template_containers(obj));
    cells.push(text(selector_string(at(obj, &["spec", "selector"]))));
    Row::of(cells)
}

const REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", d::RS_SPEC_REPLICAS),
    col("Current", "integer", d::RS_STATUS_REPLICAS),
    col(READY, "integer", d::RS_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RS_SELECTOR),
];

fn replica_set(obj: &Value, now: SystemTime) -> Row {
    let selector = format_label_selector(at(obj, &["spec", "selector"]));
    replicas_row(obj, now, selector)
}

/// The row of a ReplicaSet or ReplicationController: desired, current and
/// ready replicas, age, the template's containers, then `selector`.
fn replicas_row(obj: &Value, now: SystemTime, selector: String) -> Row {
    let mut cells = vec![
        name(obj),
        Value::from(replicas(obj)),
        int(obj, &["status", "replicas"]),
        int(obj, &["status", "readyReplicas"]),
        age(obj, now),
    ];
    cells.extend(template_containers(obj));
    cells.push(text(selector));
    Row::of(cells)
}

/// ReplicationController columns (core group).
pub(super) const RC_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", d::RC_SPEC_REPLICAS),
    col("Current", "integer", d::RC_STATUS_REPLICAS),
    col(READY, "integer", d::RC_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RC_SELECTOR),
];

/// Prints a ReplicationController (its selector is a label map).
pub(super) fn replication_controller(obj: &Value, now: SystemTime) -> Row {
    replicas_row(obj, now, format_labels(at(obj, &["spec", "selector"])))
}

const DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", d::DS_DESIRED),
    col("Current", "integer", d::DS_CURRENT),
    col(READY, "integer", d::DS_READY),
    col("Up-to-date", "integer", d::DS_UPDATED),
    col("Available", "integer", d::DS_AVAILABLE),
    col("Node Selector", "string", d::POD_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DS_SELECTOR),
];

fn daemon_set(obj: &Value, now: SystemTime) -> Row {
    let status = at(obj, &["status"]);
    let mut cells = vec![name(obj)];
    for field in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
    ] {
        cells.push(int(status, &[field]));
    }
    cells.push(text(format_labels(at(
        obj,
        &["spec", "template", "spec", "nodeSelector"],
    ))));
    cells.push(age(obj, now));
    cells.extend(template_containers(obj));
    cells.push(text(format_label_selector(at(obj, &["spec", "selector"]))));
    Row::of(cells)
}

const STATEFULSET_COLUMNS: &[Column] = &[NAME, READY_COLUMN, AGE, CONTAINERS, IMAGES];

fn stateful_set(obj: &Value, now: SystemTime) -> Row {
    let ready = int_at(obj, &["status", "readyReplicas"]);
    let mut cells = vec![
        name(obj),
        text(format!("{ready}/{}", replicas(obj))),
        age(obj, now),
    ];
    cells.extend(template_containers(obj));
    Row::of(cells)
}

const REVISION_COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object"),
    col("Revision", "string", d::CR_REVISION),
    AGE,
];

/// `metav1.GetControllerOf` formatted as `kind.group/name` (lower-cased
/// group kind), `<none>` without a controller.
fn controller_name(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| at(r, &["controller"]).as_bool() == Some(true))
    else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = str_at(owner, &["kind"]);
    let owner_name = str_at(owner, &["name"]);
    if kind.is_empty() && group.is_empty() {
        return owner_name.to_string();
    }
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{owner_name}", group_kind.to_lowercase())
}

fn controller_revision(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(controller_name(obj)),
        int(obj, &["revision"]),
        age(obj, now),
    ])
}

const JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col("Completions", "string", d::JOB_SUCCEEDED),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SELECTOR),
];

/// Whether the job's first condition of `typ` is `True`.
fn job_condition(obj: &Value, typ: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == typ)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_status(obj: &Value) -> &'static str {
    if job_condition(obj, "Complete") {
        "Complete"
    } else if job_condition(obj, "Failed") {
        "Failed"
    } else if deleting(obj) {
        "Terminating"
    } else if job_condition(obj, "Suspended") {
        "Suspended"
    } else if job_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(obj: &Value) -> String {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    match opt_int_at(obj, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match opt_int_at(obj, &["spec", "parallelism"]).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(obj: &Value, now: SystemTime) -> String {
    if at(obj, &["status", "startTime"]).is_null() {
        return String::new();
    }
    let start = time_at(obj, &["status", "startTime"]);
    let end = match at(obj, &["status", "completionTime"]) {
        Value::Null => now_nanos(now),
        _ => time_at(obj, &["status", "completionTime"]),
    };
    human_nanos(end - start)
}

fn job(obj: &Value, now: SystemTime) -> Row {
    let mut cells = vec![
        name(obj),
        text(job_status(obj)),
        text(job_completions(obj)),
        text(job_duration(obj, now)),
        age(obj, now),
    ];
    cells.extend(template_containers(obj));
    cells.push(text(format_label_selector(at(obj, &["spec", "selector"]))));
    Row::of(cells)
}

const CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    col("Schedule", "string", d::CJ_SCHEDULE),
    col("Timezone", "string", d::CJ_TIME_ZONE),
    col("Suspend", "boolean", d::CJ_SUSPEND),
    col("Active", "integer", d::CJ_ACTIVE),
    col("Last Schedule", "string", d::CJ_LAST_SCHEDULE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SELECTOR),
];

fn cron_job(obj: &Value, now: SystemTime) -> Row {
    let last_schedule = match at(obj, &["status", "lastScheduleTime"]) {
        Value::Null => "<none>".to_string(),
        _ => since(time_at(obj, &["status", "lastScheduleTime"]), now),
    };
    let job_spec = at(obj, &["spec", "jobTemplate", "spec"]);
    let mut cells = vec![
        name(obj),
        text(str_at(obj, &["spec", "schedule"])),
        text(opt_str_at(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
        text(bool_ptr(at(obj, &["spec", "suspend"]))),
        Value::from(arr_at(obj, &["status", "active"]).len()),
        text(last_schedule),
        age(obj, now),
    ];
    cells.extend(containers(arr_at(
        job_spec,
        &["template", "spec", "containers"],
    )));
    cells.push(text(format_label_selector(at(job_spec, &["selector"]))));
    Row::of(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;
    use serde_json::json;

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2025-05-30T12:00:00Z"})
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
    }

    #[test]
    fn deployment_row() {
        let d = json!({"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            deployment(&d, now()).cells,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        let empty = deployment(&json!({}), now()).cells;
        assert_eq!(empty[1], "0/0");
        assert_eq!(empty[7], "");
    }

    #[test]
    fn replica_sets_and_controllers() {
        let rs = json!({"metadata": meta("web-5d8f"), "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f"}}, "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            replica_set(&rs, now()).cells,
            vec![
                json!("web-5d8f"),
                json!(2),
                json!(2),
                json!(1),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web,pod-template-hash=5d8f")
            ]
        );
        assert_eq!(replica_set(&json!({}), now()).cells[7], "<none>");
        let rc = json!({"metadata": meta("old"), "spec": {"replicas": 1, "selector": {"app": "old"}, "template": template()}});
        assert_eq!(
            replication_controller(&rc, now()).cells[1..4],
            [json!(1), json!(0), json!(0)]
        );
        assert_eq!(replication_controller(&rc, now()).cells[7], "app=old");
    }

    #[test]
    fn daemon_and_stateful_sets() {
        let ds = json!({"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:1"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            daemon_set(&ds, now()).cells,
            vec![
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("2d"),
                json!("a"),
                json!("agent:1"),
                json!("app=agent")
            ]
        );
        assert_eq!(daemon_set(&json!({}), now()).cells[6], "<none>");
        let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()}, "status": {"readyReplicas": 3}});
        assert_eq!(
            stateful_set(&sts, now()).cells,
            vec![
                json!("db"),
                json!("3/3"),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox")
            ]
        );
    }

    #[test]
    fn controller_revisions() {
        let cr = json!({"metadata": {"name": "db-7c9", "creationTimestamp": "2025-06-01T11:59:00Z", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "x"},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}]}, "revision": 2});
        assert_eq!(
            controller_revision(&cr, now()).cells,
            vec![
                json!("db-7c9"),
                json!("statefulset.apps/db"),
                json!(2),
                json!("60s")
            ]
        );
        let core_owner = json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "controller": true}]}});
        assert_eq!(controller_revision(&core_owner, now()).cells[1], "node/n");
        assert_eq!(controller_revision(&json!({}), now()).cells[1], "<none>");
    }

    #[test]
    fn jobs() {
        let job_obj = |spec: Value, status: Value| json!({"metadata": meta("pi"), "spec": spec, "status": status});
        let done = job_obj(
            json!({"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}, "template": template()}),
            json!({"succeeded": 1, "startTime": "2025-06-01T11:00:00Z", "completionTime": "2025-06-01T11:00:07Z",
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            job(&done, now()).cells,
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("7s"),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("batch.kubernetes.io/controller-uid=u1")
            ]
        );
        let running = job_obj(
            json!({"parallelism": 3}),
            json!({"startTime": "2025-06-01T11:30:00Z"}),
        );
        assert_eq!(
            job(&running, now()).cells[1..4],
            [json!("Running"), json!("0/1 of 3"), json!("30m")]
        );
        let fresh = job_obj(json!({}), json!({}));
        assert_eq!(
            job(&fresh, now()).cells[1..4],
            [json!("Running"), json!("0/1"), json!("")]
        );
        let failed = job_obj(
            json!({"completions": 2}),
            json!({"conditions": [{"type": "Failed", "status": "True"}]}),
        );
        assert_eq!(
            job(&failed, now()).cells[1..3],
            [json!("Failed"), json!("0/2")]
        );
        let suspended = job_obj(
            json!({}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        assert_eq!(job(&suspended, now()).cells[1], "Suspended");
        let mut deleting = suspended;
        deleting["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:00Z");
        assert_eq!(job(&deleting, now()).cells[1], "Terminating");
    }

    #[test]
    fn cron_jobs() {
        let cj = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "timeZone": "Etc/UTC", "suspend": false,
            "jobTemplate": {"spec": {"template": template()}}},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "2025-06-01T03:00:00Z"}});
        assert_eq!(
            cron_job(&cj, now()).cells,
            vec![
                json!("nightly"),
                json!("0 3 * * *"),
                json!("Etc/UTC"),
                json!("False"),
                json!(1),
                json!("9h"),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("<none>")
            ]
        );
        let bare = cron_job(&json!({"spec": {"schedule": "@hourly"}}), now()).cells;
        assert_eq!(
            bare[2..6],
            [json!("<none>"), json!("<unset>"), json!(0), json!("<none>")]
        );
    }
}
