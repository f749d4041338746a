//! Pruning of unknown fields.
//!
//! This module owns the port of apiextensions' `pruning.PruneWithOptions`
//! (recording the pruned paths the way `fieldValidation=Strict|Warn`
//! reports them: `spec.foo`, `spec.list[0].x`, `spec.map.key.x`) and of
//! `defaulting.PruneNonNullableNullsWithoutDefaults`.

use serde_json::Value;

use super::model::{MAX_DEPTH, Schema};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

struct Ctx {
    parent: Vec<String>,
    pruned: Vec<String>,
}

impl Ctx {
    fn push_key(&mut self, k: &str) -> usize {
        let l = self.parent.len();
        if !self.parent.is_empty() {
            self.parent.push(".".to_string());
        }
        self.parent.push(k.to_string());
        l
    }

    fn push_index(&mut self, i: usize) -> usize {
        let l = self.parent.len();
        self.parent.push(format!("[{i}]"));
        l
    }

    fn record(&mut self, k: &str) {
        let l = self.push_key(k);
        self.pruned.push(self.parent.concat());
        self.parent.truncate(l);
    }
}

/// Prunes a custom resource: the root is treated as an embedded resource,
/// so `apiVersion`, `kind` and `metadata` are kept and not descended into.
pub(crate) fn prune_root(s: &Schema, obj: &mut Value) -> Vec<String> {
    let mut ctx = Ctx {
        parent: Vec::new(),
        pruned: Vec::new(),
    };
    prune(obj, Some(s), true, &mut ctx, 0);
    ctx.pruned.sort();
    ctx.pruned
}

/// `pruning.Prune(obj, s, isResourceRoot)` without path tracking (used to
/// check that defaults are pruned).
pub(crate) fn prune_value(s: &Schema, obj: &mut Value, is_resource_root: bool) {
    let mut ctx = Ctx {
        parent: Vec::new(),
        pruned: Vec::new(),
    };
    prune(obj, Some(s), is_resource_root, &mut ctx, 0);
}

fn prune(x: &mut Value, s: Option<&Schema>, embedded_override: bool, ctx: &mut Ctx, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(s) = s
        && s.preserves_unknown_fields()
    {
        skip_prune(x, s, embedded_override, ctx, depth);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    ctx.record(&k);
                    m.remove(&k);
                }
                return;
            };
            let embedded = s.x_embedded_resource || embedded_override;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(&k) {
                    let l = ctx.push_key(&k);
                    if let Some(v) = m.get_mut(&k) {
                        prune(v, Some(prop), false, ctx, depth + 1);
                    }
                    ctx.parent.truncate(l);
                } else if let Some(ap) = &s.additional_properties {
                    let l = ctx.push_key(&k);
                    if let Some(v) = m.get_mut(&k) {
                        prune(v, ap.schema(), false, ctx, depth + 1);
                    }
                    ctx.parent.truncate(l);
                } else {
                    if !META_FIELDS.contains(&k.as_str()) || !ctx.parent.is_empty() {
                        ctx.record(&k);
                    }
                    m.remove(&k);
                }
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for (i, v) in a.iter_mut().enumerate() {
                let l = ctx.push_index(i);
                prune(v, items, false, ctx, depth + 1);
                ctx.parent.truncate(l);
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Schema, embedded_override: bool, ctx: &mut Ctx, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            let embedded = s.x_embedded_resource || embedded_override;
            for (k, v) in m.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(prop) = s.properties.get(k) {
                    let l = ctx.push_key(k);
                    prune(v, Some(prop), false, ctx, depth + 1);
                    ctx.parent.truncate(l);
                } else if let Some(ap) = &s.additional_properties {
                    let l = ctx.push_key(k);
                    prune(v, ap.schema(), false, ctx, depth + 1);
                    ctx.parent.truncate(l);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                let l = ctx.push_index(i);
                prune(v, s.items.as_deref(), false, ctx, depth + 1);
                ctx.parent.truncate(l);
            }
        }
        _ => {}
    }
}

