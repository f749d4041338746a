//! The HorizontalPodAutoscaler printer: REFERENCE, TARGETS
//! (`formatHPAMetrics`), MINPODS, MAXPODS, REPLICAS. Objects in the
//! `autoscaling/v2` shape are read as stored; an `autoscaling/v1` object's
//! CPU target and current utilization are read as the one `Resource` metric
//! they convert to.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::cells::{age, arr_at, at, int_at, is_set, name, opt_int_at, str_at, text};
use super::descriptions as d;
use super::quantity::quantity_ptr_string;
use super::{AGE, Column, NAME, Row, col};

/// HorizontalPodAutoscaler columns.
pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col("Reference", "string", d::HPA_SCALE_TARGET_REF),
    col("Targets", "string", d::HPA_METRICS),
    col("MinPods", "string", d::HPA_MIN_REPLICAS),
    col("MaxPods", "string", d::HPA_MAX_REPLICAS),
    col("Replicas", "string", d::HPA_CURRENT_REPLICAS),
    AGE,
];

/// The metric specs and statuses, converting the `autoscaling/v1` fields.
fn metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let spec = at(hpa, &["spec"]);
    if !at(spec, &["metrics"]).is_null() || at(spec, &["targetCPUUtilizationPercentage"]).is_null()
    {
        return (
            arr_at(spec, &["metrics"]).to_vec(),
            arr_at(hpa, &["status", "currentMetrics"]).to_vec(),
        );
    }
    let target = at(spec, &["targetCPUUtilizationPercentage"]);
    let specs = vec![
        json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}),
    ];
    let statuses = match at(hpa, &["status", "currentCPUUtilizationPercentage"]) {
        Value::Null => Vec::new(),
        current => vec![
            json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}),
        ],
    };
    (specs, statuses)
}

/// `current/target` of an `Object` or `External` metric (`source` is the
/// spec's and status's member name).
fn value_metric(spec: &Value, status: Option<&Value>, source: &str) -> String {
    let target = at(spec, &[source, "target"]);
    let current = status
        .filter(|s| is_set(s, &[source]))
        .map(|s| at(s, &[source, "current"]));
    if !at(target, &["averageValue"]).is_null() {
        let cur = match current {
            Some(c) if !at(c, &["averageValue"]).is_null() => {
                quantity_ptr_string(at(c, &["averageValue"]))
            }
            _ => "<unknown>".to_string(),
        };
        return format!(
            "{cur}/{} (avg)",
            quantity_ptr_string(at(target, &["averageValue"]))
        );
    }
    let cur = current.map_or("<unknown>".to_string(), |c| {
        quantity_ptr_string(at(c, &["value"]))
    });
    format!("{cur}/{}", quantity_ptr_string(at(target, &["value"])))
}

/// `name: current/target` of a `Resource` or `ContainerResource` metric.
fn resource_metric(spec: &Value, status: Option<&Value>, source: &str) -> String {
    let res = at(spec, &[source]);
    let target = at(res, &["target"]);
    let current = status
        .filter(|s| is_set(s, &[source]))
        .map(|s| at(s, &[source, "current"]));
    let metric = str_at(res, &["name"]);
    if !at(target, &["averageValue"]).is_null() {
        let cur = current.map_or("<unknown>".to_string(), |c| {
            quantity_ptr_string(at(c, &["averageValue"]))
        });
        return format!(
            "{metric}: {cur}/{}",
            quantity_ptr_string(at(target, &["averageValue"]))
        );
    }
    let cur = match current.and_then(|c| opt_int_at(c, &["averageUtilization"])) {
        Some(u) => format!("{u}%"),
        None => "<unknown>".to_string(),
    };
    let tgt = opt_int_at(target, &["averageUtilization"])
        .map_or("<auto>".to_string(), |u| format!("{u}%"));
    format!("{metric}: {cur}/{tgt}")
}

/// `formatHPAMetrics`: the first two metrics, then ` + N more...`.
fn format_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i);
            match str_at(spec, &["type"]) {
                "External" => value_metric(spec, status, "external"),
                "Object" => value_metric(spec, status, "object"),
                "Pods" => {
                    let cur = status
                        .filter(|s| is_set(s, &["pods"]))
                        .map_or("<unknown>".to_string(), |s| {
                            quantity_ptr_string(at(s, &["pods", "current", "averageValue"]))
                        });
                    format!(
                        "{cur}/{}",
                        quantity_ptr_string(at(spec, &["pods", "target", "averageValue"]))
                    )
                }
                "Resource" => resource_metric(spec, status, "resource"),
                "ContainerResource" => resource_metric(spec, status, "containerResource"),
                _ => "<unknown type>".to_string(),
            }
        })
        .collect();
    const MAX: usize = 2;
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

/// Prints one HorizontalPodAutoscaler.
pub(super) fn print(hpa: &Value, now: SystemTime) -> Row {
    let spec = at(hpa, &["spec"]);
    let (specs, statuses) = metrics(hpa);
    let reference = format!(
        "{}/{}",
        str_at(spec, &["scaleTargetRef", "kind"]),
        str_at(spec, &["scaleTargetRef", "name"])
    );
    let min = opt_int_at(spec, &["minReplicas"]).map_or("<unset>".to_string(), |m| m.to_string());
    Row::of(vec![
        name(hpa),
        text(reference),
        text(format_metrics(&specs, &statuses)),
        text(min),
        Value::from(int_at(spec, &["maxReplicas"])),
        Value::from(int_at(hpa, &["status", "currentReplicas"])),
        age(hpa, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;

    #[test]
    fn v2_metrics() {
        let hpa = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]},
            "status": {"currentReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "150m"}}}]}});
        assert_eq!(
            print(&hpa, now()).cells,
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 45%/80%, memory: <unknown>/1Gi + 1 more..."),
                json!("2"),
                json!(10),
                json!(3),
                json!("60m")
            ]
        );
    }

    #[test]
    fn other_metric_kinds() {
        let specs = [
            json!({"type": "Pods", "pods": {"target": {"averageValue": "10"}}}),
            json!({"type": "External", "external": {"target": {"value": "5"}}}),
        ];
        let statuses = [
            json!({"type": "Pods", "pods": {"current": {"averageValue": "2500m"}}}),
            json!({"type": "External", "external": {"current": {}}}),
        ];
        assert_eq!(format_metrics(&specs, &statuses), "2500m/10, <nil>/5");
        let obj = [
            json!({"type": "Object", "object": {"target": {"averageValue": "3"}}}),
            json!({"type": "Foo"}),
        ];
        assert_eq!(
            format_metrics(&obj, &[]),
            "<unknown>/3 (avg), <unknown type>"
        );
        let cr = [
            json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {}}}),
        ];
        assert_eq!(format_metrics(&cr, &[]), "cpu: <unknown>/<auto>");
        assert_eq!(format_metrics(&[], &[]), "<none>");
    }

    #[test]
    fn v1_shape_and_empty() {
        let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 50},
            "status": {"currentCPUUtilizationPercentage": 20, "currentReplicas": 1}});
        assert_eq!(
            print(&hpa, now()).cells[1..6],
            [
                json!("Deployment/d"),
                json!("cpu: 20%/50%"),
                json!("<unset>"),
                json!(4),
                json!(1)
            ]
        );
        assert_eq!(
            print(&json!({}), now()).cells[1..4],
            [json!("/"), json!("<none>"), json!("<unset>")]
        );
    }
}
