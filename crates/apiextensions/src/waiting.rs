//! Deletions that wait for a guest cluster's pods: which objects (CertConfigs,
//! FlannelConfigs, ...) keep their finalizer until no pod labelled with their
//! cluster ([`CLUSTER_LABEL`]) runs any more. A pod event of that cluster
//! brings exactly those objects back at once, so a deletion finishes when the
//! last pod goes instead of at the next poll. Shared by every operator whose
//! cleanup must wait for a cluster's pods.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::keys::CLUSTER_LABEL;

/// Objects of kind `K` waiting for the pods of a cluster, by cluster ID.
/// Cheap to clone; clones share the set.
#[derive(Debug)]
pub struct PodWaiters<K: Resource<DynamicType = ()>> {
    inner: Arc<Mutex<Waiting<K>>>,
}

type Waiting<K> = HashMap<String, HashSet<ObjectRef<K>>>;

impl<K: Resource<DynamicType = ()>> Clone for PodWaiters<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Resource<DynamicType = ()>> Default for PodWaiters<K> {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
        }
    }
}

impl<K: Resource<DynamicType = ()>> PodWaiters<K> {
    /// The set, even if a holder panicked: it holds no invariant a panic
    /// could break half-way (each change is one insert or remove).
    fn lock(&self) -> MutexGuard<'_, Waiting<K>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `config` waits for the pods of `cluster`.
    pub fn wait(&self, cluster: &str, config: ObjectRef<K>) {
        self.lock()
            .entry(cluster.to_owned())
            .or_default()
            .insert(config);
    }

    /// `config` no longer waits for the pods of `cluster`.
    pub fn done(&self, cluster: &str, config: &ObjectRef<K>) {
        let mut waiters = self.lock();
        if let Some(set) = waiters.get_mut(cluster) {
            set.remove(config);
            if set.is_empty() {
                waiters.remove(cluster);
            }
        }
    }

    /// The objects waiting for the cluster `pod` belongs to (none for a
    /// pod without the cluster label).
    pub fn waiting_for(&self, pod: &Pod) -> Vec<ObjectRef<K>> {
        let Some(cluster) = pod.labels().get(CLUSTER_LABEL) else {
            return Vec::new();
        };
        self.lock()
            .get(cluster)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CertConfig;

    fn pod(cluster: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("p".into());
        p.metadata.labels = cluster.map(|c| [(CLUSTER_LABEL.to_owned(), c.to_owned())].into());
        p
    }

    #[test]
    fn pods_bring_back_the_certconfigs_of_their_cluster_only() {
        let waiters = PodWaiters::<CertConfig>::default();
        let api = ObjectRef::<CertConfig>::new("abc12-api").within("ns1");
        let worker = ObjectRef::<CertConfig>::new("abc12-worker").within("ns1");
        let other = ObjectRef::<CertConfig>::new("xyz99-api").within("ns2");
        waiters.wait("abc12", api.clone());
        waiters.wait("abc12", worker.clone());
        waiters.wait("abc12", api.clone());
        waiters.clone().wait("xyz99", other.clone());

        let mut refs = waiters.waiting_for(&pod(Some("abc12")));
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(refs, [api.clone(), worker.clone()]);
        assert_eq!(
            waiters.waiting_for(&pod(Some("xyz99"))),
            std::slice::from_ref(&other)
        );
        assert!(waiters.waiting_for(&pod(Some("none"))).is_empty());
        assert!(waiters.waiting_for(&pod(None)).is_empty());

        waiters.done("abc12", &api);
        assert_eq!(
            waiters.waiting_for(&pod(Some("abc12"))),
            std::slice::from_ref(&worker)
        );
        waiters.done("abc12", &worker);
        waiters.done("abc12", &worker);
        assert!(waiters.waiting_for(&pod(Some("abc12"))).is_empty());
        assert!(!waiters.lock().contains_key("abc12"));
    }
}
