//! The object store: every object in memory under one lock, one monotonic
//! revision (the resourceVersion), and a bounded log of change events.
//!
//! Writers append to the log and wake watchers; they never wait for a watcher.
//! A watcher reads the log from its own cursor at its own pace; one that falls
//! behind the retained history is told its resourceVersion expired (410), as a
//! real API server does, and re-lists. The log also lets the store rebuild the
//! state at an older revision, so paged lists stay consistent.

mod log;
mod stored;
pub(crate) mod wal;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;

pub(crate) use self::log::{Event, EventKind};
pub(crate) use self::stored::{Stored, type_prefix};
use self::wal::{Record, Wal};
use crate::error::{ApiError, ApiResult};

/// Which collection an object lives in: API group and resource (plural).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey {
    /// API group ("" for core).
    pub group: String,
    /// Resource (plural), e.g. `configmaps`.
    pub resource: String,
}

impl StorageKey {
    /// A storage key.
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }
}

/// An object's place in its collection: namespace ("" when cluster-scoped) and
/// name. Ordered as Kubernetes lists objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace, "" for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// An object key.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

type Collection = BTreeMap<ObjectKey, Stored>;

/// The largest object etcd stores: its default `--max-request-bytes`
/// (1.5 MiB). Measured here as JSON; kube-apiserver stores built-in kinds as
/// protobuf, which is usually smaller.
const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// The state under the store's lock.
pub struct State {
    revision: u64,
    collections: BTreeMap<StorageKey, Collection>,
    log: log::Log,
    wal: Option<Wal>,
    /// This write's records, made durable when it ends.
    pending: Vec<Record>,
    /// What each of this write's changes replaced, to undo it if it cannot be
    /// made durable (or its closure panicked).
    replaced: Vec<(StorageKey, ObjectKey, Option<Stored>)>,
    /// What this write does outside the store once it is durable.
    on_commit: Vec<Box<dyn FnOnce() + Send>>,
}

/// The store's lock during a write. If the write's closure panics, its
/// changes are undone as the lock is released, so nobody sees a change that
/// was never made durable (and the next write does not persist it).
struct Writing<'a>(MutexGuard<'a, State>);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abandon();
        }
    }
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    state: Mutex<State>,
    revision_tx: watch::Sender<u64>,
}

impl Store {
    /// An empty store keeping `history` events for watchers, optionally durable
    /// in `wal`, starting after `revision` with `objects` (restored from disk).
    pub fn new(
        history: usize,
        wal: Option<Wal>,
        revision: u64,
        objects: Vec<(StorageKey, ObjectKey, Stored)>,
    ) -> Self {
        let mut collections: BTreeMap<StorageKey, Collection> = BTreeMap::new();
        for (s, k, v) in objects {
            collections.entry(s).or_default().insert(k, v);
        }
        let (revision_tx, _) = watch::channel(revision);
        Self {
            state: Mutex::new(State {
                revision,
                collections,
                log: log::Log::new(history, revision),
                wal,
                pending: Vec::new(),
                replaced: Vec::new(),
                on_commit: Vec::new(),
            }),
            revision_tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write: a
        // write's changes are undone when its closure panics (`Writing`), and
        // every mutation goes through State::put/remove, each complete before
        // it returns, so the data behind a poisoned lock is consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with exclusive access: reads and writes inside are atomic. Writes
    /// are made durable (when a data dir is set) before this returns, and
    /// watchers are woken after. A write that cannot be made durable is undone
    /// and refused with a 500: nobody ever saw it, and what it asked to do on
    /// commit (`State::on_commit`) is not done.
    ///
    /// A 500 from here is an unknown outcome, as etcd's: when even cutting the
    /// failed record off the log fails, the record may still be read back
    /// after a restart.
    pub fn write<T>(&self, f: impl FnOnce(&mut State) -> ApiResult<T>) -> ApiResult<T> {
        let mut state = Writing(self.lock());
        let out = f(&mut state.0);
        let flushed = state.0.commit();
        let revision = state.0.revision;
        drop(state);
        // Watchers wake only when the revision moved (not for a refused write).
        self.revision_tx.send_if_modified(|seen| {
            let moved = *seen != revision;
            *seen = revision;
            moved
        });
        flushed?;
        out
    }

    /// Runs `f` with shared access to a consistent state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// A receiver that changes whenever the revision moves.
    pub fn subscribe_revision(&self) -> watch::Receiver<u64> {
        self.revision_tx.subscribe()
    }

    /// Events after revision `after` (at most `max`), or 410 if the log no longer
    /// holds them.
    pub fn events_after(&self, after: u64, max: usize) -> ApiResult<Vec<Arc<Event>>> {
        self.lock().log.after(after, max)
    }
}

impl State {
    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The object at `key`, if any.
    pub fn get(&self, s: &StorageKey, key: &ObjectKey) -> Option<Stored> {
        self.collections.get(s).and_then(|c| c.get(key)).cloned()
    }

    /// The objects of a collection in key order, optionally in one namespace.
    fn entries<'a>(
        &'a self,
        s: &StorageKey,
        namespace: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Stored)> + 'a> {
        let Some(c) = self.collections.get(s) else {
            return Box::new(std::iter::empty());
        };
        match namespace {
            Some(ns) => Box::new(
                c.range(ObjectKey::new(ns, "")..)
                    .take_while(move |(k, _)| k.namespace == ns),
            ),
            None => Box::new(c.iter()),
        }
    }

