//! Which KVMConfig a guest cluster ID belongs to, per namespace: how a
//! certificate Secret (written by cert-operator, labelled with its cluster
//! but naming only its CertConfig) brings its KVMConfig back. Filled by
//! every loop of a KVMConfig (all of them run when the operator starts),
//! emptied when its deletion finishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use apiextensions::KVMConfig;
use kube::runtime::reflector::ObjectRef;

/// `(namespace, cluster ID)` to the KVMConfigs naming that cluster there.
type Map = HashMap<(String, String), Vec<ObjectRef<KVMConfig>>>;

/// Which KVMConfigs run which cluster; clones share the map.
#[derive(Clone, Debug, Default)]
pub struct ClusterIndex {
    inner: Arc<Mutex<Map>>,
}

impl ClusterIndex {
    /// The map, even if a holder panicked (each change is one insert or
    /// remove: no invariant to break half-way).
    fn lock(&self) -> MutexGuard<'_, Map> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `config` runs `cluster` in `namespace`.
    pub fn insert(&self, namespace: &str, cluster: &str, config: ObjectRef<KVMConfig>) {
        let mut map = self.lock();
        let refs = map
            .entry((namespace.to_owned(), cluster.to_owned()))
            .or_default();
        if !refs.contains(&config) {
            refs.push(config);
        }
    }

    /// `config` is gone.
    pub fn remove(&self, namespace: &str, cluster: &str, config: &ObjectRef<KVMConfig>) {
        let mut map = self.lock();
        let key = (namespace.to_owned(), cluster.to_owned());
        if let Some(refs) = map.get_mut(&key) {
            refs.retain(|r| r != config);
            if refs.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// The KVMConfigs of `cluster` in `namespace`.
    pub fn get(&self, namespace: &str, cluster: &str) -> Vec<ObjectRef<KVMConfig>> {
        self.lock()
            .get(&(namespace.to_owned(), cluster.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_forgets() {
        let index = ClusterIndex::default();
        let a = ObjectRef::<KVMConfig>::new("a").within("ns");
        index.insert("ns", "abc12", a.clone());
        index.insert("ns", "abc12", a.clone());
        assert_eq!(index.get("ns", "abc12"), std::slice::from_ref(&a));
        assert!(index.get("other", "abc12").is_empty());
        index.remove("ns", "abc12", &a);
        assert!(index.get("ns", "abc12").is_empty());
    }
}
