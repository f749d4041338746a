//! Defaults, validation and allocation of the built-in kinds: what kube-apiserver
//! sets that an operator would otherwise see as an endless diff (Secret `type`,
//! Service cluster IPs and port defaults, workload and pod template defaults),
//! and the checks that refuse objects a real server refuses.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{FieldError, Operation};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::Builtin;
use crate::store::State;

/// First address of the Service cluster-IP range (`10.96.0.0/12`); `.1` is the
/// `kubernetes` Service's in a real cluster, so allocation starts after it.
const SERVICE_RANGE_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_RANGE_SIZE: u32 = 1 << 20;
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Sets `key` to `value` unless it has a (non-null) value.
pub(super) fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_owned(), value);
    }
}

fn is_unset(m: &Map<String, Value>, key: &str) -> bool {
    match m.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// A Deployment's `strategy` or a DaemonSet's `updateStrategy`, as
/// SetDefaults_Deployment/DaemonSet fill them: an empty type is
/// RollingUpdate, whose parameters default one by one.
fn default_rolling_update(spec: &mut Map<String, Value>, key: &str, defaults: &[(&str, Value)]) {
    let strategy = meta::map_field_mut(spec, key);
    if is_unset(strategy, "type") {
        strategy.insert("type".into(), "RollingUpdate".into());
    }
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let rolling = meta::map_field_mut(strategy, "rollingUpdate");
        for (k, v) in defaults {
            set_default(rolling, k, v.clone());
        }
    }
}

/// A StatefulSet's `updateStrategy`, as SetDefaults_StatefulSet fills it: an
/// empty type is RollingUpdate with an empty `rollingUpdate`, and a given
/// `rollingUpdate` gets partition 0.
fn default_stateful_set_strategy(spec: &mut Map<String, Value>) {
    let strategy = meta::map_field_mut(spec, "updateStrategy");
    if is_unset(strategy, "type") {
        strategy.insert("type".into(), "RollingUpdate".into());
        meta::map_field_mut(strategy, "rollingUpdate");
    }
    let rolling_update = strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate");
    if let (true, Some(Value::Object(rolling))) =
        (rolling_update, strategy.get_mut("rollingUpdate"))
    {
        set_default(rolling, "partition", 0.into());
    }
}

/// Applies the defaults of kind `b`.
pub(crate) fn default(b: Builtin, obj: &mut Value, old: Option<&Value>, op: Operation) {
    match b {
        Builtin::Namespace => default_namespace(obj, op),
        Builtin::Secret => default_secret(obj),
        Builtin::Service => default_service(obj, old),
        Builtin::Pod => default_pod(obj, op),
        Builtin::Deployment => default_deployment(obj, op),
        Builtin::ReplicaSet => {
            let spec = meta::object_field_mut(obj, "spec");
            set_default(spec, "replicas", 1.into());
            default_template(spec);
            default_status(obj, op, json!({"replicas": 0}));
        }
        Builtin::DaemonSet => default_daemon_set(obj, op),
        Builtin::StatefulSet => default_stateful_set(obj, op),
        Builtin::Job => default_job(obj, op),
        Builtin::CronJob => default_cron_job(obj, op),
        Builtin::PersistentVolumeClaim => {
            set_default(
                meta::object_field_mut(obj, "spec"),
                "volumeMode",
                "Filesystem".into(),
            );
            default_status(obj, op, json!({"phase": "Pending"}));
        }
        Builtin::PersistentVolume => {
            let spec = meta::object_field_mut(obj, "spec");
            set_default(spec, "persistentVolumeReclaimPolicy", "Retain".into());
            set_default(spec, "volumeMode", "Filesystem".into());
            default_status(obj, op, json!({"phase": "Pending"}));
        }
        Builtin::Ingress => default_status(obj, op, json!({"loadBalancer": {}})),
        Builtin::PodDisruptionBudget => default_status(
            obj,
            op,
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        ),
        Builtin::CustomResourceDefinition => {
            let spec = meta::object_field_mut(obj, "spec");
            set_default(spec, "conversion", json!({"strategy": "None"}));
            crate::admission::crd::prepare(obj);
        }
        _ => super::policy::default(b, obj, op, default_template),
    }
}

