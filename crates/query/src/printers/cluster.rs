//! Printers of the remaining cluster kinds: PodDisruptionBudget (`policy`),
//! PriorityClass (`scheduling.k8s.io`), StorageClass (`storage.k8s.io`),
//! RuntimeClass (`node.k8s.io`), the admission webhook configurations,
//! CertificateSigningRequest, Lease, and the RBAC bindings.

use std::time::SystemTime;

use serde_json::Value;

use super::cells::{age, arr_at, at, bool_at, int_at, name, opt_int_at, opt_str_at, str_at, text};
use super::descriptions as d;
use super::{AGE, Column, NAME, PrintFn, Printer, Row, col, wide};
use crate::table::human_nanos;

const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

/// The printer of a kind of one of these groups.
pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let (columns, print): (&'static [Column], PrintFn) = match (group, kind) {
        ("policy", "PodDisruptionBudget") => (PDB_COLUMNS, pod_disruption_budget),
        ("scheduling.k8s.io", "PriorityClass") => (PRIORITYCLASS_COLUMNS, priority_class),
        ("storage.k8s.io", "StorageClass") => (STORAGECLASS_COLUMNS, storage_class),
        ("node.k8s.io", "RuntimeClass") => (RUNTIMECLASS_COLUMNS, runtime_class),
        (ADMISSION, "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") => {
            (WEBHOOK_COLUMNS, webhooks)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => (CSR_COLUMNS, csr),
        ("coordination.k8s.io", "Lease") => (LEASE_COLUMNS, lease),
        (RBAC, "RoleBinding") => (ROLEBINDING_COLUMNS, binding),
        (RBAC, "ClusterRoleBinding") => (CLUSTERROLEBINDING_COLUMNS, binding),
        _ => return None,
    };
    Some(Printer { columns, print })
}

const PDB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

/// `IntOrString.String()`, `N/A` when unset.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::Null => "N/A".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pod_disruption_budget(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(int_or_string(at(obj, &["spec", "minAvailable"]))),
        text(int_or_string(at(obj, &["spec", "maxUnavailable"]))),
        Value::from(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, now),
    ])
}

const PRIORITYCLASS_COLUMNS: &[Column] = &[
    NAME,
    col("Value", "integer", d::PC_VALUE),
    col("Global-Default", "boolean", d::PC_GLOBAL_DEFAULT),
    AGE,
    col("PreemptionPolicy", "string", d::PC_PREEMPTION_POLICY),
];

fn priority_class(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        Value::from(int_at(obj, &["value"])),
        Value::Bool(bool_at(obj, &["globalDefault"])),
        age(obj, now),
        text(str_at(obj, &["preemptionPolicy"])),
    ])
}

const STORAGECLASS_COLUMNS: &[Column] = &[
    NAME,
    col("Provisioner", "string", d::SC_PROVISIONER),
    col("ReclaimPolicy", "string", d::SC_RECLAIM_POLICY),
    col("VolumeBindingMode", "string", d::SC_BINDING_MODE),
    col("AllowVolumeExpansion", "string", d::SC_ALLOW_EXPANSION),
    AGE,
];

/// `storageutil.IsDefaultAnnotation`: the (beta) is-default-class annotation is `true`.
fn is_default_class(obj: &Value) -> bool {
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|a| str_at(obj, &["metadata", "annotations", a]) == "true")
}

fn storage_class(obj: &Value, now: SystemTime) -> Row {
    let mut shown = str_at(obj, &["metadata", "name"]).to_string();
    if is_default_class(obj) {
        shown.push_str(" (default)");
    }
    Row::of(vec![
        text(shown),
        text(str_at(obj, &["provisioner"])),
        text(opt_str_at(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
        text(opt_str_at(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::Bool(bool_at(obj, &["allowVolumeExpansion"])),
        age(obj, now),
    ])
}

/// kube-apiserver describes HANDLER with `ObjectMeta`'s (missing) doc of
/// `handler`: an empty string.
const RUNTIMECLASS_COLUMNS: &[Column] = &[NAME, col("Handler", "string", ""), AGE];

fn runtime_class(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["handler"])),
        age(obj, now),
    ])
}

const WEBHOOK_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhooks(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        Value::from(arr_at(obj, &["webhooks"]).len()),
        age(obj, now),
    ])
}

const CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    col("SignerName", "string", d::CSR_SIGNER_NAME),
    col("Requestor", "string", d::CSR_REQUEST),
    col("RequestedDuration", "string", d::CSR_EXPIRATION),
    col("Condition", "string", d::CSR_CONDITIONS),
];

