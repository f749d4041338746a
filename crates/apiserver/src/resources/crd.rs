//! Serving a CustomResourceDefinition: each served version becomes a
//! resource type in the registry (names, scope, subresources, schema with
//! its CEL rules compiled once), replacing what the CRD served before. A
//! created or updated CRD is served before the write that stores it
//! returns, so a client that sees `Established` can use it at once.

use std::sync::Arc;

use serde_json::Value;

use super::compiled::compile_version;
use super::{CustomVersion, Registry, ResourceType};
use crate::meta;

/// Serves every served version of `crd` (replacing what was served before).
pub(crate) fn register(registry: &Registry, crd: &Value) {
    let name = meta::name(crd).unwrap_or_default().to_owned();
    registry.remove_crd(&name);
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let s = |p: &str| meta::string_at(&spec, p);
    let kind = s("/names/kind");
    let strings = |p: &str| meta::strings(spec.pointer(p));
    let served = meta::array_at(&spec, "/versions")
        .into_iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true));
    for v in served {
        let singular = match s("/names/singular") {
            s if s.is_empty() => kind.to_ascii_lowercase(),
            s => s,
        };
        registry.insert(ResourceType {
            group: s("/group"),
            version: meta::string_at(&v, "/name"),
            kind: kind.clone(),
            plural: s("/names/plural"),
            singular,
            short_names: strings("/names/shortNames"),
            categories: strings("/names/categories"),
            namespaced: s("/scope") != "Cluster",
            status_subresource: v.pointer("/subresources/status").is_some(),
            generation: true,
            unconditional_update: false,
            builtin: None,
            custom: Some(Arc::new(custom_version(&name, &v))),
        });
    }
}

/// What version `v` of CRD `crd_name` says of its objects: schema (with
/// its CEL rules compiled), printer columns, selectable fields, scale.
fn custom_version(crd_name: &str, v: &Value) -> CustomVersion {
    let schema = v.pointer("/schema/openAPIV3Schema").cloned();
    let compiled = compile_version(schema.as_ref());
    CustomVersion {
        crd_name: crd_name.to_owned(),
        printer_columns: meta::array_at(v, "/additionalPrinterColumns"),
        selectable_fields: meta::array_at(v, "/selectableFields")
            .iter()
            .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
            .map(|p| p.trim_start_matches('.').to_owned())
            .collect(),
        storage: v.get("storage").and_then(Value::as_bool) == Some(true),
        schema,
        compiled,
        scale: v.pointer("/subresources/scale").map(|s| {
            let path = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned);
            super::ScalePaths {
                spec_replicas_path: path("specReplicasPath").unwrap_or_default(),
                status_replicas_path: path("statusReplicasPath").unwrap_or_default(),
                label_selector_path: path("labelSelectorPath"),
            }
        }),
    }
}
