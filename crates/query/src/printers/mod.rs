//! kube-apiserver's printers for the built-in kinds, ported from
//! `pkg/printers/internalversion/printers.go`: for each kind, the column
//! definitions (name, type, format, description, priority) and the cells of
//! one object, read from the object's stored JSON.
//!
//! This module owns *which* kinds have a printer and the [`Printer`] shape;
//! [`crate::table`] assembles the Table. Printers are looked up by API
//! group and kind ([`printer_for`]), not by the registry's built-in enum, so
//! a kind added to the registry later picks up its printer. kube-apiserver
//! always prints "wide" (every column, priority 1 included) and lets kubectl
//! hide the priority-1 columns unless `-o wide`; so do these printers.
//!
//! Kinds kube-apiserver serves with the default `NAME`/`CREATED AT`
//! convertor (Role, ClusterRole, LimitRange, CustomResourceDefinition) have
//! no printer here: [`printer_for`] returns `None` for them.
//!
//! Submodules, one per family of kinds: `pod`, `workloads` (controllers of
//! pods), `core` (the other core `v1` kinds), `events`, `networking`,
//! `cluster` (policy, scheduling, storage, RBAC bindings, admission,
//! certificates, coordination), `hpa`; shared cell formatting is in `cells`,
//! quantities in `quantity`, column descriptions in `descriptions`.

/// Kubernetes' `Ready` condition type of pods and nodes, also the word the
/// printers show for it (a column title, a ready node's status). Spelled
/// once for the whole repository (`tests/keys.rs`): the API server and the
/// simulated cluster use this one.
pub const READY: &str = "Ready";

mod cells;
mod cluster;
mod core;
mod descriptions;
mod events;
mod hpa;
mod networking;
mod pod;
mod quantity;
mod workloads;

use std::time::SystemTime;

use serde_json::Value;

use crate::table::{CREATION_TIMESTAMP_DESCRIPTION, NAME_DESCRIPTION};

/// One column definition (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column header, e.g. `Name`.
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `boolean`.
    pub typ: &'static str,
    /// OpenAPI format: `name` for the name column, else empty.
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0 for `kubectl get`, 1 for the extra `-o wide` columns.
    pub priority: i64,
}

/// A column of priority 0.
pub(crate) const fn col(
    name: &'static str,
    typ: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        typ,
        format: "",
        description,
        priority: 0,
    }
}

/// A column of priority 1 (shown by `kubectl get -o wide`).
pub(crate) const fn wide(
    name: &'static str,
    typ: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        typ,
        format: "",
        description,
        priority: 1,
    }
}

/// The `Name` column every printer starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    typ: "string",
    format: "name",
    description: NAME_DESCRIPTION,
    priority: 0,
};

/// The `Age` column (a `string` of `duration.HumanDuration`).
pub(crate) const AGE: Column = col("Age", "string", CREATION_TIMESTAMP_DESCRIPTION);

/// One printed row: the cells, and the row `conditions` (only pods set them).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// One JSON value per column.
    pub cells: Vec<Value>,
    /// `metav1.TableRowCondition`s, if any.
    pub conditions: Option<Value>,
}

impl Row {
    /// A row without conditions.
    pub(crate) fn of(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

/// Prints one object at the server's "now".
pub type PrintFn = fn(&Value, SystemTime) -> Row;

/// A kind's printer: its columns and the function printing one object at the
/// server's "now".
#[derive(Clone, Copy)]
pub struct Printer {
    /// Column definitions, in cell order.
    pub columns: &'static [Column],
    /// Prints one object.
    pub print: PrintFn,
}

/// The printer kube-apiserver uses for `group`/`kind` (`""` is the core
/// group), or `None` where it uses the default convertor.
pub fn printer_for(group: &str, kind: &str) -> Option<Printer> {
    let p = |columns, print| Some(Printer { columns, print });
    match (group, kind) {
        ("", "Pod") => p(pod::COLUMNS, pod::print),
        ("", "Event") => p(events::COLUMNS, events::print_core),
        ("events.k8s.io", "Event") => p(events::COLUMNS, events::print_events_k8s_io),
        ("", _) => core::printer(kind),
        ("apps" | "batch", _) => workloads::printer(group, kind),
        ("autoscaling", "HorizontalPodAutoscaler") => p(hpa::COLUMNS, hpa::print),
        ("networking.k8s.io" | "discovery.k8s.io", _) => networking::printer(group, kind),
        _ => cluster::printer(group, kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_convertor_kinds_have_no_printer() {
        for (g, k) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("", "LimitRange"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
        ] {
            assert!(printer_for(g, k).is_none(), "{g}/{k}");
        }
    }

    #[test]
    fn every_printer_fills_every_column_even_for_an_empty_object() {
        let kinds = [
            ("", "Pod"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Service"),
            ("", "Endpoints"),
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("", "Namespace"),
            ("", "Node"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "ResourceQuota"),
            ("", "ReplicationController"),
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "DaemonSet"),
            ("apps", "StatefulSet"),
            ("apps", "ControllerRevision"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("networking.k8s.io", "Ingress"),
            ("networking.k8s.io", "IngressClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("discovery.k8s.io", "EndpointSlice"),
            ("policy", "PodDisruptionBudget"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("storage.k8s.io", "StorageClass"),
            ("node.k8s.io", "RuntimeClass"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
            ),
            ("certificates.k8s.io", "CertificateSigningRequest"),
            ("coordination.k8s.io", "Lease"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ];
        let odd = [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!({"metadata": 1, "spec": [], "status": "x"}),
            serde_json::json!({"spec": {"containers": 3, "ports": {}, "selector": 5, "template": null}}),
        ];
        for (g, k) in kinds {
            let printer = printer_for(g, k).unwrap_or_else(|| panic!("{g}/{k}"));
            for obj in &odd {
                let row = (printer.print)(obj, SystemTime::now());
                assert_eq!(row.cells.len(), printer.columns.len(), "{g}/{k}");
            }
            assert_eq!(
                printer
                    .columns
                    .iter()
                    .filter(|c| c.format == "name")
                    .count(),
                1
            );
        }
    }
}