/// `extractCSRStatus`: `Denied`, `Approved` or `Pending`, then `,Failed`
/// and `,Issued`.
fn csr_status(obj: &Value) -> String {
    let has = |t: &str| {
        arr_at(obj, &["status", "conditions"])
            .iter()
            .any(|c| str_at(c, &["type"]) == t)
    };
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

fn csr(obj: &Value, now: SystemTime) -> Row {
    let duration = opt_int_at(obj, &["spec", "expirationSeconds"])
        .map_or("<none>".to_string(), |s| {
            human_nanos(i128::from(s) * 1_000_000_000)
        });
    let signer = str_at(obj, &["spec", "signerName"]);
    Row::of(vec![
        name(obj),
        age(obj, now),
        text(if signer.is_empty() { "<none>" } else { signer }),
        text(str_at(obj, &["spec", "username"])),
        text(duration),
        text(csr_status(obj)),
    ])
}

const LEASE_COLUMNS: &[Column] = &[NAME, col("Holder", "string", d::LEASE_HOLDER), AGE];

fn lease(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, now),
    ])
}

const ROLEBINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", d::RB_ROLE_REF),
    AGE,
    wide("Users", "string", "Users in the roleBinding"),
    wide("Groups", "string", "Groups in the roleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    ),
];

const CLUSTERROLEBINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", d::CRB_ROLE_REF),
    AGE,
    wide("Users", "string", "Users in the clusterRoleBinding"),
    wide("Groups", "string", "Groups in the clusterRoleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

/// A RoleBinding or ClusterRoleBinding: `kind/name` of the role, and the
/// users, groups and `namespace/name` service accounts (`rbac.SubjectsStrings`).
fn binding(obj: &Value, now: SystemTime) -> Row {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in arr_at(obj, &["subjects"]) {
        match str_at(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(s, &["namespace"]),
                str_at(s, &["name"])
            )),
            "User" => users.push(str_at(s, &["name"]).to_string()),
            "Group" => groups.push(str_at(s, &["name"]).to_string()),
            _ => {}
        }
    }
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    Row::of(vec![
        name(obj),
        text(role),
        age(obj, now),
        text(users.join(", ")),
        text(groups.join(", ")),
        text(sas.join(", ")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;
    use serde_json::json;

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2025-06-01T11:59:50Z"})
    }

    #[test]
    fn budgets_and_priorities() {
        let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            pod_disruption_budget(&pdb, now()).cells,
            vec![
                json!("web"),
                json!("50%"),
                json!("N/A"),
                json!(1),
                json!("10s")
            ]
        );
        let pdb = json!({"spec": {"maxUnavailable": 1}});
        assert_eq!(
            pod_disruption_budget(&pdb, now()).cells[1..4],
            [json!("N/A"), json!("1"), json!(0)]
        );
        let pc = json!({"metadata": meta("system-node-critical"), "value": 2000001000, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            priority_class(&pc, now()).cells,
            vec![
                json!("system-node-critical"),
                json!(2000001000),
                json!(false),
                json!("10s"),
                json!("PreemptLowerPriority")
            ]
        );
    }

    #[test]
    fn storage_and_runtime_classes() {
        let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            storage_class(&sc, now()).cells,
            vec![
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("<unknown>")
            ]
        );
        let plain =
            json!({"metadata": {"name": "fast"}, "provisioner": "x", "allowVolumeExpansion": true});
        assert_eq!(
            storage_class(&plain, now()).cells[..5],
            [
                json!("fast"),
                json!("x"),
                json!("Delete"),
                json!("Immediate"),
                json!(true)
            ]
        );
        let rc = json!({"metadata": meta("gvisor"), "handler": "runsc"});
        assert_eq!(
            runtime_class(&rc, now()).cells,
            vec![json!("gvisor"), json!("runsc"), json!("10s")]
        );
    }

    #[test]
    fn webhooks_csrs_leases() {
        let wh = json!({"metadata": meta("policy"), "webhooks": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            webhooks(&wh, now()).cells,
            vec![json!("policy"), json!(2), json!("10s")]
        );
        let csr_obj = json!({"metadata": meta("csr-1"), "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice",
            "expirationSeconds": 86400}, "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
        assert_eq!(
            csr(&csr_obj, now()).cells,
            vec![
                json!("csr-1"),
                json!("10s"),
                json!("kubernetes.io/kube-apiserver-client"),
                json!("alice"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        let denied = json!({"status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}});
        assert_eq!(
            csr(&denied, now()).cells[2..],
            [
                json!("<none>"),
                json!(""),
                json!("<none>"),
                json!("Denied,Failed")
            ]
        );
        assert_eq!(csr(&json!({}), now()).cells[5], "Pending");
        let l = json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_abc"}});
        assert_eq!(
            lease(&l, now()).cells,
            vec![json!("kube-scheduler"), json!("cp-1_abc"), json!("10s")]
        );
    }

    #[test]
    fn bindings() {
        let rb = json!({"metadata": meta("read"), "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"},
                {"kind": "ServiceAccount", "namespace": "ci", "name": "runner"}, {"kind": "Other", "name": "x"}]});
        assert_eq!(
            binding(&rb, now()).cells,
            vec![
                json!("read"),
                json!("ClusterRole/view"),
                json!("10s"),
                json!("alice, bob"),
                json!("devs"),
                json!("ci/runner")
            ]
        );
        assert_eq!(
            binding(&json!({}), now()).cells[1..],
            [
                json!("/"),
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!("")
            ]
        );
    }
}
