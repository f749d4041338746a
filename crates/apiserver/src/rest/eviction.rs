//! `POST pods/<name>/eviction`: a deletion that honours the pod's
//! PodDisruptionBudget, as kube-apiserver's `EvictionREST` decides it; what
//! `kubectl drain` and operators draining a node call.
//!
//! # Expected flow
//! 1. A pod that is terminating, not yet running (`Pending`) or finished
//!    (`Succeeded`, `Failed`) is deleted without looking at budgets.
//! 2. Otherwise the budgets of its namespace whose selector selects it are
//!    found: none, and it is deleted; more than one is a 500, as there.
//! 3. With one budget: the pods it selects are counted (`expected`,
//!    terminating ones included, standing in for their controller's scale:
//!    an evicted pod still counts until it is gone) and those Ready and not
//!    terminating (`healthy`). The budget needs `desired` healthy pods:
//!    `minAvailable`, or `expected` minus `maxUnavailable` (percentages of
//!    `expected`, rounded up, within 0 and 100).
//! 4. A Ready pod is deleted when `healthy - desired > 0`; an unready one
//!    also when the budget is met (`healthy >= desired > 0`, the default
//!    `unhealthyPodEvictionPolicy: IfHealthyBudget`) or always
//!    (`AlwaysAllow`). Else the answer is 429 `TooManyRequests` with a
//!    `DisruptionBudget` cause naming the budget, and nothing changes.
//!
//! # Guarantees
//! - The check and the deletion are one write under the store's lock: two
//!   evictions never both spend the last allowed disruption.
//! - The deletion is an ordinary graceful one (the eviction's
//!   `deleteOptions`): the pod terminates as its kubelet stops it.
//!
//! # Caveats
//! - There is no disruption controller: the budget is computed from the
//!   pods at the time of the request, and a budget's `status` is not
//!   written. `expected` counts the selected pods, not the scale of their
//!   controllers, so a pod missing from its ReplicaSet does not count.
//! - A budget with neither `minAvailable` nor `maxUnavailable` needs no
//!   healthy pod.

use serde_json::{Value, json};

use super::options::DeleteOptions;
use super::{Rest, delete_in, scoped_namespace};
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resources::{Builtin, ResourceType};
use crate::store::{ObjectKey, State};
use operatorkit_query::labels;

impl Rest {
    /// Evicts pod `name` in `ns` as `eviction` (a policy/v1 Eviction) asks;
    /// the `Status` to answer.
    pub(crate) fn evict(
        &self,
        pods: &ResourceType,
        ns: &str,
        name: &str,
        eviction: &Value,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        if let Some(n) = meta::name(eviction).filter(|n| *n != name) {
            return Err(ApiError::bad_request(format!(
                "name in URL does not match name in Eviction object: {n} != {name}"
            )));
        }
        let storage = pods.storage_key();
        let key = ObjectKey::new(scoped_namespace(pods, Some(ns)), name);
        self.store.write(|state| {
            let pod = state.value(&storage, &key).ok_or_else(|| {
                ApiError::not_found(crate::error::Target {
                    group: "",
                    resource: "pods",
                    name,
                })
            })?;
            if !ignores_budgets(&pod) {
                check_budget(state, ns, &pod)?;
            }
            delete_in(state, pods, &storage, &key, opts)
        })?;
        Ok(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "code": 201,
        }))
    }
}

/// Terminating, pending and finished pods are evicted without a budget.
fn ignores_budgets(pod: &Value) -> bool {
    meta::is_deleting(pod)
        || matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Pending" | "Succeeded" | "Failed")
        )
}

/// Whether the pod's Ready condition is True.
fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == meta::READY && c["status"] == "True")
        })
}

