//! ResourceQuota status, as kube-controller-manager's resourcequota
//! controller keeps it for object counts: `status.hard` mirrors `spec.hard`
//! and `status.used` counts, for each counted resource the quota limits,
//! the namespace's objects (`pods` that have not finished, `services` with
//! `services.nodeports` and `services.loadbalancers`, `secrets`,
//! `configmaps`, `persistentvolumeclaims`, `replicationcontrollers`,
//! `resourcequotas`, and `count/<resource>[.<group>]` of any kind). Compute
//! resources (`requests.cpu`, ...) are not summed, and nothing is refused
//! at admission: the quota is reported, not enforced.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::follow::Follower;
use crate::meta;
use crate::resources::Builtin;
use crate::rest::options::WriteOptions;
use crate::rest::{Rest, Subresource};
use crate::store::{Event, State, StorageKey};

/// Keeps every quota's status current, as a follower of the event log.
pub(crate) fn follower(rest: Rest) -> Box<dyn Follower> {
    Box::new(Quotas {
        rest,
        dirty: BTreeSet::new(),
    })
}

/// The quota controller: namespaces whose counts may have changed.
struct Quotas {
    rest: Rest,
    dirty: BTreeSet<String>,
}

impl Follower for Quotas {
    fn resync(&mut self) {
        self.dirty = all_namespaces_with_quotas(&self.rest);
    }

    fn observe(&mut self, e: &Event) {
        if !e.key.namespace.is_empty() {
            self.dirty.insert(e.key.namespace.clone());
        }
    }

    fn settle(&mut self) {
        recount(&self.rest, &std::mem::take(&mut self.dirty));
    }
}

fn all_namespaces_with_quotas(rest: &Rest) -> BTreeSet<String> {
    rest.store.read(|s| {
        s.values(&Builtin::ResourceQuota.storage_key(), None)
            .into_iter()
            .map(|(k, _)| k.namespace)
            .collect()
    })
}

/// Writes the status of every quota in `namespaces` whose counts changed.
fn recount(rest: &Rest, namespaces: &BTreeSet<String>) {
    let Some(rt) = rest.registry.builtin(Builtin::ResourceQuota) else {
        return;
    };
    let opts = WriteOptions {
        field_manager: Some("kube-controller-manager".into()),
        ..WriteOptions::default()
    };
    for ns in namespaces {
        let (quotas, counts) = rest.store.read(|s| {
            let quotas = s.values(&Builtin::ResourceQuota.storage_key(), Some(ns));
            let counts = if quotas.is_empty() {
                BTreeMap::new()
            } else {
                counts(s, ns, &quotas.iter().map(|(_, q)| q).collect::<Vec<_>>())
            };
            (quotas, counts)
        });
        for (key, quota) in quotas {
            let status = status(&quota, &counts);
            if quota.get("status") == Some(&status) {
                continue;
            }
            let mut updated = quota.clone();
            meta::set_pointer(&mut updated, "/status", Some(status));
            if let Err(e) = rest.update(
                &rt,
                Some(ns),
                &key.name,
                Subresource::Status,
                updated,
                &opts,
            ) {
                tracing::debug!(%ns, quota = %key.name, error = %e.message, "quota status not written");
            }
        }
    }
}

/// The status of `quota` given the namespace's counts.
fn status(quota: &Value, counts: &BTreeMap<String, i64>) -> Value {
    let hard = quota
        .pointer("/spec/hard")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let used: Map<String, Value> = hard
        .keys()
        .filter_map(|r| counts.get(r).map(|n| (r.clone(), json!(n.to_string()))))
        .collect();
    json!({"hard": hard, "used": used})
}

/// Counts of every counted resource any quota in `ns` limits.
fn counts(state: &State, ns: &str, quotas: &[&Value]) -> BTreeMap<String, i64> {
    let limited: BTreeSet<String> = quotas
        .iter()
        .filter_map(|q| q.pointer("/spec/hard").and_then(Value::as_object))
        .flat_map(|h| h.keys().cloned())
        .collect();
    let mut out = BTreeMap::new();
    for resource in limited {
        if let Some(n) = count(state, ns, &resource) {
            out.insert(resource, n);
        }
    }
    out
}

/// The count of `resource` in `ns`, if it is a counted resource. Only pods
/// and Services are decoded (their phase and type decide whether they
/// count); other kinds are counted in the store.
fn count(state: &State, ns: &str, resource: &str) -> Option<i64> {
    let decoded =
        |group: &str, plural: &str| state.values(&StorageKey::new(group, plural), Some(ns));
    let stored = |group: &str, plural: &str| state.count(&StorageKey::new(group, plural), ns);
    let services_of = |ty: &str| {
        decoded("", "services")
            .into_iter()
            .filter(|(_, s)| s.pointer("/spec/type").and_then(Value::as_str) == Some(ty))
            .count()
    };
    let n = match resource {
        "pods" => decoded("", "pods")
            .into_iter()
            .filter(|(_, p)| {
                let phase = p.pointer("/status/phase").and_then(Value::as_str);
                !matches!(phase, Some("Succeeded" | "Failed"))
            })
            .count(),
        "services.loadbalancers" => services_of("LoadBalancer"),
        "services.nodeports" => services_of("NodePort") + services_of("LoadBalancer"),
        "services"
        | "secrets"
        | "configmaps"
        | "persistentvolumeclaims"
        | "replicationcontrollers"
        | "resourcequotas" => stored("", resource),
        other => {
            let counted = other.strip_prefix("count/")?;
            let (plural, group) = counted.split_once('.').unwrap_or((counted, ""));
            stored(group, plural)
        }
    };
    Some(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mirrors_hard_and_counts_what_it_limits() {
        let quota = json!({"spec": {"hard": {"pods": "2", "count/deployments.apps": "5", "requests.cpu": "1"}}});
        let counts = BTreeMap::from([
            ("pods".to_owned(), 1),
            ("count/deployments.apps".to_owned(), 0),
        ]);
        assert_eq!(
            status(&quota, &counts),
            json!({"hard": {"pods": "2", "count/deployments.apps": "5", "requests.cpu": "1"},
                "used": {"pods": "1", "count/deployments.apps": "0"}})
        );
    }
}
