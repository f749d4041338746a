//! The OpenAPI documents kubectl reads: `/openapi/v3` (the index),
//! `/openapi/v3/api/v1` and `/openapi/v3/apis/<g>/<v>` (one group-version
//! each), and `/openapi/v2` (everything, Swagger 2.0). Each carries the
//! object paths of the served resources, with their GVK and the
//! `fieldValidation` parameter (so kubectl leaves validation to the server),
//! and the schemas of their kinds: built-ins from `discovery::schemas`, custom
//! resources from their CRD version's `openAPIV3Schema`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::schemas::{self, Flavor};
use super::{Served, in_group_version, ordered_groups};
use crate::resources::{Registry, ResourceType};

const INFO_TITLE: &str = "Kubernetes";
const INFO_VERSION: &str = "v1.33.0";

/// The OpenAPI v3 documents of one state of the [`Registry`], serialized
/// and hashed once: kubectl reads the index at every command, and the index
/// carries every document's hash.
#[derive(Default)]
pub(crate) struct Cache(Mutex<Option<Arc<V3Documents>>>);

impl Cache {
    /// The documents of what `registry` serves now.
    pub(crate) fn get(&self, registry: &Registry) -> Arc<V3Documents> {
        let generation = registry.generation();
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.as_ref().filter(|c| c.generation == generation) {
            return Arc::clone(c);
        }
        let fresh = Arc::new(V3Documents::of(registry, generation));
        *cached = Some(Arc::clone(&fresh));
        fresh
    }
}

/// Every v3 document (JSON and hash, by path) and the index of them.
pub(crate) struct V3Documents {
    generation: u64,
    documents: BTreeMap<String, (Bytes, String)>,
    index: Bytes,
}

impl V3Documents {
    fn of(registry: &Registry, generation: u64) -> Self {
        let mut documents = BTreeMap::new();
        for (group, version) in group_versions(registry) {
            if let Some(doc) = v3(registry, &group, &version) {
                let body = serde_json::to_vec(&doc).unwrap_or_default();
                let hash = super::hash(&body);
                documents.insert(v3_path(&group, &version), (Bytes::from(body), hash));
            }
        }
        let index = index(documents.iter().map(|(p, (_, h))| (p.as_str(), h.as_str())));
        let index = Bytes::from(serde_json::to_vec(&index).unwrap_or_default());
        Self {
            generation,
            documents,
            index,
        }
    }

    /// `/openapi/v3`, as JSON.
    pub(crate) fn index(&self) -> Bytes {
        self.index.clone()
    }

    /// The JSON and hash of the document at `path`, if served.
    pub(crate) fn document(&self, path: &str) -> Option<(Bytes, &str)> {
        let (body, hash) = self.documents.get(path)?;
        Some((body.clone(), hash.as_str()))
    }
}

/// Every served group-version, core first, the others in discovery's order.
pub(crate) fn group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut versions = vec![(String::new(), "v1".to_owned())];
    for (g, vs) in ordered_groups(registry) {
        versions.extend(vs.into_iter().map(|v| (g.clone(), v)));
    }
    versions
}

/// `/openapi/v3`: one entry per group-version document, given as its path
/// and hash, the URL carrying the hash (as kube-apiserver's does, so clients
/// may cache the document for good).
pub(crate) fn index<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut paths = Map::new();
    for (path, hash) in documents {
        let key = path.trim_start_matches("/openapi/v3/").to_owned();
        let url = format!("{path}?hash={hash}");
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// The path of the v3 document of `group`/`version`.
pub(crate) fn v3_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/openapi/v3/api/{version}")
    } else {
        format!("/openapi/v3/apis/{group}/{version}")
    }
}