/// A pod's spec defaults; a new pod is `Pending` and `BestEffort`.
fn default_pod(obj: &mut Value, op: Operation) {
    default_pod_spec(meta::object_field_mut(obj, "spec"), true);
    if op == Operation::Create {
        let status = meta::object_field_mut(obj, "status");
        set_default(status, "phase", "Pending".into());
        set_default(status, "qosClass", "BestEffort".into());
    }
}

/// `SetDefaults_Deployment`: one replica, history 10, 600 s progress
/// deadline, a 25%/25% rolling update.
fn default_deployment(obj: &mut Value, op: Operation) {
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "replicas", 1.into());
    set_default(spec, "revisionHistoryLimit", 10.into());
    set_default(spec, "progressDeadlineSeconds", 600.into());
    default_rolling_update(
        spec,
        "strategy",
        &[("maxUnavailable", "25%".into()), ("maxSurge", "25%".into())],
    );
    default_template(spec);
    default_status(obj, op, json!({}));
}

/// `SetDefaults_DaemonSet`: history 10, a rolling update of one at a time.
fn default_daemon_set(obj: &mut Value, op: Operation) {
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "revisionHistoryLimit", 10.into());
    default_rolling_update(
        spec,
        "updateStrategy",
        &[("maxUnavailable", 1.into()), ("maxSurge", 0.into())],
    );
    default_template(spec);
    default_status(
        obj,
        op,
        json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
    );
}

/// `SetDefaults_StatefulSet`, its volume claim templates included.
fn default_stateful_set(obj: &mut Value, op: Operation) {
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "replicas", 1.into());
    set_default(spec, "podManagementPolicy", "OrderedReady".into());
    default_stateful_set_strategy(spec);
    set_default(spec, "revisionHistoryLimit", 10.into());
    set_default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    if let Some(Value::Array(templates)) = spec.get_mut("volumeClaimTemplates") {
        templates.iter_mut().for_each(default_claim_template);
    }
    default_template(spec);
    default_status(obj, op, json!({"replicas": 0, "availableReplicas": 0}));
}

/// A StatefulSet's PersistentVolumeClaim template, as its own kind defaults.
fn default_claim_template(t: &mut Value) {
    if let Value::Object(t) = t {
        t.entry("apiVersion").or_insert_with(|| "v1".into());
        t.entry("kind")
            .or_insert_with(|| "PersistentVolumeClaim".into());
    }
    let s = meta::object_field_mut(t, "spec");
    set_default(s, "volumeMode", "Filesystem".into());
    meta::object_field_mut(t, "status")
        .entry("phase")
        .or_insert_with(|| "Pending".into());
}

/// `SetDefaults_CronJob`, and its job template's spec as a Job's.
fn default_cron_job(obj: &mut Value, op: Operation) {
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "concurrencyPolicy", "Allow".into());
    set_default(spec, "suspend", false.into());
    set_default(spec, "successfulJobsHistoryLimit", 3.into());
    set_default(spec, "failedJobsHistoryLimit", 1.into());
    if let Some(jt) = spec.get_mut("jobTemplate") {
        let js = meta::object_field_mut(jt, "spec");
        default_job_spec(js);
    }
    default_status(obj, op, json!({}));
}

/// A new object's status starts as `initial`; later writes keep theirs.
fn default_status(obj: &mut Value, op: Operation, initial: Value) {
    if op == Operation::Create
        && let Value::Object(m) = obj
    {
        m.insert("status".into(), initial);
    }
}