    /// Every object of a collection, in key order, optionally in one namespace.
    pub fn list(&self, s: &StorageKey, namespace: Option<&str>) -> Vec<(ObjectKey, Stored)> {
        self.entries(s, namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The object at `key`, decoded, if any.
    pub fn value(&self, s: &StorageKey, key: &ObjectKey) -> Option<Value> {
        self.get(s, key).map(|o| o.value())
    }

    /// Every object of a collection, decoded, in key order, optionally in
    /// one namespace.
    pub fn values(&self, s: &StorageKey, namespace: Option<&str>) -> Vec<(ObjectKey, Value)> {
        self.entries(s, namespace)
            .map(|(k, v)| (k.clone(), v.value()))
            .collect()
    }

    /// How many objects a collection holds in `namespace`.
    pub fn count(&self, s: &StorageKey, namespace: &str) -> usize {
        self.entries(s, Some(namespace)).count()
    }

    /// The collection as it was at revision `rv`, rebuilt by undoing later events;
    /// 410 when `rv` is older than the retained history.
    pub fn list_at(
        &self,
        s: &StorageKey,
        namespace: Option<&str>,
        rv: u64,
    ) -> ApiResult<Vec<(ObjectKey, Stored)>> {
        if rv >= self.revision {
            return Ok(self.list(s, namespace));
        }
        if rv < self.log.oldest_servable() {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                self.log.oldest_servable()
            )));
        }
        let mut map: BTreeMap<ObjectKey, Stored> = self.list(s, namespace).into_iter().collect();
        for event in self.log.since(rv).iter().rev() {
            if event.storage != *s || namespace.is_some_and(|ns| ns != event.key.namespace) {
                continue;
            }
            match &event.prev {
                Some(prev) => {
                    map.insert(event.key.clone(), prev.clone());
                }
                None => {
                    map.remove(&event.key);
                }
            }
        }
        Ok(map.into_iter().collect())
    }

    /// Stores `object` at `key` with the next resourceVersion, which is written
    /// into `metadata.resourceVersion`; returns the stored object.
    pub fn put(&mut self, s: &StorageKey, key: &ObjectKey, mut object: Value) -> Value {
        crate::meta::set_resource_version(&mut object, self.revision + 1);
        self.put_stored(s, key, Stored::encode(&object));
        object
    }

    /// As [`State::put`] for an object a client sent: refused, as etcd
    /// refuses it and kube-apiserver passes that on, when larger than etcd
    /// stores.
    pub fn put_fitting(
        &mut self,
        s: &StorageKey,
        key: &ObjectKey,
        mut object: Value,
    ) -> ApiResult<Value> {
        crate::meta::set_resource_version(&mut object, self.revision + 1);
        let stored = Stored::encode(&object);
        if stored.len() > MAX_OBJECT_BYTES {
            return Err(ApiError::request_too_large_for_storage());
        }
        self.put_stored(s, key, stored);
        Ok(object)
    }

    /// Stores `object`, which carries the next resourceVersion.
    fn put_stored(&mut self, s: &StorageKey, key: &ObjectKey, object: Stored) {
        self.revision += 1;
        let rv = self.revision;
        let prev = self
            .collections
            .entry(s.clone())
            .or_default()
            .insert(key.clone(), object.clone());
        let kind = if prev.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        if self.wal.is_some() {
            self.pending.push(Record::put(rv, s, key, &object));
        }
        self.replaced.push((s.clone(), key.clone(), prev.clone()));
        self.log.push(Event {
            rv,
            kind,
            storage: s.clone(),
            key: key.clone(),
            object,
            prev,
        });
    }

    /// Removes the object at `key`; returns it with the deletion's
    /// resourceVersion, as the DELETED event carries it.
    pub fn remove(&mut self, s: &StorageKey, key: &ObjectKey) -> Option<Value> {
        let prev = self.collections.get_mut(s)?.remove(key)?;
        self.revision += 1;
        let rv = self.revision;
        let mut last = prev.value();
        crate::meta::set_resource_version(&mut last, rv);
        if self.wal.is_some() {
            self.pending.push(Record::delete(rv, s, key));
        }
        self.replaced
            .push((s.clone(), key.clone(), Some(prev.clone())));
        self.log.push(Event {
            rv,
            kind: EventKind::Deleted,
            storage: s.clone(),
            key: key.clone(),
            object: Stored::encode(&last),
            prev: Some(prev),
        });
        Some(last)
    }

    /// Every collection key that holds objects.
    pub fn collections(&self) -> Vec<StorageKey> {
        self.collections
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Runs `f` once this write is durable, still under the store's lock
    /// (before watchers wake); never if the write is undone. For state kept
    /// beside the store, such as the served custom resources of a CRD.
    pub fn on_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.on_commit.push(Box::new(f));
    }

    /// Ends a write: makes it durable and runs its commit actions, or undoes it.
    fn commit(&mut self) -> ApiResult<()> {
        let flushed = self.flush();
        let actions = std::mem::take(&mut self.on_commit);
        if flushed.is_ok() {
            actions.into_iter().for_each(|f| f());
        }
        flushed
    }

    /// Undoes a write that will never be committed (its closure panicked).
    fn abandon(&mut self) {
        self.pending.clear();
        self.on_commit.clear();
        let replaced = std::mem::take(&mut self.replaced);
        self.undo(replaced);
    }

    /// Makes this write's records durable, then compacts the log if it has
    /// grown; undoes the write if it could not be made durable.
    fn flush(&mut self) -> ApiResult<()> {
        let Some(wal) = self.wal.as_mut().filter(|_| !self.pending.is_empty()) else {
            self.replaced.clear();
            return Ok(());
        };
        // `pending` and `replaced` stay until the append is decided, so a
        // panic inside it still finds the write to undo (`Writing`).
        if let Err(e) = wal.append(&self.pending) {
            tracing::error!(error = %e, records = self.pending.len(), "a write could not be made durable; refused and undone");
            self.pending.clear();
            let replaced = std::mem::take(&mut self.replaced);
            self.undo(replaced);
            return Err(ApiError::internal(format!(
                "persisting the write failed: {e}"
            )));
        }
        self.pending.clear();
        self.replaced.clear();
        let Some(wal) = &mut self.wal else {
            return Ok(());
        };
        if wal.wants_compaction() {
            let snapshot = wal::Snapshot {
                revision: self.revision,
                objects: self
                    .collections
                    .iter()
                    .flat_map(|(s, c)| c.iter().map(|(k, v)| (s.clone(), k.clone(), v.clone())))
                    .collect(),
            };
            if let Some(wal) = &mut self.wal
                && let Err(e) = wal.compact(snapshot)
            {
                tracing::error!(error = %e, "starting a compaction of the write-ahead log failed; the log is kept whole");
            }
        }
        Ok(())
    }

    /// Undoes this write's changes (it was not made durable), newest first.
    fn undo(&mut self, replaced: Vec<(StorageKey, ObjectKey, Option<Stored>)>) {
        let before = self.revision - replaced.len() as u64;
        for (s, key, prev) in replaced.into_iter().rev() {
            let collection = self.collections.entry(s).or_default();
            match prev {
                Some(prev) => collection.insert(key, prev),
                None => collection.remove(&key),
            };
        }
        self.log.pop_after(before);
        self.revision = before;
    }

    /// Waits for a running compaction of the log (tests and benchmarks).
    pub fn wait_for_compaction(&mut self) {
        if let Some(wal) = &mut self.wal {
            wal.wait_for_compaction();
        }
    }

    /// The log, for tests that inject failures.
    #[cfg(test)]
    fn wal_mut(&mut self) -> Option<&mut Wal> {
        self.wal.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}})
    }

    #[test]
    fn every_write_gets_the_next_revision() {
        let store = Store::new(100, None, 0, Vec::new());
        let s = StorageKey::new("", "configmaps");
        let a = store
            .write(|st| Ok(st.put(&s, &ObjectKey::new("ns", "a"), cm("a"))))
            .unwrap();
        assert_eq!(a["metadata"]["resourceVersion"], "1");
        let b = store
            .write(|st| Ok(st.put(&s, &ObjectKey::new("ns", "a"), cm("a"))))
            .unwrap();
        assert_eq!(b["metadata"]["resourceVersion"], "2");
        let gone = store
            .write(|st| Ok(st.remove(&s, &ObjectKey::new("ns", "a"))))
            .unwrap()
            .unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], "3");
        let events = store.events_after(0, 10).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Added, EventKind::Modified, EventKind::Deleted]
        );
    }

    #[test]
    fn old_states_are_rebuilt_from_the_log_until_it_is_trimmed() {
        let store = Store::new(3, None, 0, Vec::new());
        let s = StorageKey::new("", "configmaps");
        for name in ["a", "b", "c"] {
            store
                .write(|st| Ok(st.put(&s, &ObjectKey::new("ns", name), cm(name))))
                .unwrap();
        }
        store
            .write(|st| Ok(st.remove(&s, &ObjectKey::new("ns", "a"))))
            .unwrap();
        let names = |items: Vec<(ObjectKey, Stored)>| {
            items.into_iter().map(|(k, _)| k.name).collect::<Vec<_>>()
        };
        store.read(|st| {
            assert_eq!(names(st.list_at(&s, Some("ns"), 4).unwrap()), ["b", "c"]);
            assert_eq!(
                names(st.list_at(&s, Some("ns"), 3).unwrap()),
                ["a", "b", "c"]
            );
            assert_eq!(names(st.list_at(&s, Some("ns"), 2).unwrap()), ["a", "b"]);
            assert_eq!(st.list_at(&s, Some("ns"), 0).unwrap_err().code, 410);
        });
        assert_eq!(store.events_after(0, 10).unwrap_err().code, 410);
        assert_eq!(store.events_after(1, 10).unwrap().len(), 3);
    }

    #[test]
    fn a_write_whose_closure_panics_is_undone_and_never_persisted() {
        let dir =
            std::env::temp_dir().join(format!("apiserver-store-panic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = StorageKey::new("", "configmaps");
        let (a, b) = (ObjectKey::new("ns", "a"), ObjectKey::new("ns", "b"));
        let (wal, _) = wal::Wal::open(&dir, wal::Options::default()).unwrap();
        let store = Store::new(100, Some(wal), 0, Vec::new());
        store.write(|st| Ok(st.put(&s, &a, cm("a")))).unwrap();
        let committed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = committed.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.write(|st| {
                st.remove(&s, &a);
                st.put(&s, &b, cm("b"));
                st.on_commit(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
                panic!("a bug in the middle of a write");
                #[allow(unreachable_code)]
                Ok(())
            })
        }));
        assert!(panicked.is_err());
        assert!(!committed.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(store.revision(), 1);
        store.read(|st| {
            assert!(st.get(&s, &a).is_some());
            assert!(st.get(&s, &b).is_none());
        });
        assert_eq!(store.events_after(1, 10).unwrap().len(), 0);
        // The next write persists only itself, at the next revision.
        let c = store
            .write(|st| Ok(st.put(&s, &ObjectKey::new("ns", "c"), cm("c"))))
            .unwrap();
        assert_eq!(c["metadata"]["resourceVersion"], "2");
        drop(store);
        let (_, restored) = wal::Wal::open(&dir, wal::Options::default()).unwrap();
        let names: Vec<_> = restored
            .objects
            .iter()
            .map(|(_, k, _)| k.name.as_str())
            .collect();
        assert_eq!(names, ["a", "c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_that_cannot_be_made_durable_is_refused_undone_and_never_seen() {
        let dir = std::env::temp_dir().join(format!("apiserver-store-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = StorageKey::new("", "configmaps");
        let (a, b) = (ObjectKey::new("ns", "a"), ObjectKey::new("ns", "b"));
        let open = || wal::Wal::open(&dir, wal::Options::default()).unwrap();
        let (wal, _) = open();
        let store = Store::new(100, Some(wal), 0, Vec::new());
        store.write(|st| Ok(st.put(&s, &a, cm("a")))).unwrap();
        let watcher = store.subscribe_revision();

        // The disk fills: an update of a and a create of b in one write.
        store
            .write(|st| {
                st.wal_mut().unwrap().faults().space = Some(10);
                Ok(())
            })
            .unwrap();
        let mut changed = cm("a");
        changed["data"] = json!({"k": "changed"});
        let committed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = committed.clone();
        let err = store
            .write(|st| {
                st.put(&s, &a, changed.clone());
                st.on_commit(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
                Ok(st.put(&s, &b, cm("b")))
            })
            .unwrap_err();
        assert_eq!(err.code, 500);
        assert!(
            !committed.load(std::sync::atomic::Ordering::SeqCst),
            "what a refused write asked to do on commit is not done"
        );
        assert!(
            err.message.contains("persisting the write failed"),
            "{}",
            err.message
        );
        // Reads see the state before it; watchers saw nothing.
        assert_eq!(store.revision(), 1);
        assert!(!watcher.has_changed().unwrap());
        store.read(|st| {
            let a = st.get(&s, &a).unwrap().value();
            assert_eq!(a["metadata"]["resourceVersion"], "1");
            assert!(a.get("data").is_none());
            assert!(st.get(&s, &b).is_none());
        });
        assert_eq!(store.events_after(1, 10).unwrap().len(), 0);

        // Space comes back: the next write gets the next revision.
        store
            .write(|st| {
                st.wal_mut().unwrap().faults().space = None;
                Ok(())
            })
            .unwrap();
        let flag = committed.clone();
        let b_stored = store
            .write(|st| {
                st.on_commit(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
                Ok(st.put(&s, &b, cm("b")))
            })
            .unwrap();
        assert!(committed.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(b_stored["metadata"]["resourceVersion"], "2");
        drop(store);
        let (_, restored) = open();
        assert_eq!(restored.revision, 2);
        let names: Vec<_> = restored
            .objects
            .iter()
            .map(|(_, k, _)| k.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