/// `/openapi/v3/...` of one group-version, if served.
pub(crate) fn v3(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let served = in_group_version(registry, group, version);
    if served.is_empty() {
        return None;
    }
    let flavor = Flavor::V3;
    let mut paths = Map::new();
    let mut roots = vec![schemas::status_name()];
    let mut custom = Map::new();
    for s in &served {
        paths.extend(resource_paths(s, flavor));
        let name = schemas::schema_name(&s.rt);
        if s.rt.custom.is_some() {
            custom.insert(name.clone(), custom_schema(&s.rt, flavor));
            let list = custom_list(&s.rt, &name, flavor);
            custom.insert(format!("{name}List"), list);
            roots.push(schemas::object_meta_name());
            roots.push(schemas::list_meta_name());
        } else {
            roots.push(format!("{name}List"));
            roots.push(name);
        }
    }
    let mut components = schemas::reachable(schemas::builtin(flavor), &roots, flavor.ref_prefix());
    components.extend(custom);
    components.insert(PATCH.to_owned(), patch_schema());
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": INFO_TITLE, "version": INFO_VERSION},
        "paths": paths,
        "components": {"schemas": components},
    }))
}

/// `/openapi/v2`: every served path and every schema, custom resources'
/// converted to what Swagger 2.0 can say.
pub(crate) fn v2(registry: &Registry) -> Value {
    let flavor = Flavor::V2;
    let mut definitions = schemas::builtin(flavor).clone();
    definitions.insert(PATCH.to_owned(), patch_schema());
    let mut paths = Map::new();
    for (group, version) in group_versions(registry) {
        for s in in_group_version(registry, &group, &version) {
            paths.extend(resource_paths(&s, flavor));
            if s.rt.custom.is_some() {
                let name = schemas::schema_name(&s.rt);
                let list = custom_list(&s.rt, &name, flavor);
                definitions.insert(format!("{name}List"), list);
                definitions.insert(name, custom_schema(&s.rt, flavor));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": INFO_TITLE, "version": INFO_VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

/// The paths of `s` with the operations its verbs allow: the collection
/// (list, create, deletecollection), every namespace's collection (list), the
/// object (get, put, patch, delete) and its status.
fn resource_paths(s: &Served, flavor: Flavor) -> Map<String, Value> {
    let rt = &s.rt;
    let (prefix, collection) = collection_path(rt);
    let ops = Ops {
        flavor,
        rt,
        kind: schemas::schema_name(rt),
        list: format!("{}List", schemas::schema_name(rt)),
    };
    let has = |verb: &str| s.verbs.contains(&verb);
    let mut out = Map::new();
    if rt.namespaced && has("list") {
        let everywhere = json!({"get": ops.op("list", &ops.list, false)});
        out.insert(format!("{prefix}/{}", rt.plural), everywhere);
    }
    if rt.status_subresource {
        let status = json!({"get": ops.get(), "put": ops.put(), "patch": ops.patch()});
        out.insert(format!("{collection}/{{name}}/status"), status);
    }
    let status = schemas::status_name();
    let on_collection = [
        ("get", "list", ops.op("list", &ops.list, false)),
        (
            "post",
            "create",
            ops.with_body(ops.op("post", &ops.kind, true)),
        ),
        (
            "delete",
            "deletecollection",
            ops.op("deletecollection", &status, true),
        ),
    ];
    let on_item = [
        ("get", "get", ops.get()),
        ("put", "update", ops.put()),
        ("patch", "patch", ops.patch()),
        ("delete", "delete", ops.op("delete", &ops.kind, true)),
    ];
    let item = format!("{collection}/{{name}}");
    for (path, operations) in [
        (item, on_item.to_vec()),
        (collection, on_collection.to_vec()),
    ] {
        let served: Map<String, Value> = operations
            .into_iter()
            .filter(|(_, verb, _)| has(verb))
            .map(|(method, _, op)| (method.to_owned(), op))
            .collect();
        if !served.is_empty() {
            out.insert(path, served.into());
        }
    }
    out
}

/// The group-version's path and the path of `rt`'s collection (in a
/// namespace, if namespaced).
fn collection_path(rt: &ResourceType) -> (String, String) {
    let prefix = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    let collection = if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    };
    (prefix, collection)
}

/// The operations of one resource's paths, in one flavor.
struct Ops<'a> {
    flavor: Flavor,
    rt: &'a ResourceType,
    /// The schema of the kind.
    kind: String,
    /// The schema of its list.
    list: String,
}

impl Ops<'_> {
    fn get(&self) -> Value {
        self.op("get", &self.kind, false)
    }

    fn put(&self) -> Value {
        self.with_body(self.op("put", &self.kind, true))
    }

    /// An operation answering the schema `response`; a write takes the
    /// write parameters (dryRun, fieldManager, fieldValidation, force).
    fn op(&self, action: &str, response: &str, write: bool) -> Value {
        let rt = self.rt;
        let reference = self.flavor.reference(response);
        let response = match self.flavor {
            Flavor::V3 => {
                json!({"description": "OK", "content": {"application/json": {"schema": reference}}})
            }
            Flavor::V2 => json!({"description": "OK", "schema": reference}),
        };
        let mut op = json!({
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "responses": {"200": response},
        });
        if write {
            op["parameters"] = match self.flavor {
                Flavor::V3 => WRITE_PARAMETERS.map(|(name, ty)| json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})).into(),
                Flavor::V2 => WRITE_PARAMETERS.map(|(name, ty)| json!({"name": name, "in": "query", "type": ty, "uniqueItems": true})).into(),
            };
        }
        op
    }

    /// `op` taking a body of the kind.
    fn with_body(&self, mut op: Value) -> Value {
        let reference = self.flavor.reference(&self.kind);
        match self.flavor {
            Flavor::V3 => {
                op["requestBody"] = json!({"content": {"application/json": {"schema": reference}}, "required": true});
            }
            Flavor::V2 => {
                let param =
                    json!({"name": "body", "in": "body", "required": true, "schema": reference});
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    params.insert(0, param);
                }
            }
        }
        op
    }

    /// A patch, with the patch types the resource takes.
    fn patch(&self) -> Value {
        let mut patch = self.op("patch", &self.kind, true);
        let patch_types = patch_types(self.rt);
        match self.flavor {
            Flavor::V3 => {
                let body = self.flavor.reference(PATCH);
                let content: Map<String, Value> = patch_types
                    .iter()
                    .map(|t| ((*t).to_owned(), json!({"schema": body})))
                    .collect();
                patch["requestBody"] = json!({"content": content, "required": true});
            }
            Flavor::V2 => patch["consumes"] = json!(patch_types),
        }
        patch
    }
}

