//! ClusterRole aggregation, as kube-controller-manager's
//! `clusterrole-aggregation` controller does it: a ClusterRole with an
//! `aggregationRule` gets the rules of every ClusterRole its
//! `clusterRoleSelectors` select (in name order, without repeats), and keeps
//! them current as those roles change.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::{ObjectKey, StorageKey, Store};

fn cluster_roles() -> StorageKey {
    StorageKey::new("rbac.authorization.k8s.io", "clusterroles")
}

/// Brings every aggregated ClusterRole's rules up to date; aggregated roles
/// that select aggregated roles settle within a few passes.
pub(crate) fn reconcile(store: &Store) {
    for _ in 0..8 {
        if !pass(store) {
            return;
        }
    }
}

/// One pass; whether anything changed.
fn pass(store: &Store) -> bool {
    let roles: Vec<(ObjectKey, Value)> = store.read(|s| s.values(&cluster_roles(), None));
    let mut changed = false;
    for (key, role) in &roles {
        let Some(selectors) = role
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let mut rules: Vec<Value> = Vec::new();
        for (other_key, other) in &roles {
            if other_key == key || !selectors.iter().any(|sel| selects(sel, other)) {
                continue;
            }
            for rule in other
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
        if role.get("rules") == Some(&Value::Array(rules.clone())) {
            continue;
        }
        let updated = store.write(|state| {
            let Some(current) = state.value(&cluster_roles(), key) else {
                return Ok(false);
            };
            let mut next = current;
            next["rules"] = Value::Array(rules);
            state.put(&cluster_roles(), key, next);
            Ok(true)
        });
        changed |= updated.unwrap_or(false);
    }
    changed
}

/// Whether a `metav1.LabelSelector` selects `obj` (an empty one selects
/// nothing here, as the controller treats it).
fn selects(selector: &Value, obj: &Value) -> bool {
    let labels: BTreeMap<&str, &str> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(|m| m.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        return false;
    }
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k.as_str()).copied() == v.as_str());
    let expressions_ok = expressions.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let got = labels.get(key).copied();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => got.is_some_and(|g| values.contains(&g)),
            Some("NotIn") => got.is_none_or(|g| !values.contains(&g)),
            Some("Exists") => got.is_some(),
            Some("DoesNotExist") => got.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}
