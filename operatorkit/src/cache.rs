//! Reflector caches of the kinds an operator reconciles, owns or watches,
//! so that steps read from memory instead of a GET on every loop; and, per
//! cache, how far its watch has got (the highest resourceVersion it has
//! applied), which read-your-writes needs to tell a lagging cache from one
//! that already shows a write.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::Resource as KubeResource;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

/// The caches of one controller run, by type.
#[derive(Default, Clone)]
pub struct Caches {
    stores: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    progress: HashMap<TypeId, WatchProgress>,
}

impl Caches {
    /// Registers the store of `C` and its watch's progress.
    pub(crate) fn insert<C>(&mut self, store: Store<C>, progress: WatchProgress)
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.stores.insert(TypeId::of::<C>(), Arc::new(store));
        self.progress.insert(TypeId::of::<C>(), progress);
    }

    /// The store of `C`, if the operator reconciles, owns or watches `C`.
    pub fn get<C>(&self) -> Option<Store<C>>
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.stores
            .get(&TypeId::of::<C>())
            .and_then(|s| s.downcast_ref::<Store<C>>())
            .cloned()
    }

    /// The progress of the watch of `C`.
    pub(crate) fn progress<C: 'static>(&self) -> Option<&WatchProgress> {
        self.progress.get(&TypeId::of::<C>())
    }
}

/// The highest numeric resourceVersion a watch has applied to its cache.
///
/// Kubernetes calls resourceVersions opaque, yet every real store (etcd
/// revisions) and this repository's embedded server issue increasing
/// integers, and Kubernetes 1.35 made comparing them official (KEP-5504).
/// Where one does not parse as an integer, read-your-writes falls back to a
/// live read instead of comparing.
#[derive(Clone, Default, Debug)]
pub(crate) struct WatchProgress {
    applied: Arc<AtomicU64>,
    listing: Arc<AtomicU64>,
}

impl WatchProgress {
    /// The highest resourceVersion the cache shows (0: none yet).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Notes a watch event after the reflector applied it. During a
    /// (re)list the objects only reach the store at `InitDone`, so their
    /// versions count from then.
    pub fn observe<C: KubeResource>(&self, event: &watcher::Event<C>) {
        let version = |o: &C| {
            o.meta()
                .resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                self.applied.fetch_max(version(o), Ordering::AcqRel);
            }
            watcher::Event::Init => self.listing.store(0, Ordering::Release),
            watcher::Event::InitApply(o) => {
                self.listing.fetch_max(version(o), Ordering::AcqRel);
            }
            watcher::Event::InitDone => {
                let listed = self.listing.load(Ordering::Acquire);
                self.applied.fetch_max(listed, Ordering::AcqRel);
            }
        }
    }
}

/// Whether `child` has a controller owner reference to the object with `uid`.
pub fn is_controlled_by<C: KubeResource>(child: &C, uid: &str) -> bool {
    child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector;

    fn cm(rv: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.resource_version = Some(rv.into());
        c
    }

    #[test]
    fn stores_are_found_by_type() {
        let (reader, _writer) = reflector::store::<ConfigMap>();
        let mut caches = Caches::default();
        caches.insert(reader, WatchProgress::default());
        assert!(caches.get::<ConfigMap>().is_some());
        assert!(caches.get::<Secret>().is_none());
        assert!(caches.progress::<ConfigMap>().is_some());
    }

    #[test]
    fn progress_counts_listed_objects_only_once_the_list_is_done() {
        let p = WatchProgress::default();
        p.observe(&watcher::Event::Apply(cm("5")));
        assert_eq!(p.applied(), 5);
        p.observe(&watcher::Event::<ConfigMap>::Init);
        p.observe(&watcher::Event::InitApply(cm("9")));
        assert_eq!(p.applied(), 5);
        p.observe(&watcher::Event::<ConfigMap>::InitDone);
        assert_eq!(p.applied(), 9);
        p.observe(&watcher::Event::Delete(cm("7")));
        assert_eq!(p.applied(), 9);
        p.observe(&watcher::Event::Apply(cm("opaque")));
        assert_eq!(p.applied(), 9);
    }

    #[test]
    fn controller_references_only() {
        let mut cm = ConfigMap::default();
        let owner = |controller| OwnerReference {
            uid: "u1".into(),
            controller: Some(controller),
            ..Default::default()
        };
        cm.metadata.owner_references = Some(vec![owner(false)]);
        assert!(!is_controlled_by(&cm, "u1"));
        cm.metadata.owner_references = Some(vec![owner(true)]);
        assert!(is_controlled_by(&cm, "u1"));
        assert!(!is_controlled_by(&cm, "u2"));
    }
}
