//! The Event printer (`printEvent`), for core `v1` Events and
//! `events.k8s.io/v1` Events alike (kube-apiserver converts both to the same
//! internal type; here the `events.k8s.io` field names are read instead):
//! LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, and wide SUBOBJECT, SOURCE,
//! FIRST SEEN, COUNT, NAME.

use std::time::SystemTime;

use serde_json::Value;

use super::cells::{int_at, is_set, name, str_at, text, time_at};
use super::descriptions as d;
use super::{Column, NAME, Row, col, wide};
use crate::table::{ZERO_TIME_NANOS, since};

/// Event columns.
pub(super) const COLUMNS: &[Column] = &[
    col("Last Seen", "string", d::EV_LAST_TIMESTAMP),
    col("Type", "string", d::EV_TYPE),
    col("Reason", "string", d::EV_REASON),
    col("Object", "string", d::EV_INVOLVED_OBJECT),
    wide("Subobject", "string", d::EV_FIELD_PATH),
    wide("Source", "string", d::EV_SOURCE),
    col("Message", "string", d::EV_MESSAGE),
    wide("First Seen", "string", d::EV_FIRST_TIMESTAMP),
    wide("Count", "string", d::EV_COUNT),
    Column {
        priority: 1,
        ..NAME
    },
];

/// The JSON names of the fields that differ between the two Event APIs.
struct Fields {
    involved: &'static str,
    message: &'static str,
    source: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    controller: &'static str,
}

const CORE: Fields = Fields {
    involved: "involvedObject",
    message: "message",
    source: "source",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    controller: "reportingComponent",
};

const EVENTS_K8S_IO: Fields = Fields {
    involved: "regarding",
    message: "note",
    source: "deprecatedSource",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    controller: "reportingController",
};

/// `formatEventSource`: component (or the reporting controller), then
/// `, host` (or the reporting instance) when there is one.
fn source(ev: &Value, f: &Fields) -> String {
    let first_non_empty = |a: &'static str, b: &'static str, c: &'static str| -> String {
        match str_at(ev, &[a, b]) {
            "" => str_at(ev, &[c]).to_string(),
            s => s.to_string(),
        }
    };
    let component = first_non_empty(f.source, "component", f.controller);
    let host = first_non_empty(f.source, "host", "reportingInstance");
    if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    }
}

/// Prints a core `v1` Event.
pub(super) fn print_core(ev: &Value, now: SystemTime) -> Row {
    print(ev, now, &CORE)
}

/// Prints an `events.k8s.io/v1` Event.
pub(super) fn print_events_k8s_io(ev: &Value, now: SystemTime) -> Row {
    print(ev, now, &EVENTS_K8S_IO)
}

fn print(ev: &Value, now: SystemTime, f: &Fields) -> Row {
    let first_time = time_at(ev, &[f.first]);
    let first = if first_time == ZERO_TIME_NANOS {
        since(time_at(ev, &["eventTime"]), now)
    } else {
        since(first_time, now)
    };
    let last_time = time_at(ev, &[f.last]);
    let mut last = if last_time == ZERO_TIME_NANOS {
        first.clone()
    } else {
        since(last_time, now)
    };
    let mut count = int_at(ev, &[f.count]);
    if is_set(ev, &["series"]) {
        last = since(time_at(ev, &["series", "lastObservedTime"]), now);
        count = int_at(ev, &["series", "count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(ev, &[f.involved, "kind"]).to_lowercase();
    let target = match str_at(ev, &[f.involved, "name"]) {
        "" => kind,
        object => format!("{kind}/{object}"),
    };
    Row::of(vec![
        text(last),
        text(str_at(ev, &["type"])),
        text(str_at(ev, &["reason"])),
        text(target),
        text(str_at(ev, &[f.involved, "fieldPath"])),
        text(source(ev, f)),
        text(str_at(ev, &[f.message]).trim()),
        text(first),
        Value::from(count),
        name(ev),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;
    use serde_json::json;

    #[test]
    fn core_event() {
        let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1849"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "message": "  Successfully pulled image \"nginx\"\n", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
            "firstTimestamp": "2025-06-01T11:00:00Z", "lastTimestamp": "2025-06-01T11:59:00Z"});
        assert_eq!(
            print_core(&ev, now()).cells,
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image \"nginx\""),
                json!("60m"),
                json!(3),
                json!("web.1849")
            ]
        );
    }

    #[test]
    fn event_time_series_and_defaults() {
        let ev = json!({"metadata": {"name": "e"}, "eventTime": "2025-06-01T11:50:00.123456Z", "reportingComponent": "ctrl",
            "reportingInstance": "ctrl-1", "involvedObject": {"kind": "Node"}, "type": "Warning", "reason": "X",
            "series": {"count": 7, "lastObservedTime": "2025-06-01T11:59:30.000000Z"}});
        let cells = print_core(&ev, now()).cells;
        assert_eq!(cells[0], "30s");
        assert_eq!(cells[3], "node");
        assert_eq!(cells[5], "ctrl, ctrl-1");
        // 9m59.876544s: Go truncates to seconds too.
        assert_eq!(cells[7..9], [json!("9m59s"), json!(7)]);
        let bare = print_core(&json!({}), now()).cells;
        assert_eq!(
            bare,
            vec![
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!(""),
                json!(""),
                json!(""),
                json!(""),
                json!("<unknown>"),
                json!(1),
                json!("")
            ]
        );
    }

    #[test]
    fn events_k8s_io_event() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
            "regarding": {"kind": "Deployment", "name": "web"}, "note": "Scaled up", "reason": "ScalingReplicaSet",
            "type": "Normal", "reportingController": "deployment-controller", "eventTime": null,
            "deprecatedFirstTimestamp": "2025-06-01T11:00:00Z", "deprecatedLastTimestamp": "2025-06-01T11:30:00Z", "deprecatedCount": 2});
        assert_eq!(
            print_events_k8s_io(&ev, now()).cells,
            vec![
                json!("30m"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up"),
                json!("60m"),
                json!(2),
                json!("e2")
            ]
        );
    }
}
