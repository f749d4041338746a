//! Read-your-writes over the caches: what this operator wrote (applied or
//! deleted through [`Context`](crate::Context)) is remembered until the
//! cache of its kind shows it, and reads through the context see the write
//! instead of the older cached object.
//!
//! Without it a loop that runs right after the one that wrote (the
//! finalizer's own watch event is enough) reads a cache that does not show
//! the write yet, and acts again: a second certificate, a second VM. The
//! cache has caught up once its watch applied a resourceVersion at least that
//! of the write (`cache::WatchProgress`); where resourceVersions do not parse as
//! integers, a cached object whose version differs from the written one is
//! read live instead ([`Resolved::Unknown`]). Entries are dropped once the
//! cache caught up, and after [`EXPIRY`] in any case (a watch that far behind
//! is re-listing, and the next loop will see its result).
//!
//! A write whose outcome is unknown (the connection broke before the
//! answer came, or the server answered 5xx, as a restarting one does) may
//! have landed without this process knowing its version: the object is
//! remembered as unsure, and the next read through the context goes to the
//! API server ([`Resolved::Unknown`]) instead of trusting a cache that may
//! not show the write yet. Acting twice on a write that did land (issuing a
//! second certificate, creating a second VM) is what this prevents.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kube::{Resource as KubeResource, ResourceExt};

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
        /// The uid of the object's controller owner.
        owner: Option<String>,
        object: Arc<dyn Any + Send + Sync>,
        at: Instant,
    },
    Deleted {
        uid: String,
        at: Instant,
    },
    /// A write (or deletion) whose outcome is unknown.
    Unsure {
        at: Instant,
    },
}

/// Whether a failed write may still have landed: anything but an answer
/// from the API server that refused it (4xx).
pub(crate) fn may_have_landed(e: &kube::Error) -> bool {
    !matches!(e, kube::Error::Api(s) if (400..500).contains(&s.code))
}

impl Entry {
    fn at(&self) -> Instant {
        match self {
            Self::Written { at, .. } | Self::Deleted { at, .. } | Self::Unsure { at } => *at,
        }
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Self::Written { owner, .. } => owner.as_deref(),
            Self::Deleted { .. } | Self::Unsure { .. } => None,
        }
    }
}

/// The remembered writes, with an index of the written objects by the uid
/// of their controller (so that a loop finds its own children without
/// looking at every write), and when expired entries were last swept.
struct Table {
    entries: HashMap<Key, Entry>,
    by_owner: HashMap<String, HashSet<Key>>,
    swept: Instant,
}

impl Table {
    fn insert(&mut self, key: Key, entry: Entry) {
        self.remove(&key);
        if let Some(owner) = entry.owner() {
            self.by_owner
                .entry(owner.to_owned())
                .or_default()
                .insert(key.clone());
        }
        self.entries.insert(key, entry);
        // At most every EXPIRY / 4: a write costs O(1), not a scan.
        if self.swept.elapsed() >= EXPIRY / 4 {
            self.swept = Instant::now();
            let expired: Vec<Key> = self
                .entries
                .iter()
                .filter(|(_, e)| e.at().elapsed() >= EXPIRY)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &expired {
                self.remove(k);
            }
        }
    }

    fn remove(&mut self, key: &Key) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        if let Some(owner) = entry.owner()
            && let Some(keys) = self.by_owner.get_mut(owner)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }
}

/// The writes of one controller run not yet seen in the caches.
pub(crate) struct Writes {
    table: Mutex<Table>,
}

impl Default for Writes {
    fn default() -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                by_owner: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }
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

/// The uid of `object`'s controller owner.
fn controller_uid<C: KubeResource>(object: &C) -> Option<String> {
    object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
}