fn default_namespace(obj: &mut Value, op: Operation) {
    let name = meta::name(obj).unwrap_or_default().to_owned();
    let labels = meta::map_field_mut(meta::metadata_mut(obj), "labels");
    labels.insert("kubernetes.io/metadata.name".into(), name.into());
    if op == Operation::Create {
        let spec = meta::object_field_mut(obj, "spec");
        set_default(spec, "finalizers", json!(["kubernetes"]));
        if let Value::Object(m) = obj {
            m.insert("status".into(), json!({"phase": "Active"}));
        }
    }
}

fn default_secret(obj: &mut Value) {
    let Value::Object(m) = obj else { return };
    set_default(m, "type", "Opaque".into());
    if let Some(Value::Object(string_data)) = m.remove("stringData") {
        let data = meta::object_field_mut(obj, "data");
        for (k, v) in string_data {
            if let Some(s) = v.as_str() {
                data.insert(
                    k,
                    base64::engine::general_purpose::STANDARD.encode(s).into(),
                );
            }
        }
    }
}

fn default_service(obj: &mut Value, old: Option<&Value>) {
    let spec = meta::object_field_mut(obj, "spec");
    set_default(spec, "type", "ClusterIP".into());
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    set_default(spec, "sessionAffinity", "None".into());
    if ty != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", "Cluster".into());
        set_default(spec, "ipFamilyPolicy", "SingleStack".into());
        set_default(spec, "ipFamilies", json!(["IPv4"]));
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        set_default(spec, "externalTrafficPolicy", "Cluster".into());
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", true.into());
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            if let Value::Object(p) = p {
                set_default(p, "protocol", "TCP".into());
                if let Some(port) = p.get("port").cloned() {
                    set_default(p, "targetPort", port);
                }
            }
        }
    }
    if let Some(old_spec) = old.and_then(|o| o.get("spec")) {
        keep_allocated(spec, old_spec);
    }
    if let Value::Object(m) = obj {
        m.entry("status")
            .or_insert_with(|| json!({"loadBalancer": {}}));
    }
}

/// An update that omits allocated values (cluster IPs, node ports) keeps
/// them: kube-apiserver patches them in from the stored object.
fn keep_allocated(spec: &mut Map<String, Value>, old_spec: &Value) {
    for key in ["clusterIP", "clusterIPs"] {
        if spec
            .get(key)
            .is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty))
            && let Some(v) = old_spec.get(key)
        {
            spec.insert(key.to_owned(), v.clone());
        }
    }
    // By port and protocol, looked up once per port: a Service may have
    // thousands.
    let old_node_ports: std::collections::HashMap<String, Value> = old_spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| Some((port_key(o), o.get("nodePort")?.clone())))
        .collect();
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            if p.get("nodePort").is_some() {
                continue;
            }
            if let (Some(np), Value::Object(p)) = (old_node_ports.get(&port_key(p)), p) {
                p.insert("nodePort".into(), np.clone());
            }
        }
    }
}

/// A Service port's identity: its port and protocol, as written.
fn port_key(p: &Value) -> String {
    format!(
        "{}/{}",
        p.get("port").unwrap_or(&Value::Null),
        p.get("protocol").unwrap_or(&Value::Null)
    )
}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(template) = spec.get_mut("template") {
        let ps = meta::object_field_mut(template, "spec");
        default_pod_spec(ps, false);
        // A template's metadata has no creationTimestamp; kube-apiserver writes it as null.
        meta::metadata_mut(template);
    }
}

