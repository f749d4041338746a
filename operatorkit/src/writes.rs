//! Read-your-writes over the caches: what this operator wrote (applied or
//! deleted through [`Context`](crate::Context)) is remembered until the
//! cache of its kind shows it, and reads through the context see the write
//! instead of the older cached object.
//!
//! Without it a loop that runs right after the one that wrote (the
//! finalizer's own watch event is enough) reads a cache that does not show
//! the write yet, and acts again: a second certificate, a second VM. The
//! cache has caught up once its watch applied a resourceVersion at least that
//! of the write ([`WatchProgress`]); where resourceVersions do not parse as
//! integers, a cached object whose version differs from the written one is
//! read live instead ([`Resolved::Unknown`]). Entries are dropped once the
//! cache caught up, and after [`EXPIRY`] in any case (a watch that far behind
//! is re-listing, and the next loop will see its result).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kube::{Resource as KubeResource, ResourceExt};

use crate::cache::WatchProgress;

/// How long a write is remembered at most.
pub(crate) const EXPIRY: Duration = Duration::from_secs(120);

/// What a read should use.
#[derive(Debug, PartialEq)]
pub(crate) enum Resolved<C> {
    /// This object (or none): the freshest this process knows.
    Known(Option<Arc<C>>),
    /// The cache disagrees with a write and versions cannot be compared:
    /// read the object live, then [`Writes::wrote`] what was read.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: TypeId,
    namespace: String,
    name: String,
}

enum Entry {
    Written {
        version: String,
        object: Arc<dyn Any + Send + Sync>,
        at: Instant,
    },
    Deleted {
        uid: String,
        at: Instant,
    },
}

impl Entry {
    fn at(&self) -> Instant {
        match self {
            Self::Written { at, .. } | Self::Deleted { at, .. } => *at,
        }
    }
}

/// The writes of one controller run not yet seen in the caches.
#[derive(Default)]
pub(crate) struct Writes {
    entries: Mutex<HashMap<Key, Entry>>,
}

fn key<C: KubeResource + 'static>(namespace: &str, name: &str) -> Key {
    Key {
        kind: TypeId::of::<C>(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn numeric(version: Option<&str>) -> Option<u64> {
    version.and_then(|v| v.parse().ok())
}

impl Writes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // Plain data, changed one insert or remove at a time.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `object`, as the API server returned it from a write (or a live read).
    pub fn wrote<C>(&self, object: &C)
    where
        C: KubeResource + Clone + Send + Sync + 'static,
    {
        let Some(version) = object.resource_version() else {
            return;
        };
        let entry = Entry::Written {
            version,
            object: Arc::new(Arc::new(object.clone())),
            at: Instant::now(),
        };
        let mut entries = self.lock();
        entries.retain(|_, e| e.at().elapsed() < EXPIRY);
        entries.insert(key::<C>(&namespace(object), &object.name_any()), entry);
    }

    /// The object `namespace/name` with `uid` was deleted (it is gone, not
    /// just marked for deletion).
    pub fn deleted<C: KubeResource + 'static>(&self, namespace: &str, name: &str, uid: &str) {
        let entry = Entry::Deleted {
            uid: uid.to_owned(),
            at: Instant::now(),
        };
        self.lock().insert(key::<C>(namespace, name), entry);
    }

    /// Forgets what was written to `namespace/name` (a live read found it gone).
    pub fn forget<C: KubeResource + 'static>(&self, namespace: &str, name: &str) {
        self.lock().remove(&key::<C>(namespace, name));
    }

    /// What a read of `namespace/name` should see, given what the cache
    /// holds (`cached`) and how far its watch has got.
    pub fn resolve<C>(
        &self,
        namespace: &str,
        name: &str,
        cached: Option<Arc<C>>,
        progress: &WatchProgress,
    ) -> Resolved<C>
    where
        C: KubeResource + Send + Sync + 'static,
    {
        let k = key::<C>(namespace, name);
        let mut entries = self.lock();
        let Some(entry) = entries.get(&k) else {
            return Resolved::Known(cached);
        };
        let (resolved, seen) = judge(entry, cached, progress.applied());
        if seen || entry.at().elapsed() >= EXPIRY {
            entries.remove(&k);
        }
        resolved
    }

    /// Objects of kind `C` in `namespace` this process wrote and the cache
    /// may not show yet.
    pub fn written_in<C>(&self, namespace: &str) -> Vec<Arc<C>>
    where
        C: KubeResource + Send + Sync + 'static,
    {
        self.lock()
            .iter()
            .filter(|(k, _)| k.kind == TypeId::of::<C>() && k.namespace == namespace)
            .filter_map(|(_, e)| match e {
                Entry::Written { object, .. } => object.downcast_ref::<Arc<C>>().cloned(),
                Entry::Deleted { .. } => None,
            })
            .collect()
    }
}

