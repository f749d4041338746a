//! Drift: whether an object already is what applying a desired object would
//! make it ([`is_applied`]): every field the desired object sets has that
//! value, and the field manager owns no field the desired object no longer
//! sets.
//!
//! Server-side apply records, per manager, the fields it owns as a FieldsV1
//! trie in `metadata.managedFields[].fieldsV1`: `f:<name>` for a field of a
//! map or struct, `k:<json>` for a list element by its key fields,
//! `v:<json>` for a set element by value, `i:<n>` for an element by index,
//! and `.` for the node itself. A field this operator owns that its desired
//! object no longer sets has been removed from the desired object; the next
//! apply removes it from the object too. A plain "desired is a subset of
//! current" comparison cannot see such a removal.
//!
//! Paths are reported as `.data.key`, `.spec.containers[name=nginx].image`,
//! `.spec.ports[containerPort=80,protocol=TCP]`, `.finalizers[="a"]`,
//! `.args[2]`. Anything that cannot be read counts as removed: at worst one
//! apply too many, never a drift missed.

use serde_json::{Map, Value};

/// The paths of fields that `owned` (a FieldsV1 trie as JSON) lists but
/// `desired` (the object as it will be applied, as JSON) does not have, each
/// removed subtree reported once, at its top.
fn removed_fields(owned: &Value, desired: &Value) -> Vec<String> {
    let mut removed = Vec::new();
    if let Value::Object(trie) = owned {
        walk(trie, Some(desired), "", &mut removed);
    }
    removed
}

/// Collects into `out` the paths under `path` that `trie` owns and
/// `desired` lacks.
fn walk(trie: &Map<String, Value>, desired: Option<&Value>, path: &str, out: &mut Vec<String>) {
    for (element, children) in trie {
        if element == "." {
            continue;
        }
        let (found, here) = step(element, desired, path);
        match found {
            Some(value) if !value.is_null() => {
                if let Value::Object(children) = children {
                    walk(children, Some(value), &here, out);
                }
            }
            _ => out.push(here),
        }
    }
}

/// The value `element` names inside `desired`, and the path to it.
fn step<'a>(element: &str, desired: Option<&'a Value>, path: &str) -> (Option<&'a Value>, String) {
    if let Some(field) = element.strip_prefix("f:") {
        let found = desired
            .and_then(Value::as_object)
            .and_then(|m| m.get(field));
        return (found, format!("{path}.{field}"));
    }
    let list = desired.and_then(Value::as_array);
    if let Some(key) = element.strip_prefix("k:") {
        // An empty key would match any element: unreadable, so removed.
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
            return (None, format!("{path}[{key}]"));
        };
        if key.is_empty() {
            return (None, format!("{path}[]"));
        }
        let found = list.and_then(|l| l.iter().find(|item| matches_key(item, &key)));
        return (found, format!("{path}[{}]", describe_key(&key)));
    }
    if let Some(value) = element.strip_prefix("v:") {
        let Ok(value) = serde_json::from_str::<Value>(value) else {
            return (None, format!("{path}[={value}]"));
        };
        let found = list.and_then(|l| l.iter().find(|item| **item == value));
        return (found, format!("{path}[={value}]"));
    }
    if let Some(index) = element.strip_prefix("i:") {
        let found = index
            .parse::<usize>()
            .ok()
            .and_then(|i| list.and_then(|l| l.get(i)));
        return (found, format!("{path}[{index}]"));
    }
    (None, format!("{path}.{element}"))
}

