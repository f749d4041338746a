//! Between what a client sends or reads at one API version and what the store
//! keeps: custom resources change only `apiVersion` (CRD conversion strategy
//! `None`); the two Event APIs share one collection kept in `v1` form.

use serde_json::{Map, Value};

use crate::resources::{Builtin, ResourceType};
use crate::store::{Stored, type_prefix};

/// Field renames between `events.k8s.io/v1` and `v1` Events.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// The object as the store keeps it.
pub(crate) fn to_storage(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.builtin == Some(Builtin::Event) {
        rename(&mut obj, |(new, old)| (*new, *old));
        set_type(&mut obj, "v1", "Event");
    }
    obj
}

/// The stored object as a client of `rt`'s version reads it.
pub(crate) fn from_storage(rt: &ResourceType, stored: &Value) -> Value {
    into_version(rt, stored.clone())
}

/// [`from_storage`] of an object as the store keeps it.
pub(crate) fn from_stored(rt: &ResourceType, stored: &Stored) -> Value {
    into_version(rt, stored.value())
}

/// The stored object's JSON after its type (as [`Stored::item_json`]) when
/// it is already what a client of `rt` reads, `prefix` being `rt`'s
/// [`crate::store::type_prefix`]; `None` when it needs converting.
pub(crate) fn unconverted<'a>(
    rt: &ResourceType,
    stored: &'a Stored,
    prefix: &str,
) -> Option<&'a str> {
    if rt.builtin == Some(Builtin::Event) {
        return None;
    }
    stored.item_json(prefix)
}

/// Whether the stored object's JSON is already what a client of `rt` reads.
pub(crate) fn read_as_stored(rt: &ResourceType, stored: &Stored) -> bool {
    unconverted(rt, stored, &type_prefix(&rt.api_version(), &rt.kind)).is_some()
}

/// [`from_storage`] of an object the caller owns.
pub(crate) fn into_version(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.builtin == Some(Builtin::Event) {
        rename(&mut obj, |(new, old)| (*old, *new));
    }
    set_type(&mut obj, &rt.api_version(), &rt.kind);
    obj
}

fn set_type(obj: &mut Value, api_version: &str, kind: &str) {
    if let Value::Object(map) = obj {
        map.insert("apiVersion".into(), Value::String(api_version.to_owned()));
        map.insert("kind".into(), Value::String(kind.to_owned()));
    }
}

/// Renames top-level fields; `pair` maps (events.k8s.io, v1) to (from, to).
fn rename(
    obj: &mut Value,
    pair: impl Fn(&(&'static str, &'static str)) -> (&'static str, &'static str),
) {
    let Value::Object(map) = obj else { return };
    let mut renamed = Map::new();
    for p in EVENT_FIELDS {
        let (from, to) = pair(p);
        if let Some(v) = map.remove(from) {
            renamed.insert(to.to_owned(), v);
        }
    }
    map.extend(renamed);
    // series.count / series.lastObservedTime exist in both; v1 keeps eventTime too.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_the_two_apis() {
        let reg = Registry::with_builtins();
        let v1 = reg
            .get(&crate::resources::Gvr::new("events.k8s.io", "v1", "events"))
            .unwrap();
        let core = reg
            .get(&crate::resources::Gvr::new("", "v1", "events"))
            .unwrap();
        let sent = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reportingController": "c", "reason": "R"});
        let stored = to_storage(&v1, sent.clone());
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "hello");
        let as_core = from_storage(&core, &stored);
        assert_eq!(as_core["apiVersion"], "v1");
        assert_eq!(as_core["reportingComponent"], "c");
        assert_eq!(from_storage(&v1, &stored), sent);
    }
}