/// The schema of a PATCH body.
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// `meta/v1.Patch`, as kube-apiserver describes it.
pub(crate) fn patch_schema() -> Value {
    json!({
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    })
}

/// The patch types `rt` takes: strategic merge patch for built-ins only
/// (kubectl's client-side apply looks for it here).
fn patch_types(rt: &ResourceType) -> Vec<&'static str> {
    let mut types = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if rt.custom.is_none() {
        types.push("application/strategic-merge-patch+json");
    }
    types
}

const WRITE_PARAMETERS: [(&str, &str); 4] = [
    ("dryRun", "string"),
    ("fieldManager", "string"),
    ("fieldValidation", "string"),
    ("force", "boolean"),
];

/// A custom resource's schema as kube-apiserver publishes it: the CRD
/// version's schema (or an open object) with `apiVersion`, `kind` and a
/// `metadata` that is `ObjectMeta`, and the GVK.
fn custom_schema(rt: &ResourceType, flavor: Flavor) -> Value {
    let mut schema = rt
        .custom
        .as_ref()
        .and_then(|c| c.schema.clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if flavor == Flavor::V2 {
        to_v2(&mut schema, 0);
    }
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            "apiVersion".into(),
            json!({"description": schemas::API_VERSION, "type": "string"}),
        );
        properties.insert(
            "kind".into(),
            json!({"description": schemas::KIND, "type": "string"}),
        );
        let meta = flavor.described_reference(&schemas::object_meta_name(), schemas::METADATA);
        properties.insert("metadata".into(), meta);
    }
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": rt.group, "kind": rt.kind, "version": rt.version}]);
    schema
}

fn custom_list(rt: &ResourceType, name: &str, flavor: Flavor) -> Value {
    let mut list = schemas::list_schema(flavor, name, &rt.kind);
    list["x-kubernetes-group-version-kind"] =
        json!([{"group": rt.group, "kind": rt.list_kind(), "version": rt.version}]);
    list
}