/// `getSchemaForField`: the property schema, else the additionalProperties schema.
fn schema_for_field<'a>(k: &str, s: Option<&'a Schema>) -> Option<&'a Schema> {
    let s = s?;
    if let Some(p) = s.properties.get(k) {
        return Some(p);
    }
    s.additional_properties.as_ref().and_then(|a| a.schema())
}

/// `PruneNonNullableNullsWithoutDefaults`: removes map entries whose value is
/// `null` where the schema is not nullable and has no default.
pub(crate) fn prune_non_nullable_nulls(s: &Schema, x: &mut Value) {
    prune_nulls(x, Some(s), 0);
}

fn prune_nulls(x: &mut Value, s: Option<&Schema>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let sub = schema_for_field(&k, s);
                let drop = matches!(m.get(&k), Some(Value::Null))
                    && sub.is_some_and(|ss| !ss.nullable && ss.default.is_none());
                if drop {
                    m.remove(&k);
                } else if let Some(v) = m.get_mut(&k) {
                    prune_nulls(v, sub, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for v in a.iter_mut() {
                prune_nulls(v, items, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, mut obj: Value) -> (Value, Vec<String>) {
        let s = Schema::parse(&schema).unwrap();
        let paths = prune_root(&s, &mut obj);
        prune_non_nullable_nulls(&s, &mut obj);
        (obj, paths)
    }

    #[test]
    fn prunes_unknown_and_keeps_meta() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
            "any": {"type": "object", "additionalProperties": true}
        }}}});
        let (obj, paths) = run(
            schema,
            json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "n", "whatever": 1},
                   "spec": {"a": "x", "foo": 1, "list": [{"x": 1, "y": 2}],
                            "labels": {"k": {"v": "1", "w": "2"}},
                            "any": {"s": 1, "o": {"deep": true}}},
                   "extra": {"z": 1}}),
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "n", "whatever": 1},
                   "spec": {"a": "x", "list": [{"x": 1}], "labels": {"k": {"v": "1"}},
                            "any": {"s": 1, "o": {}}}})
        );
        assert_eq!(
            paths,
            vec![
                "extra",
                "spec.any.o.deep",
                "spec.foo",
                "spec.labels.k.w",
                "spec.list[0].y",
            ]
        );
    }

    #[test]
    fn preserve_unknown_fields_still_prunes_specified_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}}}});
        let (obj, paths) = run(
            schema,
            json!({"spec": {"free": {"anything": [1, {"x": 2}]}, "known": {"a": "1", "b": "2"}}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"free": {"anything": [1, {"x": 2}]}, "known": {"a": "1"}}})
        );
        assert_eq!(paths, vec!["spec.known.b"]);
    }

    #[test]
    fn embedded_resources_keep_type_and_object_meta() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}
        }}}});
        let (obj, paths) = run(
            schema,
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
                "spec": {"replicas": 1, "paused": true}, "status": {}}}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
                "spec": {"replicas": 1}}}})
        );
        assert_eq!(
            paths,
            vec!["spec.template.spec.paused", "spec.template.status"]
        );
    }

    #[test]
    fn nulls_are_pruned_unless_nullable_or_defaulted() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": true},
            "c": {"type": "string", "default": "x"},
            "l": {"type": "array", "items": {"type": "string"}}
        }}}});
        let (obj, paths) = run(
            schema,
            json!({"spec": {"a": null, "b": null, "c": null, "l": [null]}}),
        );
        assert_eq!(obj, json!({"spec": {"b": null, "c": null, "l": [null]}}));
        assert!(paths.is_empty());
    }

    #[test]
    fn int_or_string_objects_are_emptied() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "port": {"x-kubernetes-int-or-string": true}
        }}}});
        let (obj, paths) = run(schema, json!({"spec": {"port": {"a": 1}}}));
        assert_eq!(obj, json!({"spec": {"port": {}}}));
        assert_eq!(paths, vec!["spec.port.a"]);
    }
}