/// What to read given one remembered write, and whether the cache already
/// shows it (then the entry can go).
fn judge<C>(entry: &Entry, cached: Option<Arc<C>>, applied: u64) -> (Resolved<C>, bool)
where
    C: KubeResource + Send + Sync + 'static,
{
    match entry {
        Entry::Deleted { uid, .. } => {
            let still_cached = cached
                .as_ref()
                .is_some_and(|c| c.meta().uid.as_deref() == Some(uid));
            if still_cached {
                (Resolved::Known(None), false)
            } else {
                (Resolved::Known(cached), true)
            }
        }
        Entry::Written {
            version, object, ..
        } => {
            let cached_version = cached
                .as_ref()
                .and_then(|c| c.meta().resource_version.clone());
            if cached_version.as_deref() == Some(version.as_str()) {
                return (Resolved::Known(cached), true);
            }
            let ours = || object.downcast_ref::<Arc<C>>().cloned();
            match numeric(Some(version)) {
                Some(v) if applied >= v => (Resolved::Known(cached), true),
                Some(_) => (Resolved::Known(ours()), false),
                None => (Resolved::Unknown, false),
            }
        }
    }
}

fn namespace<C: KubeResource>(object: &C) -> String {
    object.meta().namespace.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher::Event;

    fn cm(name: &str, rv: &str, uid: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.resource_version = Some(rv.into());
        c.metadata.uid = Some(uid.into());
        c
    }

    fn rv(r: &Resolved<ConfigMap>) -> Option<String> {
        match r {
            Resolved::Known(c) => c.as_ref().and_then(|c| c.resource_version()),
            Resolved::Unknown => Some("unknown".into()),
        }
    }

    #[test]
    fn a_lagging_cache_shows_the_write_until_it_catches_up() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        progress.observe(&Event::Apply(cm("a", "5", "u")));
        writes.wrote(&cm("a", "8", "u"));
        // The cache has nothing, or the version before the write.
        let r = writes.resolve::<ConfigMap>("ns", "a", None, &progress);
        assert_eq!(rv(&r).as_deref(), Some("8"));
        let old = Some(Arc::new(cm("a", "5", "u")));
        let r = writes.resolve("ns", "a", old, &progress);
        assert_eq!(rv(&r).as_deref(), Some("8"));
        assert_eq!(writes.written_in::<ConfigMap>("ns").len(), 1);
        // The watch got past the write: the cache is the truth again, even if
        // someone else deleted the object meanwhile.
        progress.observe(&Event::Apply(cm("other", "9", "x")));
        let r = writes.resolve::<ConfigMap>("ns", "a", None, &progress);
        assert_eq!(rv(&r), None);
        assert!(writes.written_in::<ConfigMap>("ns").is_empty());
    }

    #[test]
    fn a_deletion_hides_the_cached_object_until_the_cache_drops_it() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        writes.deleted::<ConfigMap>("ns", "a", "u1");
        let cached = Some(Arc::new(cm("a", "3", "u1")));
        let r = writes.resolve("ns", "a", cached, &progress);
        assert_eq!(r, Resolved::Known(None));
        // A new object of that name is not hidden.
        let recreated = Some(Arc::new(cm("a", "4", "u2")));
        let r = writes.resolve("ns", "a", recreated, &progress);
        assert_eq!(rv(&r).as_deref(), Some("4"));
    }

    #[test]
    fn opaque_versions_ask_for_a_live_read() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        writes.wrote(&cm("a", "abc", "u"));
        let other = Some(Arc::new(cm("a", "xyz", "u")));
        assert_eq!(
            writes.resolve("ns", "a", other, &progress),
            Resolved::Unknown
        );
        let same = Some(Arc::new(cm("a", "abc", "u")));
        let r = writes.resolve("ns", "a", same, &progress);
        assert_eq!(rv(&r).as_deref(), Some("abc"));
        // Seen: forgotten.
        let r = writes.resolve::<ConfigMap>("ns", "a", None, &progress);
        assert_eq!(r, Resolved::Known(None));
    }
}
