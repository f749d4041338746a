//! The JSON Schemas of the built-in kinds as kube-apiserver publishes them in
//! its OpenAPI documents: generated from k8s-openapi's types (the Go doc
//! comments as descriptions, kube-apiserver's schema names such as
//! `io.k8s.api.core.v1.Pod`), with `x-kubernetes-group-version-kind` on each
//! kind and its list, and the `x-kubernetes-patch-*` / `x-kubernetes-list-*`
//! markers of the strategic merge table ([`operatorkit_strategic_merge::KINDS`]).

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::ReplaceBoolSchemas;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::resources::types::{self, KindVisitor};
use crate::resources::{ALL_KINDS, Builtin, ResourceType};
use operatorkit_strategic_merge::{FieldType, PatchMeta, Strategy};

/// Which OpenAPI the schemas are for: where `$ref`s point, and whether a
/// `$ref` with a description is wrapped in `allOf` (v3) or not (v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// OpenAPI 3.0 (`#/components/schemas/`).
    V3,
    /// Swagger 2.0 (`#/definitions/`).
    V2,
}

impl Flavor {
    /// The prefix of a `$ref` to a named schema.
    pub(crate) fn ref_prefix(self) -> &'static str {
        match self {
            Flavor::V3 => "#/components/schemas/",
            Flavor::V2 => "#/definitions/",
        }
    }

    /// A `$ref` to `name`.
    pub(crate) fn reference(self, name: &str) -> Value {
        json!({"$ref": format!("{}{name}", self.ref_prefix())})
    }

    /// A `$ref` to `name` with a description, as kube-apiserver writes one.
    pub(crate) fn described_reference(self, name: &str, description: &str) -> Value {
        match self {
            Flavor::V3 => json!({"allOf": [self.reference(name)], "description": description}),
            Flavor::V2 => {
                json!({"$ref": format!("{}{name}", self.ref_prefix()), "description": description})
            }
        }
    }
}

/// The name kube-apiserver gives the schema of `rt`'s kind: the Go package
/// path for built-ins, the reversed group for custom resources
/// (`com.example.v1.Widget`).
pub(crate) fn schema_name(rt: &ResourceType) -> String {
    if let Some(b) = rt.builtin {
        return types::visit(b, Name);
    }
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
}

struct Name;

impl KindVisitor for Name {
    type Output = String;
    fn visit<T: JsonSchema>(self) -> String {
        T::schema_name().into_owned()
    }
}

/// The schema name of `ObjectMeta`.
pub(crate) fn object_meta_name() -> String {
    ObjectMeta::schema_name().into_owned()
}

/// The schema name of `Status`.
pub(crate) fn status_name() -> String {
    Status::schema_name().into_owned()
}

/// The schema name of `ListMeta`.
pub(crate) fn list_meta_name() -> String {
    ListMeta::schema_name().into_owned()
}

/// Every built-in kind's schema, its list's, and every schema they refer to,
/// by name; generated once per flavor.
pub(crate) fn builtin(flavor: Flavor) -> &'static Map<String, Value> {
    static V3: OnceLock<Map<String, Value>> = OnceLock::new();
    static V2: OnceLock<Map<String, Value>> = OnceLock::new();
    let cell = match flavor {
        Flavor::V3 => &V3,
        Flavor::V2 => &V2,
    };
    cell.get_or_init(|| generate(flavor))
}

fn generator(flavor: Flavor) -> SchemaGenerator {
    match flavor {
        Flavor::V3 => SchemaSettings::openapi3().with(|s| s.meta_schema = None),
        Flavor::V2 => SchemaSettings::draft07().with(|s| {
            s.meta_schema = None;
            let mut bools = ReplaceBoolSchemas::default();
            bools.skip_additional_properties = true;
            s.transforms = vec![Box::new(bools)];
        }),
    }
    .into_generator()
}

struct Subschema<'a>(&'a mut SchemaGenerator);

impl KindVisitor for Subschema<'_> {
    type Output = Schema;
    fn visit<T: JsonSchema>(self) -> Schema {
        self.0.subschema_for::<T>()
    }
}

fn generate(flavor: Flavor) -> Map<String, Value> {
    let mut generator = generator(flavor);
    generator.subschema_for::<ObjectMeta>();
    generator.subschema_for::<ListMeta>();
    generator.subschema_for::<Status>();
    for b in ALL_KINDS {
        types::visit(b, Subschema(&mut generator));
    }
    let mut defs = generator.take_definitions(true);
    let registry = crate::resources::Registry::with_builtins();
    for rt in registry.all() {
        let name = schema_name(&rt);
        let gvk = |kind: &str| json!([{"group": rt.group, "kind": kind, "version": rt.version}]);
        if let Some(schema) = defs.get_mut(&name) {
            schema["x-kubernetes-group-version-kind"] = gvk(&rt.kind);
        }
        if !rt.builtin.is_some_and(Builtin::is_review) {
            let mut list = list_schema(flavor, &name, &rt.kind);
            list["x-kubernetes-group-version-kind"] = gvk(&rt.list_kind());
            defs.insert(format!("{name}List"), list);
        }
    }
    mark_patch_fields(&mut defs, flavor, &registry);
    as_kube_apiserver_writes(&mut defs, flavor);
    defs
}

