//! Defaults and checks of the cluster-policy kinds kubectl's users touch:
//! ReplicationController, ResourceQuota, LimitRange, NetworkPolicy,
//! PriorityClass, StorageClass, HorizontalPodAutoscaler (`autoscaling/v2`),
//! ControllerRevision, RuntimeClass, the admission webhook configurations
//! and CertificateSigningRequest (its request, signer and usages), as their `SetDefaults_*` functions and validation in
//! kube-apiserver give them (the common rules, with kube-apiserver's fields
//! and words; not every rule).

use serde_json::{Map, Value, json};

use super::builtin::set_default;
use super::{FieldError, Operation};
use crate::meta;
use crate::resources::Builtin;

/// The largest priority a user's PriorityClass may have.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;
/// The PriorityClasses every cluster has, with their values.
pub(crate) const SYSTEM_PRIORITY_CLASSES: [(&str, i64); 2] = [
    ("system-cluster-critical", 2_000_000_000),
    ("system-node-critical", 2_000_001_000),
];

/// Applies the defaults of kind `b`; `template` defaults a pod template.
pub(crate) fn default(
    b: Builtin,
    obj: &mut Value,
    op: Operation,
    template: fn(&mut Map<String, Value>),
) {
    match b {
        Builtin::ReplicationController => default_replication_controller(obj, op, template),
        Builtin::ResourceQuota if op == Operation::Create => {
            if let Value::Object(m) = obj {
                m.insert("status".into(), json!({}));
            }
        }
        Builtin::NetworkPolicy => default_network_policy(obj),
        Builtin::PriorityClass => {
            if let Value::Object(m) = obj {
                set_default(m, "preemptionPolicy", "PreemptLowerPriority".into());
            }
        }
        Builtin::StorageClass => {
            if let Value::Object(m) = obj {
                set_default(m, "reclaimPolicy", "Delete".into());
                set_default(m, "volumeBindingMode", "Immediate".into());
            }
        }
        Builtin::HorizontalPodAutoscaler => {
            let spec = meta::object_field_mut(obj, "spec");
            set_default(spec, "minReplicas", 1.into());
            set_default(
                spec,
                "metrics",
                json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            );
            if op == Operation::Create
                && let Value::Object(m) = obj
            {
                m.insert(
                    "status".into(),
                    json!({"currentReplicas": 0, "desiredReplicas": 0}),
                );
            }
        }
        Builtin::ValidatingWebhookConfiguration | Builtin::MutatingWebhookConfiguration => {
            default_webhooks(obj, b == Builtin::MutatingWebhookConfiguration);
        }
        _ => {}
    }
}

/// SetDefaults_ReplicationController: the selector and labels from the
/// template's labels, one replica, the pod template's defaults.
fn default_replication_controller(
    obj: &mut Value,
    op: Operation,
    template: fn(&mut Map<String, Value>),
) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = labels {
        let spec = meta::object_field_mut(obj, "spec");
        if spec
            .get("selector")
            .is_none_or(|s| s.as_object().is_none_or(Map::is_empty))
        {
            spec.insert("selector".into(), labels.clone());
        }
        let meta = meta::metadata_mut(obj);
        if meta
            .get("labels")
            .is_none_or(|s| s.as_object().is_none_or(Map::is_empty))
        {
            meta.insert("labels".into(), labels);
        }
    }
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "replicas", 1.into());
    template(spec);
    if op == Operation::Create
        && let Value::Object(m) = obj
    {
        m.insert("status".into(), json!({"replicas": 0}));
    }
}

/// SetDefaults_NetworkPolicy: Ingress always, Egress when egress rules are given.
fn default_network_policy(obj: &mut Value) {
    let spec = meta::object_field_mut(obj, "spec");
    let given = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if !given {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// SetDefaults_ValidatingWebhook / MutatingWebhook and their rules and
/// service references.
fn default_webhooks(obj: &mut Value, mutating: bool) {
    let Some(Value::Array(hooks)) = obj.get_mut("webhooks") else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
        set_default(hook, "failurePolicy", "Fail".into());
        set_default(hook, "matchPolicy", "Equivalent".into());
        set_default(hook, "namespaceSelector", json!({}));
        set_default(hook, "objectSelector", json!({}));
        set_default(hook, "timeoutSeconds", 10.into());
        if mutating {
            set_default(hook, "reinvocationPolicy", "Never".into());
        }
        if let Some(Value::Array(rules)) = hook.get_mut("rules") {
            for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
                set_default(rule, "scope", "*".into());
            }
        }
        if let Some(Value::Object(service)) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
        {
            set_default(service, "port", 443.into());
        }
    }
}

