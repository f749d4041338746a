//! `x-kubernetes-list-type` invariants of custom resources.
//!
//! This module owns the port of apiextensions'
//! `listtype.ValidateListSetsAndMaps`: items of `set` lists must be unique
//! and items of `map` lists must be objects with unique key tuples
//! (`x-kubernetes-list-map-keys`). Duplicates are reported once, at the index
//! of their second occurrence, as `Duplicate value` errors printed the way
//! Go prints the value (`map[string]interface {}{"type":"Ready"}` for map keys).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::errors::{self, FieldError};
use super::model::{MAX_DEPTH, Schema};
use super::path::FPath;
use operatorkit_gofmt::{self as gofmt, GoNumber, go_number};

/// Validates the whole object (`ValidateListSetsAndMaps(nil, schema, obj)`).
pub(crate) fn validate(s: &Schema, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(m) = obj {
        validate_map(&FPath::nil(), s, m, 0, &mut errs);
    }
    errs
}

fn validate_map(
    p: &FPath,
    s: &Schema,
    m: &Map<String, Value>,
    depth: usize,
    errs: &mut Vec<FieldError>,
) {
    if depth > MAX_DEPTH {
        errs.push(errors::depth_exceeded(p.str()));
        return;
    }
    if let Some(ap) = s.additional_properties.as_ref().and_then(|a| a.schema()) {
        for (k, v) in m {
            validate_value(&p.key(k), ap, v, depth + 1, errs);
        }
    }
    if !s.properties.is_empty() {
        for (k, v) in m {
            if let Some(sub) = s.properties.get(k) {
                validate_value(&p.child(k), sub, v, depth + 1, errs);
            }
        }
    }
}

fn validate_value(p: &FPath, s: &Schema, v: &Value, depth: usize, errs: &mut Vec<FieldError>) {
    match v {
        Value::Array(a) => validate_array(p, s, a, depth, errs),
        Value::Object(m) => validate_map(p, s, m, depth, errs),
        _ => {}
    }
}

fn validate_array(p: &FPath, s: &Schema, a: &[Value], depth: usize, errs: &mut Vec<FieldError>) {
    if depth > MAX_DEPTH {
        errs.push(errors::depth_exceeded(p.str()));
        return;
    }
    match s.x_list_type.as_deref() {
        Some("set") => {
            for i in non_unique(a) {
                errs.push(errors::duplicate(p.index(i).str(), a[i].clone()));
            }
        }
        Some("map") => validate_list_map(p, s, a, errs),
        _ => {}
    }
    if let Some(items) = &s.items {
        for (i, v) in a.iter().enumerate() {
            validate_value(&p.index(i), items, v, depth + 1, errs);
        }
    }
}

/// The identity Go uses for set members: scalars by dynamic type and value,
/// compounds by their JSON encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SetKey {
    Unspecified,
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
    Compound(String),
}

fn set_key(v: &Value) -> SetKey {
    match v {
        Value::Null => SetKey::Null,
        Value::Bool(b) => SetKey::Bool(*b),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => SetKey::Int(i),
            GoNumber::Float(f) => SetKey::Float(if f == 0.0 { 0 } else { f.to_bits() }),
        },
        Value::String(s) => SetKey::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => SetKey::Compound(gofmt::json_marshal(v)),
    }
}

/// Indexes of the second occurrence of every duplicated key.
fn non_unique_keys(keys: &[SetKey]) -> Vec<usize> {
    if keys.len() <= 1 {
        return Vec::new();
    }
    let mut seen: HashMap<&SetKey, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let times = seen.entry(k).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(i);
        }
    }
    out
}

fn non_unique(a: &[Value]) -> Vec<usize> {
    let keys: Vec<SetKey> = a.iter().map(set_key).collect();
    non_unique_keys(&keys)
}