fn default_pod_spec(ps: &mut Map<String, Value>, pod: bool) {
    set_default(ps, "restartPolicy", "Always".into());
    set_default(ps, "terminationGracePeriodSeconds", 30.into());
    set_default(ps, "dnsPolicy", "ClusterFirst".into());
    set_default(ps, "securityContext", json!({}));
    set_default(ps, "schedulerName", "default-scheduler".into());
    if pod {
        set_default(ps, "enableServiceLinks", true.into());
        set_default(ps, "priority", 0.into());
        set_default(ps, "preemptionPolicy", "PreemptLowerPriority".into());
        set_default(ps, "serviceAccountName", "default".into());
        if let Some(sa) = ps.get("serviceAccountName").cloned() {
            set_default(ps, "serviceAccount", sa);
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = ps.get_mut(list) {
            for c in cs.iter_mut() {
                let Value::Object(c) = c else { continue };
                set_default(c, "terminationMessagePath", "/dev/termination-log".into());
                set_default(c, "terminationMessagePolicy", "File".into());
                set_default(c, "resources", json!({}));
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                let policy = if image_is_latest(image) {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(c, "imagePullPolicy", policy.into());
                if let Some(Value::Array(ports)) = c.get_mut("ports") {
                    for p in ports.iter_mut() {
                        if let Value::Object(p) = p {
                            set_default(p, "protocol", "TCP".into());
                        }
                    }
                }
            }
        }
    }
}

fn image_is_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn default_job_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "parallelism", 1.into());
    if !spec.contains_key("completions") {
        spec.insert("completions".into(), 1.into());
    }
    set_default(spec, "backoffLimit", 6.into());
    set_default(spec, "completionMode", "NonIndexed".into());
    set_default(spec, "suspend", false.into());
    set_default(spec, "podReplacementPolicy", "TerminatingOrFailed".into());
    if let Some(template) = spec.get_mut("template") {
        let ps = meta::object_field_mut(template, "spec");
        default_pod_spec(ps, false);
    }
}

fn default_job(obj: &mut Value, op: Operation) {
    let uid = meta::uid(obj).unwrap_or_default().to_owned();
    let name = meta::name(obj).unwrap_or_default().to_owned();
    let spec = meta::object_field_mut(obj, "spec");
    default_job_spec(spec);
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if op == Operation::Create && !manual && !uid.is_empty() {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        if let Some(template) = spec.get_mut("template") {
            let labels = meta::map_field_mut(meta::metadata_mut(template), "labels");
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", uid.as_str()),
                ("batch.kubernetes.io/job-name", name.as_str()),
                ("controller-uid", uid.as_str()),
                ("job-name", name.as_str()),
            ] {
                labels.insert(k.into(), v.into());
            }
        }
    }
    default_status(obj, op, json!({}));
}

/// The most a ConfigMap's or Secret's values may hold (`core.MaxSecretSize`).
const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The bytes of the values of a `data`-like map; `binary` values are
/// base64 of the bytes (undecodable ones count as they are written: their
/// own error is reported elsewhere).
fn value_bytes(map: Option<&Value>, binary: bool) -> usize {
    let Some(Value::Object(map)) = map else {
        return 0;
    };
    map.values()
        .filter_map(Value::as_str)
        .map(|v| match binary {
            true => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_or(v.len(), |b| b.len()),
            false => v.len(),
        })
        .sum()
}

/// `field.TooLong(path, "", core.MaxSecretSize)`.
fn data_too_long(field: &str) -> FieldError {
    FieldError {
        field: field.into(),
        reason: "FieldValueTooLong",
        message: format!("Too long: may not be more than {MAX_DATA_BYTES} bytes"),
    }
}

/// Validates kind-specific fields of `obj`.
pub(crate) fn validate(b: Builtin, obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    match b {
        Builtin::Secret => validate_secret(obj, old, errors),
        Builtin::ConfigMap => validate_config_map(obj, errors),
        Builtin::Service => validate_service(obj, old, errors),
        Builtin::Pod => validate_pod_spec(obj.get("spec"), "spec", errors),
        Builtin::Deployment | Builtin::ReplicaSet | Builtin::DaemonSet | Builtin::StatefulSet => {
            validate_workload(obj, old, errors);
        }
        Builtin::Job => validate_job(obj, errors),
        Builtin::Lease => validate_lease(obj, errors),
        Builtin::CustomResourceDefinition => errors.extend(super::crd::validate(obj)),
        Builtin::RoleBinding | Builtin::ClusterRoleBinding => {
            validate_binding(b == Builtin::ClusterRoleBinding, obj, old, errors)
        }
        Builtin::Namespace => validate_namespace(obj, old, errors),
        _ => super::policy::validate(b, obj, old, errors),
    }
}