/// The checks of kind `b` (`old` on update).
pub(crate) fn validate(b: Builtin, obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    match b {
        Builtin::PriorityClass => validate_priority_class(obj, old, errors),
        Builtin::StorageClass => {
            required_string(obj, "provisioner", errors);
            let fixed = [
                "provisioner",
                "parameters",
                "reclaimPolicy",
                "volumeBindingMode",
            ];
            immutable(obj, old, &fixed, updates_forbidden, errors);
        }
        Builtin::RuntimeClass => {
            required_string(obj, "handler", errors);
            immutable(obj, old, &["handler"], updates_forbidden, errors);
        }
        Builtin::HorizontalPodAutoscaler => validate_autoscaler(obj, errors),
        Builtin::LimitRange => validate_limit_range(obj, errors),
        Builtin::ControllerRevision => validate_revision(obj, old, errors),
        Builtin::ValidatingWebhookConfiguration | Builtin::MutatingWebhookConfiguration => {
            validate_webhooks(obj, errors);
        }
        Builtin::CertificateSigningRequest => {
            validate_csr(obj, errors);
            immutable(obj, old, &["spec"], |_| "field is immutable".into(), errors);
        }
        _ => {}
    }
}

/// `Required value` unless top-level `field` is a non-empty string.
fn required_string(obj: &Value, field: &str, errors: &mut Vec<FieldError>) {
    if obj
        .get(field)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::required(field, ""));
    }
}

/// A ControllerRevision's `revision` is not negative; its `data` is fixed.
fn validate_revision(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    if let Some(r) = obj
        .get("revision")
        .filter(|r| r.as_i64().is_some_and(|r| r < 0))
    {
        errors.push(FieldError::invalid(
            "revision",
            r,
            "must be greater than or equal to 0",
        ));
    }
    immutable(obj, old, &["data"], updates_forbidden, errors);
}

/// A CSR's `spec.request` is a PEM `CERTIFICATE REQUEST` that parses, and
/// `signerName` and `usages` are given.
fn validate_csr(obj: &Value, errors: &mut Vec<FieldError>) {
    use base64::Engine as _;
    let request = obj.pointer("/spec/request").and_then(Value::as_str);
    let pem = request.and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok());
    match pem {
        None => errors.push(FieldError::required("spec.request", "")),
        Some(bytes) => {
            if let Some(problem) = csr_problem(&bytes) {
                let shown = json!(String::from_utf8_lossy(&bytes));
                errors.push(FieldError::invalid("spec.request", &shown, problem));
            }
        }
    }
    let signer = obj.pointer("/spec/signerName").and_then(Value::as_str);
    if signer.is_none_or(str::is_empty) {
        errors.push(FieldError::required("spec.signerName", ""));
    }
    let usages = obj.pointer("/spec/usages").and_then(Value::as_array);
    if usages.is_none_or(Vec::is_empty) {
        errors.push(FieldError::required("spec.usages", ""));
    }
}

/// What is wrong with a CSR's PEM, as kube-apiserver words it.
fn csr_problem(pem: &[u8]) -> Option<&'static str> {
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem) else {
        return Some("PEM block type must be CERTIFICATE REQUEST");
    };
    if block.label != "CERTIFICATE REQUEST" {
        return Some("PEM block type must be CERTIFICATE REQUEST");
    }
    use x509_parser::prelude::FromDer;
    match x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents) {
        Ok(_) => None,
        Err(_) => Some("asn1: structure error: the request does not parse"),
    }
}

/// A forbidden-field error, worded by `message`, for each of `fields` an
/// update changes.
fn immutable(
    obj: &Value,
    old: Option<&Value>,
    fields: &[&str],
    message: impl Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) {
    let Some(old) = old else { return };
    for f in fields {
        if obj.get(*f) != old.get(*f) {
            errors.push(FieldError::forbidden(*f, &message(f)));
        }
    }
}

/// kube-apiserver's message for most immutable top-level fields.
fn updates_forbidden(field: &str) -> String {
    format!("updates to {field} are forbidden.")
}