/// Refuses the eviction when the budget selecting `pod` does not allow it.
fn check_budget(state: &State, ns: &str, pod: &Value) -> ApiResult<()> {
    let pod_labels = meta::labels(pod);
    let budgets: Vec<_> = state
        .values(&Builtin::PodDisruptionBudget.storage_key(), Some(ns))
        .into_iter()
        .filter(|(_, pdb)| selector(pdb).is_some_and(|s| s.matches(&pod_labels)))
        .collect();
    let pdb = match budgets.as_slice() {
        [] => return Ok(()),
        [(_, pdb)] => pdb,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let Some(select) = selector(pdb) else {
        return Ok(());
    };
    let selected: Vec<_> = state
        .values(&Builtin::Pod.storage_key(), Some(ns))
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| select.matches(&meta::labels(p)))
        .collect();
    let expected = selected.len() as i64;
    let healthy = selected
        .iter()
        .filter(|p| !meta::is_deleting(p) && is_ready(p))
        .count() as i64;
    let desired = desired_healthy(pdb, expected);
    let always = pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow");
    let unhealthy_allowed = !is_ready(pod) && (always || (healthy >= desired && desired > 0));
    let allowed = unhealthy_allowed || healthy.saturating_sub(desired) > 0;
    if allowed {
        return Ok(());
    }
    let budget = meta::name(pdb).unwrap_or_default();
    Err(ApiError::too_many_requests(
        "Cannot evict pod as it would violate the pod's disruption budget.",
        Cause {
            reason: "DisruptionBudget".into(),
            message: format!(
                "The disruption budget {budget} needs {desired} healthy pods and has {healthy} currently"
            ),
            field: String::new(),
        },
    ))
}

/// The budget's selector; `None` when it is missing or does not parse
/// (such a budget selects nothing).
fn selector(pdb: &Value) -> Option<labels::Selector> {
    let s = pdb.pointer("/spec/selector")?;
    labels::from_label_selector(s)
        .ok()
        .filter(|s| !s.is_nothing())
}

/// How many healthy pods the budget needs out of `expected`.
fn desired_healthy(pdb: &Value, expected: i64) -> i64 {
    if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
        return expected.saturating_sub(scaled(max, expected)).max(0);
    }
    match pdb.pointer("/spec/minAvailable") {
        Some(min) => scaled(min, expected),
        None => 0,
    }
}

/// An int-or-percent of `total` (at least 0), percentages (0 to 100)
/// rounded up; what does not parse is 0.
fn scaled(value: &Value, total: i64) -> i64 {
    let n = match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                (percent
                    .clamp(0, 100)
                    .saturating_mul(total.max(0))
                    .saturating_add(99))
                    / 100
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    };
    n.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn the_budget_needs_min_available_or_expected_minus_max_unavailable() {
        let sel = json!({"matchLabels": {"app": "web"}});
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "minAvailable": 2})), 5),
            2
        );
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "minAvailable": "50%"})), 5),
            3
        );
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "maxUnavailable": 1})), 5),
            4
        );
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "maxUnavailable": "30%"})), 5),
            3
        );
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "maxUnavailable": 9})), 5),
            0
        );
        assert_eq!(desired_healthy(&pdb(json!({"selector": sel})), 5), 0);
        // What a user may write does not overflow.
        assert_eq!(
            desired_healthy(
                &pdb(json!({"selector": sel, "minAvailable": "99999999999999999%"})),
                5
            ),
            5
        );
        assert_eq!(
            desired_healthy(&pdb(json!({"selector": sel, "minAvailable": i64::MIN})), 5),
            0
        );
        assert_eq!(
            desired_healthy(
                &pdb(json!({"selector": sel, "maxUnavailable": i64::MIN})),
                5
            ),
            5
        );
    }

    #[test]
    fn pending_finished_and_terminating_pods_skip_the_budget() {
        let running = json!({"metadata": {}, "status": {"phase": "Running"}});
        assert!(!ignores_budgets(&running));
        for phase in ["Pending", "Succeeded", "Failed"] {
            assert!(ignores_budgets(
                &json!({"metadata": {}, "status": {"phase": phase}})
            ));
        }
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert!(ignores_budgets(&deleting));
    }
}