/// A Secret's keys, its values (base64 that decodes, 1 MiB in all) and its
/// immutable `type`.
fn validate_secret(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    validate_data_keys(obj, "data", errors);
    // Each value decoded once: for its size and its validity.
    let (mut size, mut undecodable) = (0, Vec::new());
    if let Some(Value::Object(data)) = obj.get("data") {
        for (k, v) in data {
            let decoded = v
                .as_str()
                .map(|s| (s, base64::engine::general_purpose::STANDARD.decode(s)));
            let valid = match decoded {
                Some((_, Ok(bytes))) => {
                    size += bytes.len();
                    true
                }
                Some((s, Err(_))) => {
                    size += s.len();
                    false
                }
                None => false,
            };
            if !valid {
                undecodable.push(FieldError::invalid(
                    format!("data[{k}]"),
                    v,
                    "must be base64-encoded bytes",
                ));
            }
        }
    }
    if size > MAX_DATA_BYTES {
        errors.push(data_too_long("data"));
    }
    errors.extend(undecodable);
    if let (Some(old), Some(new)) = (old.and_then(|o| o.get("type")), obj.get("type"))
        && old != new
    {
        errors.push(FieldError::invalid("type", new, "field is immutable"));
    }
}

/// A ConfigMap's keys, its values (strings, 1 MiB in all with `binaryData`).
fn validate_config_map(obj: &Value, errors: &mut Vec<FieldError>) {
    validate_data_keys(obj, "data", errors);
    validate_data_keys(obj, "binaryData", errors);
    // kube-apiserver counts the values (decoded for binaryData),
    // not the keys, against 1 MiB, and names the object's root.
    let size = value_bytes(obj.get("data"), false) + value_bytes(obj.get("binaryData"), true);
    if size > MAX_DATA_BYTES {
        errors.push(data_too_long("[]"));
    }
    if let Some(Value::Object(data)) = obj.get("data") {
        for (k, v) in data {
            if !v.is_string() {
                errors.push(FieldError::invalid(
                    format!("data[{k}]"),
                    v,
                    "must be a string",
                ));
            }
        }
    }
}

/// A Job's pods restart `OnFailure` or `Never`, and their spec is valid.
fn validate_job(obj: &Value, errors: &mut Vec<FieldError>) {
    let policy = obj
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str);
    if !matches!(policy, Some("OnFailure" | "Never")) {
        errors.push(FieldError {
            field: "spec.template.spec.restartPolicy".into(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: \"OnFailure\", \"Never\"",
                super::go_value(&Value::String(policy.unwrap_or_default().to_owned()))
            ),
        });
    }
    validate_pod_spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        errors,
    );
}