fn validate_priority_class(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let name = meta::name(obj).unwrap_or_default();
    let system = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name);
    if system.is_none() && name.starts_with("system-") {
        errors.push(FieldError::forbidden(
            "metadata.name",
            "priority class names with 'system-' prefix are reserved.",
        ));
    }
    match obj.get("value").and_then(Value::as_i64) {
        None => errors.push(FieldError::required("value", "")),
        Some(v) if system.is_none() && v > HIGHEST_USER_PRIORITY => {
            errors.push(FieldError::forbidden(
                "value",
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(old) = old
        && old.get("value") != obj.get("value")
    {
        errors.push(FieldError::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
}

fn validate_autoscaler(obj: &Value, errors: &mut Vec<FieldError>) {
    for field in ["kind", "name"] {
        let v = obj.pointer(&format!("/spec/scaleTargetRef/{field}"));
        if v.and_then(Value::as_str).is_none_or(str::is_empty) {
            errors.push(FieldError::required(
                format!("spec.scaleTargetRef.{field}"),
                "",
            ));
        }
    }
    let min = obj
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let max = obj
        .pointer("/spec/maxReplicas")
        .cloned()
        .unwrap_or(json!(0));
    match max.as_i64() {
        Some(m) if m < 1 => errors.push(FieldError::invalid(
            "spec.maxReplicas",
            &max,
            "must be greater than or equal to 1",
        )),
        Some(m) if m < min => errors.push(FieldError::invalid(
            "spec.maxReplicas",
            &max,
            "must be greater than or equal to `minReplicas`",
        )),
        Some(_) => {}
        None => errors.push(FieldError::required("spec.maxReplicas", "")),
    }
}

fn validate_limit_range(obj: &Value, errors: &mut Vec<FieldError>) {
    const TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];
    let limits = obj.pointer("/spec/limits").and_then(Value::as_array);
    for (i, limit) in limits.into_iter().flatten().enumerate() {
        let t = limit.get("type").cloned().unwrap_or(json!(""));
        if !t.as_str().is_some_and(|t| TYPES.contains(&t)) {
            errors.push(FieldError::not_supported(
                format!("spec.limits[{i}].type"),
                &t,
                &TYPES,
            ));
        }
    }
}

fn validate_webhooks(obj: &Value, errors: &mut Vec<FieldError>) {
    let hooks = obj.get("webhooks").and_then(Value::as_array);
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        let at = |f: &str| format!("webhooks[{i}].{f}");
        let name = hook.get("name").cloned().unwrap_or(json!(""));
        if name
            .as_str()
            .is_none_or(|n| n.split('.').filter(|s| !s.is_empty()).count() < 3)
        {
            errors.push(FieldError::invalid(
                at("name"),
                &name,
                "should be a domain with at least three segments separated by dots",
            ));
        }
        let effects = hook.get("sideEffects").cloned().unwrap_or(Value::Null);
        match effects.as_str() {
            Some("None" | "NoneOnDryRun") => {}
            None => errors.push(FieldError::required(
                at("sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            Some(_) => errors.push(FieldError::not_supported(
                at("sideEffects"),
                &effects,
                &["None", "NoneOnDryRun"],
            )),
        }
        let versions = hook
            .get("admissionReviewVersions")
            .and_then(Value::as_array);
        if versions.is_none_or(Vec::is_empty) {
            errors.push(FieldError::required(
                at("admissionReviewVersions"),
                "must specify one of v1, v1beta1",
            ));
        }
        let config = hook.get("clientConfig");
        let url = config.and_then(|c| c.get("url")).is_some();
        let service = config.and_then(|c| c.get("service")).is_some();
        if url == service {
            errors.push(FieldError::required(
                at("clientConfig"),
                "exactly one of url or service is required",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_template(_: &mut Map<String, Value>) {}

    #[test]
    fn defaults_as_set_defaults_does() {
        let mut rc = json!({"spec": {"template": {"metadata": {"labels": {"app": "a"}}}}});
        default(
            Builtin::ReplicationController,
            &mut rc,
            Operation::Create,
            no_template,
        );
        assert_eq!(rc["spec"]["selector"], json!({"app": "a"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "a"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        let mut np = json!({"spec": {"egress": [{}]}});
        default(
            Builtin::NetworkPolicy,
            &mut np,
            Operation::Create,
            no_template,
        );
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        let mut hook = json!({"webhooks": [{"name": "a.b.c", "rules": [{}], "clientConfig": {"service": {"name": "s", "namespace": "n"}}}]});
        default(
            Builtin::MutatingWebhookConfiguration,
            &mut hook,
            Operation::Create,
            no_template,
        );
        let h = &hook["webhooks"][0];
        assert_eq!(
            (
                h["failurePolicy"].as_str(),
                h["reinvocationPolicy"].as_str()
            ),
            (Some("Fail"), Some("Never"))
        );
        assert_eq!(h["rules"][0]["scope"], "*");
        assert_eq!(h["clientConfig"]["service"]["port"], 443);
    }

    #[test]
    fn refuses_what_kube_apiserver_refuses() {
        let mut errors = Vec::new();
        let pc = json!({"metadata": {"name": "system-mine"}, "value": 2_000_000_000i64});
        validate(Builtin::PriorityClass, &pc, None, &mut errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
        errors.clear();
        let hook = json!({"webhooks": [{"name": "short", "clientConfig": {}}]});
        validate(
            Builtin::ValidatingWebhookConfiguration,
            &hook,
            None,
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "webhooks[0].name",
                "webhooks[0].sideEffects",
                "webhooks[0].admissionReviewVersions",
                "webhooks[0].clientConfig"
            ]
        );
        errors.clear();
        let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "minReplicas": 3, "maxReplicas": 2}});
        validate(Builtin::HorizontalPodAutoscaler, &hpa, None, &mut errors);
        assert_eq!(errors.len(), 1);
    }
}