/// Whether the list element `item` has every key field of `key`.
fn matches_key(item: &Value, key: &Map<String, Value>) -> bool {
    item.as_object()
        .is_some_and(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
}

/// `name=nginx` or `containerPort=80,protocol=TCP`.
fn describe_key(key: &Map<String, Value>) -> String {
    key.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `current` already is what applying `desired` as field manager
/// `manager` would make it: every field `desired` sets has that value, and
/// `manager` owns no field (through server-side apply) that `desired` no
/// longer sets. The drift rule of [`Operator::children`](crate::Operator::children),
/// for objects an operator applies itself (cluster-scoped ones, or ones in
/// another namespace without an owner reference): apply only when this is
/// false, and a steady state writes nothing.
pub fn is_applied<C: kube::Resource + serde::Serialize>(
    current: &C,
    desired: &C,
    manager: &str,
) -> bool {
    let (Ok(d), Ok(c)) = (serde_json::to_value(desired), serde_json::to_value(current)) else {
        return false;
    };
    is_subset(&d, &c)
        && owned_fields(current, manager).is_none_or(|owned| {
            let removed = removed_fields(&owned, &d);
            if !removed.is_empty() {
                tracing::debug!(object = %current.meta().name.as_deref().unwrap_or_default(), ?removed, "fields removed from the desired object");
            }
            removed.is_empty()
        })
}

/// The fields `manager` owns on `object` through server-side apply (its
/// `fieldsV1`), if the server records managed fields.
fn owned_fields<C: kube::Resource>(object: &C, manager: &str) -> Option<Value> {
    object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some(manager) && m.operation.as_deref() == Some("Apply"))
        .and_then(|m| m.fields_v1.as_ref())
        .map(|f| f.0.clone())
}

/// Whether every field set in `desired` has the same value in `current`
/// (fields the server added, such as defaults and metadata, are ignored).
/// Lists must have the same length, element by element.
fn is_subset(desired: &Value, current: &Value) -> bool {
    match (desired, current) {
        (Value::Object(d), Value::Object(c)) => d.iter().all(|(k, dv)| match c.get(k) {
            Some(cv) => is_subset(dv, cv),
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(c)) => {
            d.len() == c.len() && d.iter().zip(c).all(|(dv, cv)| is_subset(dv, cv))
        }
        (d, c) => d == c,
    }
}

/// Values the API server drops: null, empty objects and lists.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_additions_do_not_count_as_drift() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let current = json!({
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "7", "labels": {"x": "1", "y": "2"}},
            "data": {"k": "v"}
        });
        assert!(is_subset(&desired, &current));
    }

    #[test]
    fn changed_or_missing_fields_are_drift() {
        let current = json!({"data": {"k": "v"}, "list": [1, 2]});
        assert!(!is_subset(&json!({"data": {"k": "w"}}), &current));
        assert!(!is_subset(&json!({"data": {"other": "v"}}), &current));
        assert!(!is_subset(&json!({"list": [1]}), &current));
        assert!(is_subset(&json!({"list": [1, 2], "empty": {}}), &current));
    }

    fn configmap_fields() -> Value {
        json!({
            "f:data": {"f:a": {}, "f:b": {}},
            "f:metadata": {
                "f:labels": {"f:app.kubernetes.io/managed-by": {}},
                "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {}}
            }
        })
    }

    fn configmap(data: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "x",
                "labels": {"app.kubernetes.io/managed-by": "op"},
                "ownerReferences": [{"uid": "u1", "kind": "Widget", "controller": true}]
            },
            "data": data
        })
    }

    #[test]
    fn nothing_removed_when_desired_still_sets_everything_owned() {
        let desired = configmap(json!({"a": "1", "b": "2", "c": "new"}));
        assert!(removed_fields(&configmap_fields(), &desired).is_empty());
    }

    #[test]
    fn a_removed_data_key_a_label_or_a_whole_map_is_reported_at_its_top() {
        let desired = configmap(json!({"a": "1"}));
        assert_eq!(removed_fields(&configmap_fields(), &desired), [".data.b"]);
        let mut no_label = configmap(json!({"a": "1", "b": "2"}));
        no_label["metadata"]["labels"] = json!({});
        assert_eq!(
            removed_fields(&configmap_fields(), &no_label),
            [".metadata.labels.app.kubernetes.io/managed-by"]
        );
        let mut no_data = configmap(json!(null));
        no_data.as_object_mut().map(|o| o.remove("data"));
        assert_eq!(removed_fields(&configmap_fields(), &no_data), [".data"]);
    }

    #[test]
    fn keyed_list_elements_by_their_keys() {
        let owned = json!({"f:spec": {"f:containers": {
            "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
        }}});
        let with = json!({"spec": {"containers": [{"name": "nginx", "image": "n:1"}]}});
        assert!(removed_fields(&owned, &with).is_empty());
        let no_image = json!({"spec": {"containers": [{"name": "nginx"}]}});
        assert_eq!(
            removed_fields(&owned, &no_image),
            [".spec.containers[name=nginx].image"]
        );
        let other = json!({"spec": {"containers": [{"name": "envoy", "image": "e"}]}});
        assert_eq!(
            removed_fields(&owned, &other),
            [".spec.containers[name=nginx]"]
        );
        let ports = json!({"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}});
        let udp = json!({"ports": [{"containerPort": 80, "protocol": "UDP"}]});
        assert_eq!(
            removed_fields(&ports, &udp),
            [".ports[containerPort=80,protocol=TCP]"]
        );
    }

    #[test]
    fn set_elements_and_indexes() {
        let owned = json!({"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}, "f:args": {"i:2": {}}});
        let desired = json!({"finalizers": ["a"], "args": ["x", "y"]});
        assert_eq!(
            removed_fields(&owned, &desired),
            [".args[2]", ".finalizers[=\"b\"]"]
        );
        let desired = json!({"finalizers": ["b", "a"], "args": ["x", "y", "z"]});
        assert!(removed_fields(&owned, &desired).is_empty());
    }

    #[test]
    fn unreadable_input_counts_as_removed_and_never_panics() {
        let desired = json!({"list": [1], "map": {"k": 1}, "n": null});
        let owned = json!({
            "f:list": {"k:{not json": {}, "k:{}": {}},
            "f:map": {"k:{\"a\":1}": {}, "v:[": {}, "i:x": {}},
            "f:n": {},
            "bogus": {}
        });
        let removed = removed_fields(&owned, &desired);
        assert_eq!(removed.len(), 7, "{removed:?}");
        assert!(removed_fields(&json!("not a trie"), &desired).is_empty());
        assert!(removed_fields(&json!({"f:a": {}}), &json!(7)).len() == 1);
    }
}
