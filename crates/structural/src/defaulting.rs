//! Structural defaulting.
//!
//! This module owns the port of apiextensions' `defaulting.Default`: for
//! objects, missing properties with a default (and non-nullable `null`s
//! with a default) get a deep copy of the default, then every present
//! property is defaulted recursively (top-down, so defaulted objects get
//! their own nested defaults); `additionalProperties` values and array items
//! are defaulted with their schema, `null` items/values being replaced when
//! the item/value schema is non-nullable.

use serde_json::Value;

use super::model::{MAX_DEPTH, Schema};

fn is_non_nullable_null(x: &Value, s: Option<&Schema>) -> bool {
    x.is_null() && s.is_some_and(|s| !s.nullable)
}

/// `Default(x, s)`.
pub(crate) fn default(s: &Schema, x: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing_or_null = match m.get(k) {
                    None => true,
                    Some(v) => is_non_nullable_null(v, Some(prop)),
                };
                if missing_or_null {
                    m.insert(k.clone(), d.clone());
                }
            }
            let ap = s.additional_properties.as_ref().and_then(|a| a.schema());
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    default(prop, v, depth + 1);
                } else if let Some(aps) = ap {
                    if is_non_nullable_null(v, Some(aps)) {
                        *v = aps.default.clone().unwrap_or(Value::Null);
                    }
                    default(aps, v, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s.items.as_deref() else {
                return;
            };
            for v in a.iter_mut() {
                if is_non_nullable_null(v, Some(items)) {
                    *v = items.default.clone().unwrap_or(Value::Null);
                }
                default(items, v, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, mut obj: Value) -> Value {
        let s = Schema::parse(&schema).unwrap();
        default(&s, &mut obj, 0);
        obj
    }

    #[test]
    fn defaults_top_down() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "etcd": {"type": "object", "default": {}, "properties": {"port": {"type": "integer", "default": 2379}}},
            "kube": {"type": "object", "default": {"apiPort": 443}, "properties": {
                "apiPort": {"type": "integer", "default": 6443},
                "domain": {"type": "string", "default": "cluster.local"}}},
            "workers": {"type": "array", "default": [], "items": {"type": "object", "properties": {
                "disk": {"type": "string", "default": "20Gi"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "w": {"type": "integer", "default": 1}}}},
            "absent": {"type": "object", "properties": {"x": {"type": "string", "default": "never"}}}
        }}}});
        let obj = run(
            schema,
            json!({"spec": {"workers": [{}, {"disk": "1Gi"}], "labels": {"a": {}, "b": {"w": 5}}}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {
                "etcd": {"port": 2379},
                "kube": {"apiPort": 443, "domain": "cluster.local"},
                "workers": [{"disk": "20Gi"}, {"disk": "1Gi"}],
                "labels": {"a": {"w": 1}, "b": {"w": 5}}
            }})
        );
    }

    #[test]
    fn null_replaced_only_when_not_nullable() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "nullable": true, "default": "y"},
            "l": {"type": "array", "items": {"type": "string", "default": "z"}},
            "m": {"type": "object", "additionalProperties": {"type": "string", "default": "w"}}
        }});
        let obj = run(
            schema,
            json!({"a": null, "b": null, "l": [null, "q"], "m": {"k": null}}),
        );
        assert_eq!(
            obj,
            json!({"a": "x", "b": null, "l": ["z", "q"], "m": {"k": "w"}})
        );
    }
}