/// What kube-apiserver drops from a CRD schema for Swagger 2.0
/// (`ToStructuralOpenAPIV2`): `allOf`/`oneOf`/`anyOf`/`not`; the type, items
/// and properties of a nullable value (and it from `required`); the items and
/// properties of a value that preserves unknown fields; the type of an array
/// left without items.
fn to_v2(schema: &mut Value, depth: usize) {
    let Some(s) = schema.as_object_mut() else {
        return;
    };
    if depth > 64 {
        return;
    }
    for k in ["allOf", "oneOf", "anyOf", "not"] {
        s.remove(k);
    }
    if s.remove("nullable").and_then(|n| n.as_bool()) == Some(true) {
        for k in ["type", "items", "properties"] {
            s.remove(k);
        }
    }
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        s.remove("items");
        s.remove("properties");
    }
    if s.get("type").and_then(Value::as_str) == Some("array") && !s.contains_key("items") {
        s.remove("type");
    }
    let nullable: Vec<String> = s
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, v)| v.get("nullable") == Some(&Value::Bool(true)))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(required) = s.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r.as_str().is_none_or(|r| !nullable.iter().any(|n| n == r)));
    }
    if let Some(properties) = s.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(|p| to_v2(p, depth + 1));
    }
    for k in ["items", "additionalProperties"] {
        if let Some(child) = s.get_mut(k) {
            to_v2(child, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widgets() -> Registry {
        let reg = Registry::with_builtins();
        let spec = json!({"type": "object", "description": "What it should be.", "properties": {
            "size": {"type": "integer"},
            "color": {"type": "string", "nullable": true},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"a": {"type": "string"}}},
            "pick": {"type": "string", "oneOf": [{"enum": ["a"]}, {"enum": ["b"]}]},
        }, "required": ["size", "color"]});
        let schema = json!({"type": "object", "properties": {"spec": spec}});
        crate::resources::crd::register(
            &reg,
            &json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema}}],
            }}),
        );
        reg
    }

    fn refs(v: &Value, prefix: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        schemas::collect_refs(v, prefix, &mut out, 0);
        out
    }

    #[test]
    fn builtin_schemas_carry_names_descriptions_gvks_and_markers() {
        let reg = Registry::with_builtins();
        let doc = v3(&reg, "", "v1").unwrap();
        let schemas = &doc["components"]["schemas"];
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Pod", "version": "v1"}])
        );
        assert!(
            pod["description"]
                .as_str()
                .unwrap()
                .starts_with("Pod is a collection")
        );
        assert_eq!(
            pod["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(
            ports["x-kubernetes-list-map-keys"],
            json!(["containerPort", "protocol"])
        );
        let finalizers =
            &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"];
        assert_eq!(finalizers["x-kubernetes-list-type"], "set");
        assert_eq!(
            schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"],
            "PodList"
        );
        assert_eq!(
            schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
            "int-or-string"
        );
    }

    #[test]
    fn a_group_version_document_is_closed_under_refs_and_holds_only_its_kinds() {
        let reg = widgets();
        for (g, v) in [
            ("", "v1"),
            ("apps", "v1"),
            ("batch", "v1"),
            ("example.com", "v1"),
        ] {
            let doc = v3(&reg, g, v).unwrap();
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            for name in refs(&doc, Flavor::V3.ref_prefix()) {
                assert!(schemas.contains_key(&name), "{g}/{v}: {name} missing");
            }
        }
        let apps = v3(&reg, "apps", "v1").unwrap();
        let schemas = &apps["components"]["schemas"];
        assert!(schemas["io.k8s.api.apps.v1.Deployment"].is_object());
        assert!(schemas["io.k8s.api.core.v1.Container"].is_object());
        assert!(schemas.get("io.k8s.api.core.v1.Pod").is_none());
        assert!(v3(&reg, "nothing.example.com", "v1").is_none());
    }

    #[test]
    fn builtin_patches_offer_strategic_merge_and_custom_resources_do_not() {
        let reg = widgets();
        let apps = v3(&reg, "apps", "v1").unwrap();
        let path = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        let content = &path["patch"]["requestBody"]["content"];
        assert!(content["application/strategic-merge-patch+json"].is_object());
        assert_eq!(
            path["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        let custom = v3(&reg, "example.com", "v1").unwrap();
        let path = &custom["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"];
        let content = path["patch"]["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
        let params = path["patch"]["parameters"].as_array().unwrap();
        assert!(params.iter().any(|p| p["name"] == "fieldValidation"));
    }

    #[test]
    fn paths_follow_the_verbs_and_subresources_served() {
        let reg = widgets();
        let core = v3(&reg, "", "v1").unwrap();
        let paths = core["paths"].as_object().unwrap();
        let methods = |path: &str| -> Vec<&str> {
            let mut m: Vec<&str> = paths[path]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            m.sort_unstable();
            m
        };
        assert_eq!(methods("/api/v1/pods"), ["get"]);
        assert_eq!(
            methods("/api/v1/namespaces/{namespace}/pods"),
            ["delete", "get", "post"]
        );
        assert_eq!(
            methods("/api/v1/namespaces/{namespace}/pods/{name}"),
            ["delete", "get", "patch", "put"]
        );
        assert_eq!(
            methods("/api/v1/namespaces/{namespace}/pods/{name}/status"),
            ["get", "patch", "put"]
        );
        assert_eq!(
            methods("/api/v1/namespaces/{name}"),
            ["delete", "get", "patch", "put"]
        );
        assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/configmaps/{name}/status"));
        let list = &paths["/api/v1/namespaces/{namespace}/pods"]["get"];
        assert_eq!(list["x-kubernetes-action"], "list");
        assert_eq!(
            list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodList"
        );
        let create = &paths["/api/v1/namespaces/{namespace}/pods"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Pod"
        );
    }

    #[test]
    fn reviews_are_only_created_and_v2_bodies_are_parameters() {
        let reg = widgets();
        let authz = v3(&reg, "authorization.k8s.io", "v1").unwrap();
        let reviews: Vec<(&String, Vec<&String>)> = authz["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(p, ops)| (p, ops.as_object().unwrap().keys().collect()))
            .collect();
        assert!(
            reviews.iter().all(|(_, ops)| ops == &[&"post".to_owned()]),
            "{reviews:?}"
        );
        assert!(authz["paths"]["/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"].is_object());
        let swagger = v2(&reg);
        let put =
            &swagger["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["put"];
        assert_eq!(put["parameters"][0]["in"], "body");
        assert_eq!(
            put["parameters"][0]["schema"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
    }

    #[test]
    fn custom_resource_schemas_get_object_meta_and_their_gvk() {
        let reg = widgets();
        let doc = v3(&reg, "example.com", "v1").unwrap();
        let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            widget["x-kubernetes-group-version-kind"][0]["kind"],
            "Widget"
        );
        assert_eq!(
            widget["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            widget["properties"]["spec"]["properties"]["color"]["nullable"],
            true
        );
        let list = &doc["components"]["schemas"]["com.example.v1.WidgetList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "WidgetList"
        );
        let versions = group_versions(&reg);
        assert_eq!(versions.first(), Some(&(String::new(), "v1".to_owned())));
        assert_eq!(
            versions.last(),
            Some(&("example.com".to_owned(), "v1".to_owned()))
        );
        let index = index([
            ("/openapi/v3/apis/example.com/v1", "AB"),
            ("/openapi/v3/api/v1", "CD"),
        ]);
        assert_eq!(
            index["paths"]["apis/example.com/v1"]["serverRelativeURL"],
            "/openapi/v3/apis/example.com/v1?hash=AB"
        );
        assert_eq!(
            index["paths"]["api/v1"]["serverRelativeURL"],
            "/openapi/v3/api/v1?hash=CD"
        );
    }

    #[test]
    fn swagger_v2_holds_every_kind_and_custom_schemas_as_v2_can_say_them() {
        let reg = widgets();
        let doc = v2(&reg);
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().unwrap();
        for name in refs(&doc, Flavor::V2.ref_prefix()) {
            assert!(defs.contains_key(&name), "{name} missing");
        }
        assert!(refs(&doc, Flavor::V3.ref_prefix()).is_empty());
        let pod = &defs["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert!(defs.contains_key("io.k8s.api.apps.v1.Deployment"));
        let spec = &defs["com.example.v1.Widget"]["properties"]["spec"];
        assert_eq!(spec["properties"]["color"], json!({}));
        assert_eq!(spec["required"], json!(["size"]));
        assert!(spec["properties"]["extra"].get("properties").is_none());
        assert!(spec["properties"]["pick"].get("oneOf").is_none());
        let path = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert!(
            path["patch"]["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/strategic-merge-patch+json"))
        );
    }
}
