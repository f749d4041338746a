//! The fields a typed decoder knows: the OpenAPI schema of each built-in kind
//! (k8s-openapi's, for the Kubernetes minor it is built for) and of
//! `ObjectMeta`, walked over an object to drop what they do not declare, as
//! kube-apiserver's typed decoding does.

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::resources::ALL_KINDS;
use crate::resources::Builtin;
use crate::resources::types::{self, KindVisitor};

/// Objects nested deeper than this are not walked.
const MAX_DEPTH: usize = 128;

/// Drops the fields of `obj` that kind `b` does not declare; returns their
/// paths in the order a decoder meets them (keys sorted, as stored).
pub(crate) fn prune(b: Builtin, obj: &mut Value) -> Vec<String> {
    let Some(root) = schemas().kinds.get(&b) else {
        return Vec::new();
    };
    let mut walk = Walk::new(root);
    walk.value(root, obj, "", 0);
    walk.unknown
}

/// Drops the fields of `obj.metadata` that `ObjectMeta` does not declare (a
/// custom resource's metadata is typed, whatever its schema).
pub(crate) fn prune_metadata(obj: &mut Value) -> Vec<String> {
    let root = &schemas().object_meta;
    let mut walk = Walk::new(root);
    if let Some(meta) = obj.get_mut("metadata") {
        walk.value(root, meta, "metadata", 1);
    }
    walk.unknown
}

struct Schemas {
    kinds: HashMap<Builtin, Value>,
    object_meta: Value,
}

/// Every built-in kind's schema, generated once.
fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas {
        kinds: ALL_KINDS.iter().map(|b| (*b, kind_schema(*b))).collect(),
        object_meta: root::<ObjectMeta>(),
    })
}

fn root<T: JsonSchema>() -> Value {
    schemars::SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value()
}

fn kind_schema(b: Builtin) -> Value {
    struct Root;
    impl KindVisitor for Root {
        type Output = Value;
        fn visit<T: JsonSchema>(self) -> Value {
            root::<T>()
        }
    }
    types::visit(b, Root)
}

/// A walk of an object along a root schema and its `$defs`.
struct Walk<'a> {
    defs: Option<&'a Map<String, Value>>,
    unknown: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(root: &'a Value) -> Self {
        Self {
            defs: root.get("$defs").and_then(Value::as_object),
            unknown: Vec::new(),
        }
    }

    /// The schema `s` stands for, following `$ref`s into `$defs`.
    fn resolve(&self, mut s: &'a Value) -> &'a Value {
        for _ in 0..MAX_DEPTH {
            let Some(target) = s.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(def) = target
                .strip_prefix("#/$defs/")
                .and_then(|name| self.defs?.get(name))
            else {
                break;
            };
            s = def;
        }
        s
    }

    fn value(&mut self, schema: &'a Value, v: &mut Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = self.resolve(schema);
        match v {
            Value::Object(map) => self.object(schema, map, path, depth),
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter_mut().enumerate() {
                        self.value(item, v, &format!("{path}[{i}]"), depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn object(
        &mut self,
        schema: &'a Value,
        map: &mut Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        if properties.is_none() && !additional.is_some_and(Value::is_object) {
            // Free-form (RawExtension, JSON): anything goes.
            return;
        }
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let child = properties
                .and_then(|p| p.get(&key))
                .or(additional.filter(|a| a.is_object()));
            match (child, map.get_mut(&key)) {
                (Some(s), Some(v)) => self.value(s, v, &field, depth + 1),
                (None, _) if additional != Some(&Value::Bool(true)) => {
                    map.remove(&key);
                    self.unknown.push(field);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_of_built_in_kinds_are_dropped_and_named() {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"any": "x"}, "unknownMeta": 1},
            "spec": {"unknown1": 1, "replicas": 1,
                     "template": {"spec": {"containers": [{"name": "c", "unknownNested": 1,
                        "resources": {"limits": {"cpu": 1}}}]}}},
            "status": {"replicas": 1}
        });
        let unknown = prune(Builtin::Deployment, &mut d);
        assert_eq!(
            unknown,
            [
                "metadata.unknownMeta",
                "spec.template.spec.containers[0].unknownNested",
                "spec.unknown1"
            ]
        );
        assert!(d["metadata"].get("unknownMeta").is_none());
        assert!(d["spec"].get("unknown1").is_none());
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            1
        );
        assert_eq!(d["metadata"]["labels"]["any"], "x");
    }

    #[test]
    fn every_kind_has_a_schema_that_knows_its_own_fields() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"a": "1"}, "binaryData": {"b": "AA=="}, "immutable": true, "bogus": 1});
        assert_eq!(prune(Builtin::ConfigMap, &mut cm), ["bogus"]);
        for b in ALL_KINDS {
            let s = &schemas().kinds[&b];
            assert!(s.get("properties").is_some(), "{b:?}");
            let mut minimal = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}});
            assert!(prune(b, &mut minimal).is_empty(), "{b:?}");
        }
        // Free-form fields of a CRD's schema (JSON) are not pruned.
        let mut crd = json!({"spec": {"versions": [{"schema": {"openAPIV3Schema": {
            "type": "object", "default": {"anything": {"goes": 1}}}}}]}});
        assert!(prune(Builtin::CustomResourceDefinition, &mut crd).is_empty());
    }

    #[test]
    fn custom_resource_metadata_is_typed() {
        let mut cr = json!({"metadata": {"name": "w", "bogus": 1}, "spec": {"free": 1}});
        assert_eq!(prune_metadata(&mut cr), ["metadata.bogus"]);
        assert_eq!(cr["spec"]["free"], 1);
    }
}