/// A Lease's duration, when given, is positive.
fn validate_lease(obj: &Value, errors: &mut Vec<FieldError>) {
    if let Some(d) = obj.pointer("/spec/leaseDurationSeconds")
        && d.as_i64().is_none_or(|d| d <= 0)
    {
        errors.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
}

/// A namespace being deleted gets no new finalizers.
fn validate_namespace(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    if let (Some(old), true) = (old, meta::is_deleting(obj))
        && meta::finalizers(obj).len() > meta::finalizers(old).len()
    {
        errors.push(FieldError::forbidden(
            "metadata.finalizers",
            "no new finalizers can be added if the object is being deleted",
        ));
    }
}

/// A binding's roleRef and subjects, as kube-apiserver's RBAC validation
/// checks them: the kinds a binding may refer to, an immutable roleRef, and
/// a namespace on every ServiceAccount subject of a ClusterRoleBinding.
fn validate_binding(cluster: bool, obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let role_ref = obj.get("roleRef").cloned().unwrap_or_default();
    let kind = role_ref.get("kind").cloned().unwrap_or_default();
    let kinds: &[&str] = if cluster {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if !kind.as_str().is_some_and(|k| kinds.contains(&k)) {
        errors.push(FieldError::not_supported("roleRef.kind", &kind, kinds));
    }
    let group = role_ref.get("apiGroup").cloned().unwrap_or_default();
    if group.as_str() != Some("rbac.authorization.k8s.io") {
        errors.push(FieldError::not_supported(
            "roleRef.apiGroup",
            &group,
            &["rbac.authorization.k8s.io"],
        ));
    }
    if role_ref
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::required("roleRef.name", ""));
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef"))
        && *old_ref != role_ref
    {
        errors.push(FieldError::invalid(
            "roleRef",
            &role_ref,
            "cannot change roleRef",
        ));
    }
    let subjects = obj.get("subjects").and_then(Value::as_array);
    for (i, subject) in subjects.into_iter().flatten().enumerate() {
        let is_account = subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let namespace = subject
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if cluster && is_account && namespace.is_empty() {
            errors.push(FieldError::required(format!("subjects[{i}].namespace"), ""));
        }
    }
}

fn validate_data_keys(obj: &Value, field: &str, errors: &mut Vec<FieldError>) {
    if let Some(Value::Object(data)) = obj.get(field) {
        for k in data.keys() {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                errors.push(FieldError::invalid(
                    field,
                    &Value::String(k.clone()),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
}

fn validate_service(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let supported = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !supported.contains(&ty) {
        errors.push(FieldError::not_supported(
            "spec.type",
            &Value::String(ty.to_owned()),
            &supported,
        ));
    }
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ty != "ExternalName"
        && ports.is_none_or(Vec::is_empty)
        && obj.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None")
    {
        errors.push(FieldError::required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        match p.get("port").and_then(Value::as_i64) {
            Some(1..=65535) => {}
            Some(n) => errors.push(FieldError::invalid(
                format!("spec.ports[{i}].port"),
                &n.into(),
                "must be between 1 and 65535, inclusive",
            )),
            None => errors.push(FieldError::required(format!("spec.ports[{i}].port"), "")),
        }
        if ports.is_some_and(|ps| ps.len() > 1)
            && p.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
        }
    }
    if let Some(old) = old {
        let old_ip = old.pointer("/spec/clusterIP");
        let new_ip = obj.pointer("/spec/clusterIP");
        if old_ip.is_some() && new_ip.is_some() && old_ip != new_ip {
            errors.push(FieldError::invalid(
                "spec.clusterIP",
                new_ip.unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, errors: &mut Vec<FieldError>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        errors.push(FieldError::required(format!("{path}.containers"), ""));
        return;
    };
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            errors.push(FieldError::required(
                format!("{path}.containers[{i}].name"),
                "",
            ));
        } else if !names.insert(name.to_owned()) {
            errors.push(FieldError::duplicate(
                format!("{path}.containers[{i}].name"),
                &Value::String(name.to_owned()),
            ));
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errors.push(FieldError::required(
                format!("{path}.containers[{i}].image"),
                "",
            ));
        }
    }
}

fn validate_workload(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let selector = obj.pointer("/spec/selector");
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        errors.push(FieldError::required("spec.selector", ""));
        return;
    };
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let labels: std::collections::BTreeMap<String, String> = labels
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect();
    match operatorkit_query::labels::from_label_selector(selector) {
        Ok(sel) => {
            if sel.is_empty() {
                errors.push(FieldError::invalid(
                    "spec.selector",
                    selector,
                    "empty selector is invalid for deployment",
                ));
            } else if !sel.matches(&labels) {
                errors.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    &json!(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
        Err(e) => errors.push(FieldError::invalid(
            "spec.selector",
            selector,
            &e.to_string(),
        )),
    }
    if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
        && old_sel != selector
    {
        errors.push(FieldError::invalid(
            "spec.selector",
            selector,
            "field is immutable",
        ));
    }
    validate_pod_spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        errors,
    );
}

/// Allocates cluster IPs and node ports of a new Service.
pub(crate) fn allocate(b: Builtin, state: &State, mut obj: Value) -> ApiResult<Value> {
    if b != Builtin::Service {
        return Ok(obj);
    }
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    let services: Vec<Value> = state
        .values(&Builtin::Service.storage_key(), None)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    if ty != "ExternalName" {
        allocate_cluster_ip(meta::object_field_mut(&mut obj, "spec"), &services)?;
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        allocate_node_ports(meta::object_field_mut(&mut obj, "spec"), &services)?;
    }
    Ok(obj)
}

/// The Service's cluster IP: `None` (headless), the one asked for unless
/// another Service has it, else the first free one of the range.
fn allocate_cluster_ip(spec: &mut Map<String, Value>, services: &[Value]) -> ApiResult<()> {
    let ip_of = |s: &Value| {
        s.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match spec.get("clusterIP").and_then(Value::as_str) {
        Some("None") => {
            spec.insert("clusterIPs".into(), json!(["None"]));
        }
        Some(ip) if !ip.is_empty() => {
            let ip = ip.to_owned();
            if services.iter().any(|s| ip_of(s).as_deref() == Some(&ip)) {
                return Err(ApiError::invalid(
                    "Service",
                    "",
                    meta::name(&Value::Object(spec.clone())).unwrap_or_default(),
                    vec![crate::error::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "Invalid value: {ip:?}: failed to allocate IP {ip}: provided IP is already allocated"
                        ),
                        field: "spec.clusterIPs".into(),
                    }],
                ));
            }
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        _ => {
            let used: BTreeSet<String> = services.iter().filter_map(ip_of).collect();
            let ip = (2..SERVICE_RANGE_SIZE - 1)
                .map(|i| Ipv4Addr::from(SERVICE_RANGE_BASE + i).to_string())
                .find(|ip| !used.contains(ip))
                .ok_or_else(|| ApiError::internal("the service cluster IP range is full"))?;
            spec.insert("clusterIP".into(), ip.clone().into());
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
    Ok(())
}

/// A node port for each port without one, the first free of the range.
fn allocate_node_ports(spec: &mut Map<String, Value>, services: &[Value]) -> ApiResult<()> {
    let mut used: BTreeSet<i64> = services
        .iter()
        .filter_map(|s| s.pointer("/spec/ports").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .collect();
    let Some(Value::Array(ports)) = spec.get_mut("ports") else {
        return Ok(());
    };
    for p in ports.iter_mut() {
        if p.get("nodePort").and_then(Value::as_i64).is_some() {
            continue;
        }
        let port = NODE_PORTS
            .clone()
            .find(|n| !used.contains(n))
            .ok_or_else(|| ApiError::internal("the node port range is full"))?;
        used.insert(port);
        if let Value::Object(p) = p {
            p.insert("nodePort".into(), port.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_default_their_type_and_fold_string_data() {
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"a": "hello"}});
        default(Builtin::Secret, &mut s, None, Operation::Create);
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"]["a"], "aGVsbG8=");
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn persistent_volumes_start_pending_with_their_mode_and_policy() {
        let mut pv = json!({"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}});
        default(Builtin::PersistentVolume, &mut pv, None, Operation::Create);
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["status"], json!({"phase": "Pending"}));
    }

    #[test]
    fn deployments_get_kubernetes_defaults() {
        let mut d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}});
        default(Builtin::Deployment, &mut d, None, Operation::Create);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        let mut errors = Vec::new();
        validate(Builtin::Deployment, &d, None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        d["spec"]["template"]["metadata"]["labels"]["a"] = "other".into();
        validate(Builtin::Deployment, &d, None, &mut errors);
        assert!(
            errors[0]
                .message
                .contains("`selector` does not match template `labels`"),
            "{errors:?}"
        );
    }

    #[test]
    fn latest_images_are_always_pulled() {
        assert!(image_is_latest("nginx"));
        assert!(image_is_latest("registry:5000/nginx:latest"));
        assert!(image_is_latest("registry:5000/nginx"));
        assert!(!image_is_latest("nginx@sha256:abc"));
        assert!(!image_is_latest("nginx:1.27"));
    }
}