/// `IntOrString` and `Quantity` as kube-apiserver's OpenAPI writes them
/// (k8s-openapi marks both `x-kubernetes-int-or-string`, the CRD way).
fn as_kube_apiserver_writes(defs: &mut Map<String, Value>, flavor: Flavor) {
    let int_or_string = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
    let quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
    let quantity_type = match flavor {
        Flavor::V3 => json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
        Flavor::V2 => json!({"type": "string"}),
    };
    let replacements = [
        (
            int_or_string,
            json!({"format": "int-or-string", "type": "string"}),
        ),
        (quantity, quantity_type),
    ];
    for (name, mut schema) in replacements {
        if let Some(old) = defs.get(name) {
            schema["description"] = old.get("description").cloned().unwrap_or_default();
            defs.insert(name.to_owned(), schema);
        }
    }
}

/// The schema of `<kind>List`, whose items are of the schema `item`.
pub(crate) fn list_schema(flavor: Flavor, item: &str, kind: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION, "type": "string"},
            "kind": {"description": KIND, "type": "string"},
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": flavor.reference(item),
            },
            "metadata": flavor.described_reference(&list_meta_name(), LIST_METADATA),
        },
    })
}

/// kube-apiserver's description of `apiVersion`.
pub(crate) const API_VERSION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
/// kube-apiserver's description of `kind`.
pub(crate) const KIND: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
/// kube-apiserver's description of an object's `metadata`.
pub(crate) const METADATA: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Adds the patch markers of every served kind the strategic merge table
/// describes.
fn mark_patch_fields(
    defs: &mut Map<String, Value>,
    flavor: Flavor,
    registry: &crate::resources::Registry,
) {
    let mut seen = HashSet::new();
    for (group, kind, meta) in operatorkit_strategic_merge::KINDS {
        let Some(rt) = registry
            .all()
            .into_iter()
            .find(|rt| rt.group == *group && rt.kind == *kind)
        else {
            continue;
        };
        mark(defs, flavor, &schema_name(&rt), meta, &mut seen);
    }
}

fn mark(
    defs: &mut Map<String, Value>,
    flavor: Flavor,
    name: &str,
    meta: &'static PatchMeta,
    seen: &mut HashSet<(String, usize)>,
) {
    if !seen.insert((name.to_owned(), std::ptr::from_ref(meta) as usize)) {
        return;
    }
    for field in meta.fields {
        let Some(property) = defs
            .get_mut(name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(field.name))
        else {
            continue;
        };
        set_markers(property, field);
        let target = referenced(property, flavor.ref_prefix());
        if let (Some(child), Some(target)) = (field.child(), target) {
            mark(defs, flavor, &target, child, seen);
        }
    }
}

fn set_markers(property: &mut Value, field: &operatorkit_strategic_merge::FieldMeta) {
    if let Some(strategy) = field.patch_strategy_tag() {
        property["x-kubernetes-patch-strategy"] = strategy.into();
    }
    if let Some(key) = field.merge_key {
        property["x-kubernetes-patch-merge-key"] = key.into();
    }
    match (field.strategy, field.ty, field.merge_key) {
        (Strategy::Merge, FieldType::ListOf(_), Some(key)) => {
            // Ports are keyed by number and protocol (structured-merge-diff's
            // keys), merged by number alone (the strategic merge key).
            let keys = if matches!(key, "containerPort" | "port") {
                json!([key, "protocol"])
            } else {
                json!([key])
            };
            property["x-kubernetes-list-type"] = "map".into();
            property["x-kubernetes-list-map-keys"] = keys;
        }
        (Strategy::Merge, FieldType::ListOfScalars(_), _) => {
            property["x-kubernetes-list-type"] = "set".into();
        }
        _ => {}
    }
}

/// The named schema a property refers to: directly, through `allOf`, or as
/// its items.
fn referenced(property: &Value, prefix: &str) -> Option<String> {
    let of = |s: &Value| -> Option<String> {
        let target = s
            .get("$ref")
            .or_else(|| s.get("allOf")?.get(0)?.get("$ref"))?;
        Some(target.as_str()?.strip_prefix(prefix)?.to_owned())
    };
    of(property).or_else(|| of(property.get("items")?))
}

/// The schemas named `roots` and every schema they refer to, from `defs`.
pub(crate) fn reachable(
    defs: &Map<String, Value>,
    roots: &[String],
    prefix: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = defs.get(&name) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        collect_refs(schema, prefix, &mut refs, 0);
        todo.extend(refs);
        out.insert(name, schema.clone());
    }
    out
}

/// The names `$ref`ed anywhere in `v`.
pub(crate) fn collect_refs(v: &Value, prefix: &str, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                match (k.as_str(), child.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(name) = r.strip_prefix(prefix) {
                            out.insert(name.to_owned());
                        }
                    }
                    _ => collect_refs(child, prefix, out, depth + 1),
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|c| collect_refs(c, prefix, out, depth + 1)),
        _ => {}
    }
}
