//! Admission of CustomResourceDefinitions: the checks a CRD must pass (names,
//! versions, a structural schema, CEL rules that compile) and the parts the
//! server fills in on every write (the cleanup finalizer, `NamesAccepted`,
//! `Established` and `Terminating` conditions, accepted names, stored
//! versions). Serving the CRD's versions is `resources::crd`.

use serde_json::{Value, json};

use super::FieldError;
use crate::meta;

/// Finalizer that keeps a deleted CRD until its custom resources are gone.
pub(crate) const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Checks the parts of a CRD the server relies on.
pub(crate) fn validate(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    validate_names(crd, &spec, &mut errors);
    let versions = meta::array_at(&spec, "/versions");
    validate_versions(&versions, &mut errors);
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            let base = format!("spec.versions[{i}].schema.openAPIV3Schema");
            validate_schema(schema, &base, &mut errors);
        }
    }
    errors
}

/// The group (a domain), plural and kind, the name they make, the scope.
fn validate_names(crd: &Value, spec: &Value, errors: &mut Vec<FieldError>) {
    let s = |p: &str| meta::string_at(spec, p);
    let group = s("/group");
    let plural = s("/names/plural");
    let kind = s("/names/kind");
    if group.is_empty() {
        errors.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errors.push(FieldError::invalid(
            "spec.group",
            &Value::String(group.clone()),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errors.push(FieldError::required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        errors.push(FieldError::required("spec.names.kind", ""));
    }
    let name = meta::name(crd).unwrap_or_default();
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errors.push(FieldError::invalid(
            "metadata.name",
            &Value::String(name.to_owned()),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match s("/scope").as_str() {
        "Namespaced" | "Cluster" => {}
        other => errors.push(FieldError::not_supported(
            "spec.scope",
            &Value::String(other.to_owned()),
            &["Cluster", "Namespaced"],
        )),
    }
}

/// At least one version, exactly one of them the storage version.
fn validate_versions(versions: &[Value], errors: &mut Vec<FieldError>) {
    let message = "must have exactly one version marked as storage version";
    if versions.is_empty() {
        errors.push(FieldError::invalid("spec.versions", &json!([]), message));
        return;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        let all = Value::Array(versions.to_vec());
        errors.push(FieldError::invalid("spec.versions", &all, message));
    }
}

/// A version's schema is structural and its CEL rules compile.
fn validate_schema(schema: &Value, base: &str, errors: &mut Vec<FieldError>) {
    cel_compilation_errors(&kube::core::cel::compile_schema(schema), base, errors);
    for e in operatorkit_structural::check_structural_at(schema, base) {
        errors.push(FieldError {
            field: e.field.clone(),
            reason: e.kind.reason(),
            message: e.body(),
        });
    }
}

/// CEL rules that do not compile, located as kube-apiserver reports them.
fn cel_compilation_errors(
    schema: &kube::core::cel::CompiledSchema,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (i, v) in schema.validations.iter().enumerate() {
        if let Err(e) = v {
            let rule = match e {
                kube::core::cel::CompilationError::Parse { rule, .. } => rule.clone(),
                other => format!("{other:?}"),
            };
            let detail =
                std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
            errors.push(FieldError::invalid(
                format!("{path}.x-kubernetes-validations[{i}].rule"),
                &Value::String(rule),
                &format!("compilation failed: {detail}"),
            ));
        }
    }
    let mut names: Vec<&String> = schema.properties.keys().collect();
    names.sort();
    for name in names {
        if let Some(child) = schema.properties.get(name) {
            cel_compilation_errors(child, &format!("{path}.properties[{name}]"), errors);
        }
    }
    if let Some(items) = &schema.items {
        cel_compilation_errors(items, &format!("{path}.items"), errors);
    }
    if let Some(extra) = &schema.additional_properties {
        cel_compilation_errors(extra, &format!("{path}.additionalProperties"), errors);
    }
}

/// Fills the server-owned parts of a CRD being stored: the cleanup finalizer and
/// the status that reports its names accepted and established.
pub(crate) fn prepare(crd: &mut Value) {
    let mut finalizers = meta::finalizers(crd);
    if !meta::is_deleting(crd) && !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        finalizers.push(CLEANUP_FINALIZER.to_owned());
        meta::set_finalizers(crd, &finalizers);
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names.clone();
    if let Value::Object(a) = &mut accepted {
        let kind = a
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        a.entry("singular")
            .or_insert_with(|| kind.to_ascii_lowercase().into());
        a.entry("listKind")
            .or_insert_with(|| format!("{kind}List").into());
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut stored_versions: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in stored {
        if !stored_versions.contains(&v) {
            stored_versions.push(v);
        }
    }
    let now = meta::now();
    let keep_time = |t: &str| {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == "True"))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| now.clone().into())
    };
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": keep_time("NamesAccepted")}),
        json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": keep_time("Established")}),
    ];
    if meta::is_deleting(crd) {
        conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress", "lastTransitionTime": keep_time("Terminating")}));
    }
    crd["status"] = json!({
        "conditions": conditions,
        "acceptedNames": accepted,
        "storedVersions": stored_versions,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use crate::resources::crd::register;

    #[test]
    fn the_projects_crds_validate_and_register() {
        let registry = Registry::default();
        for crd in apiextensions_crds() {
            let errors = validate(&crd);
            assert!(errors.is_empty(), "{errors:?}");
            let mut stored = crd.clone();
            prepare(&mut stored);
            assert_eq!(stored["status"]["conditions"][1]["type"], "Established");
            assert_eq!(meta::finalizers(&stored), [CLEANUP_FINALIZER]);
            register(&registry, &stored);
        }
        let kvm = registry
            .get(&crate::resources::Gvr::new(
                "provider.operatorkit.dev",
                "v1alpha1",
                "kvmconfigs",
            ))
            .unwrap();
        assert!(kvm.namespaced && kvm.status_subresource);
        assert_eq!(kvm.short_names, ["kvmcfg"]);
        registry.remove_crd("kvmconfigs.provider.operatorkit.dev");
        assert!(
            registry
                .get(&crate::resources::Gvr::new(
                    "provider.operatorkit.dev",
                    "v1alpha1",
                    "kvmconfigs"
                ))
                .is_none()
        );
    }

    #[test]
    fn a_rule_that_does_not_compile_refuses_the_crd() {
        let mut crd = apiextensions_crds().remove(0);
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
            json!([{"rule": "self.a >", "message": "broken"}]);
        let errors = validate(&crd);
        let e = errors
            .iter()
            .find(|e| e.message.contains("compilation failed"))
            .unwrap();
        assert_eq!(
            e.field,
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
        );
    }

    fn apiextensions_crds() -> Vec<Value> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/crds");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            out.push(serde_yaml::from_str(&text).unwrap());
        }
        out
    }
}