impl Writes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Plain data, changed one insert or remove at a time.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
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
            owner: controller_uid(object),
            object: Arc::new(Arc::new(object.clone())),
            at: Instant::now(),
        };
        let key = key::<C>(&namespace(object), &object.name_any());
        let mut table = self.lock();
        // Loops writing one shared object at once get their answers in any
        // order: an older answer must not hide a newer one.
        if let (Some(Entry::Written { version: known, .. }), Entry::Written { version, .. }) =
            (table.entries.get(&key), &entry)
            && let (Some(known), Some(new)) = (numeric(Some(known)), numeric(Some(version)))
            && known > new
        {
            return;
        }
        table.insert(key, entry);
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

    /// A write to `namespace/name` failed in a way that may have landed
    /// ([`may_have_landed`]): reads of it go to the API server until one
    /// has.
    pub fn unsure<C: KubeResource + 'static>(&self, namespace: &str, name: &str) {
        let entry = Entry::Unsure { at: Instant::now() };
        self.lock().insert(key::<C>(namespace, name), entry);
    }

    /// Forgets what was written to `namespace/name` (a live read found it gone).
    pub fn forget<C: KubeResource + 'static>(&self, namespace: &str, name: &str) {
        self.lock().remove(&key::<C>(namespace, name));
    }

    /// What a read of `namespace/name` should see, given what the cache
    /// holds (`cached`) and how far its watch had got (`applied`, read
    /// *before* the cache, so that it never overstates the cache).
    pub fn resolve<C>(
        &self,
        namespace: &str,
        name: &str,
        cached: Option<Arc<C>>,
        applied: u64,
    ) -> Resolved<C>
    where
        C: KubeResource + Send + Sync + 'static,
    {
        let k = key::<C>(namespace, name);
        let mut table = self.lock();
        let Some(entry) = table.entries.get(&k) else {
            return Resolved::Known(cached);
        };
        let (resolved, seen) = judge(entry, cached, applied);
        if seen || entry.at().elapsed() >= EXPIRY {
            table.remove(&k);
        }
        resolved
    }

    /// Objects of kind `C` this process wrote with the controller `owner`
    /// that the cache may not show yet.
    pub fn written_for<C>(&self, owner: &str) -> Vec<Arc<C>>
    where
        C: KubeResource + Send + Sync + 'static,
    {
        let table = self.lock();
        let Some(keys) = table.by_owner.get(owner) else {
            return Vec::new();
        };
        keys.iter()
            .filter(|k| k.kind == TypeId::of::<C>())
            .filter_map(|k| match table.entries.get(k) {
                Some(Entry::Written { object, .. }) => object.downcast_ref::<Arc<C>>().cloned(),
                _ => None,
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
        Entry::Unsure { .. } => (Resolved::Unknown, false),
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
            match (numeric(Some(version)), numeric(cached_version.as_deref())) {
                // The cached object's own version settles it: newer than the
                // write (someone changed it since, e.g. marked it deleted)
                // or older (stale), whatever the watch's progress says.
                (Some(v), Some(c)) if c > v => (Resolved::Known(cached), true),
                (Some(v), Some(c)) if c < v => (Resolved::Known(ours()), false),
                // Not cached (yet, or any more): the watch's progress says.
                (Some(v), _) if applied >= v => (Resolved::Known(cached), true),
                (Some(_), _) => (Resolved::Known(ours()), false),
                (None, _) => (Resolved::Unknown, false),
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
    use crate::cache::WatchProgress;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher::Event;

    fn cm(name: &str, rv: &str, uid: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.resource_version = Some(rv.into());
        c.metadata.uid = Some(uid.into());
        c.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                uid: "parent".into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        c
    }

    fn rv(r: &Resolved<ConfigMap>) -> Option<String> {
        match r {
            Resolved::Known(c) => c.as_ref().and_then(|c| c.resource_version()),
            Resolved::Unknown => Some("unknown".into()),
        }
    }

    #[test]
    fn an_older_answer_does_not_hide_a_newer_write() {
        let writes = Writes::default();
        writes.wrote(&cm("shared", "9", "u"));
        // Another loop's write of the same object, answered after it.
        writes.wrote(&cm("shared", "7", "u"));
        let r = writes.resolve::<ConfigMap>("ns", "shared", None, 0);
        assert_eq!(rv(&r).as_deref(), Some("9"));
        writes.wrote(&cm("shared", "10", "u"));
        let r = writes.resolve::<ConfigMap>("ns", "shared", None, 0);
        assert_eq!(rv(&r).as_deref(), Some("10"));
    }

    #[test]
    fn a_lagging_cache_shows_the_write_until_it_catches_up() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        progress.observe(&Event::Apply(cm("a", "5", "u")));
        writes.wrote(&cm("a", "8", "u"));
        // The cache has nothing, or the version before the write.
        let r = writes.resolve::<ConfigMap>("ns", "a", None, progress.applied());
        assert_eq!(rv(&r).as_deref(), Some("8"));
        let old = Some(Arc::new(cm("a", "5", "u")));
        let r = writes.resolve("ns", "a", old, progress.applied());
        assert_eq!(rv(&r).as_deref(), Some("8"));
        // The watch got past the write after the cache was read: the old
        // cached object is still not taken for the truth.
        let old = Some(Arc::new(cm("a", "5", "u")));
        let r = writes.resolve("ns", "a", old, 9);
        assert_eq!(rv(&r).as_deref(), Some("8"));
        assert_eq!(writes.written_for::<ConfigMap>("parent").len(), 1);
        assert!(writes.written_for::<ConfigMap>("someone-else").is_empty());
        // The watch got past the write: the cache is the truth again, even if
        // someone else deleted the object meanwhile.
        progress.observe(&Event::Apply(cm("other", "9", "x")));
        let r = writes.resolve::<ConfigMap>("ns", "a", None, progress.applied());
        assert_eq!(rv(&r), None);
        assert!(writes.written_for::<ConfigMap>("parent").is_empty());
        assert!(writes.lock().by_owner.is_empty());
    }

    #[test]
    fn a_cached_object_newer_than_the_write_wins_before_the_progress_shows_it() {
        let writes = Writes::default();
        writes.wrote(&cm("a", "8", "u"));
        // The store already holds a later change (someone marked the object
        // deleted) that the watch's progress does not count yet (a relist
        // swapped the store in, progress is noted right after).
        let newer = Some(Arc::new(cm("a", "12", "u")));
        let r = writes.resolve("ns", "a", newer, 5);
        assert_eq!(rv(&r).as_deref(), Some("12"));
        // And the write is forgotten: the cache has passed it.
        let r = writes.resolve::<ConfigMap>("ns", "a", None, 5);
        assert_eq!(rv(&r), None);
    }

    #[test]
    fn a_deletion_hides_the_cached_object_until_the_cache_drops_it() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        writes.deleted::<ConfigMap>("ns", "a", "u1");
        let cached = Some(Arc::new(cm("a", "3", "u1")));
        let r = writes.resolve("ns", "a", cached, progress.applied());
        assert_eq!(r, Resolved::Known(None));
        // A new object of that name is not hidden.
        let recreated = Some(Arc::new(cm("a", "4", "u2")));
        let r = writes.resolve("ns", "a", recreated, progress.applied());
        assert_eq!(rv(&r).as_deref(), Some("4"));
    }

    #[test]
    fn a_write_that_may_have_landed_asks_for_a_live_read_until_one_is_made() {
        let writes = Writes::default();
        writes.wrote(&cm("a", "3", "u"));
        writes.unsure::<ConfigMap>("ns", "a");
        // Neither the cache nor the watch's progress can say what landed.
        let cached = Some(Arc::new(cm("a", "3", "u")));
        assert_eq!(writes.resolve("ns", "a", cached, 100), Resolved::Unknown);
        assert_eq!(
            writes.resolve::<ConfigMap>("ns", "a", None, 100),
            Resolved::Unknown
        );
        // The live read found the write: it is known again.
        writes.wrote(&cm("a", "4", "u"));
        let r = writes.resolve::<ConfigMap>("ns", "a", None, 0);
        assert_eq!(rv(&r).as_deref(), Some("4"));
        // Or found nothing.
        writes.unsure::<ConfigMap>("ns", "b");
        writes.forget::<ConfigMap>("ns", "b");
        assert_eq!(
            writes.resolve::<ConfigMap>("ns", "b", None, 0),
            Resolved::Known(None)
        );
    }

    #[test]
    fn only_a_refusal_says_a_write_did_not_land() {
        let status =
            |code| kube::Error::Api(kube::core::Status::failure("", "").with_code(code).boxed());
        assert!(!may_have_landed(&status(409)));
        assert!(!may_have_landed(&status(422)));
        assert!(!may_have_landed(&status(429)));
        assert!(may_have_landed(&status(500)));
        assert!(may_have_landed(&status(503)));
        let broken = kube::Error::Service("connection reset".into());
        assert!(may_have_landed(&broken));
    }

    #[test]
    fn opaque_versions_ask_for_a_live_read() {
        let writes = Writes::default();
        let progress = WatchProgress::default();
        writes.wrote(&cm("a", "abc", "u"));
        let other = Some(Arc::new(cm("a", "xyz", "u")));
        assert_eq!(
            writes.resolve("ns", "a", other, progress.applied()),
            Resolved::Unknown
        );
        let same = Some(Arc::new(cm("a", "abc", "u")));
        let r = writes.resolve("ns", "a", same, progress.applied());
        assert_eq!(rv(&r).as_deref(), Some("abc"));
        // Seen: forgotten.
        let r = writes.resolve::<ConfigMap>("ns", "a", None, progress.applied());
        assert_eq!(r, Resolved::Known(None));
    }
}