fn validate_list_map(p: &FPath, s: &Schema, a: &[Value], errs: &mut Vec<FieldError>) {
    for (i, x) in a.iter().enumerate() {
        if !matches!(x, Value::Object(_) | Value::Null) {
            errs.push(errors::invalid(
                p.index(i).str(),
                x.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if a.len() <= 1 {
        return;
    }
    if s.x_list_map_keys.len() == 1 {
        let key_field = &s.x_list_map_keys[0];
        let keys: Vec<(SetKey, Option<&Value>)> = a
            .iter()
            .map(|x| match x.as_object().and_then(|m| m.get(key_field)) {
                Some(k) => (set_key(k), Some(k)),
                None => (SetKey::Unspecified, None),
            })
            .collect();
        let plain: Vec<SetKey> = keys.iter().map(|(k, _)| k.clone()).collect();
        for i in non_unique_keys(&plain) {
            let value = match keys[i].1 {
                None => Value::Object(Map::new()),
                Some(k) => {
                    let mut m = Map::new();
                    m.insert(key_field.clone(), k.clone());
                    Value::Object(m)
                }
            };
            errs.push(errors::duplicate(p.index(i).str(), value));
        }
        return;
    }
    let keys: Vec<Value> = a
        .iter()
        .map(|x| {
            let mut key = Map::new();
            if let Some(m) = x.as_object() {
                for kf in &s.x_list_map_keys {
                    if let Some(k) = m.get(kf) {
                        key.insert(kf.clone(), k.clone());
                    }
                }
            }
            Value::Object(key)
        })
        .collect();
    for i in non_unique(&keys) {
        errs.push(errors::duplicate(p.index(i).str(), keys[i].clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, obj: Value) -> Vec<String> {
        let s = Schema::parse(&schema).unwrap();
        validate(&s, &obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn sets() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "zones": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "nums": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}},
            "objs": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "x-kubernetes-map-type": "atomic"}}
        }}}});
        assert_eq!(
            run(
                schema.clone(),
                json!({"spec": {"zones": ["a", "b", "a", "a", "b"]}})
            ),
            vec![
                "spec.zones[2]: Duplicate value: \"a\"",
                "spec.zones[4]: Duplicate value: \"b\"",
            ]
        );
        // int64(1) and float64(1) are different set members in Go
        assert!(run(schema.clone(), json!({"spec": {"nums": [1, 1.0]}})).is_empty());
        assert_eq!(
            run(schema, json!({"spec": {"objs": [{"a": 1}, {"a": 1.0}]}})),
            vec!["spec.objs[1]: Duplicate value: map[string]interface {}{\"a\":1}"]
        );
    }

    #[test]
    fn maps() {
        let schema = json!({"type": "object", "properties": {"status": {"type": "object", "properties": {
            "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}}}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                "items": {"type": "object"}}
        }}}});
        assert_eq!(
            run(
                schema.clone(),
                json!({"status": {"conditions": [{"type": "Ready"}, {"type": "Ready"}, {}, {}]}})
            ),
            vec![
                "status.conditions[1]: Duplicate value: map[string]interface {}{\"type\":\"Ready\"}",
                "status.conditions[3]: Duplicate value: map[string]interface {}{}",
            ]
        );
        assert_eq!(
            run(
                schema.clone(),
                json!({"status": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "TCP", "x": 1}]}})
            ),
            vec![
                "status.ports[2]: Duplicate value: map[string]interface {}{\"port\":80, \"protocol\":\"TCP\"}"
            ]
        );
        assert_eq!(
            run(
                schema,
                json!({"status": {"conditions": [{"type": "A"}, "oops"]}})
            ),
            vec![
                "status.conditions[1]: Invalid value: \"oops\": must be an object for an array of list-type map"
            ]
        );
    }

    #[test]
    fn map_keys_use_key_paths() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "groups": {"type": "object", "additionalProperties": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}
        }}}});
        assert_eq!(
            run(schema, json!({"spec": {"groups": {"foo": ["x", "x"]}}})),
            vec!["spec.groups[foo][1]: Duplicate value: \"x\""]
        );
    }
}
