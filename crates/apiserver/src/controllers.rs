//! The controllers a cluster runs next to its API server, as far as operators
//! depend on them: garbage collection through owner references (background,
//! foreground, orphan), namespace lifecycle, cleanup of a deleted CRD's
//! custom resources, and ClusterRole aggregation (`authz::aggregate`). They
//! follow the store's event log (`follow`) and write through the same REST
//! semantics.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::follow::Follower;
use crate::meta;
use crate::resources::{Builtin, Registry};
use crate::rest::options::{DeleteOptions, Propagation};
use crate::rest::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, delete_in, released};
use crate::store::{Event, EventKind, ObjectKey, State, StorageKey, Store};

/// Finalizer that keeps a namespace until its contents are gone.
const NAMESPACE_FINALIZER: &str = "kubernetes";

type Place = (StorageKey, ObjectKey);

/// The controllers, as one follower of the event log (`follow`).
pub(crate) fn follower(store: Arc<Store>, registry: Arc<Registry>) -> Box<dyn Follower> {
    Box::new(Controllers::new(store, registry))
}

struct Controllers {
    store: Arc<Store>,
    registry: Arc<Registry>,
    /// uid -> where the object lives.
    live: HashMap<String, Place>,
    /// owner uid -> dependents.
    dependents: HashMap<String, BTreeSet<Place>>,
    /// Objects whose owners may all be gone.
    orphan_checks: BTreeSet<Place>,
    /// Owners being deleted (foreground or orphan) to look at.
    owners: BTreeSet<Place>,
    /// Namespaces being deleted.
    namespaces: BTreeSet<String>,
    /// CRDs being deleted (by name).
    crds: BTreeSet<String>,
    /// A ClusterRole changed: aggregated roles may need new rules.
    aggregate: bool,
}

impl Follower for Controllers {
    /// Rebuilds the indexes from the current state.
    fn resync(&mut self) {
        self.live.clear();
        self.dependents.clear();
        let objects = self.store.read(|s| {
            let mut all = Vec::new();
            for storage in s.collections() {
                for (k, v) in s.list(&storage, None) {
                    all.push((storage.clone(), k, v));
                }
            }
            all
        });
        // Decoded outside the store's lock.
        for (s, k, v) in objects {
            let v = v.value();
            self.index(&s, &k, &v);
            self.classify(&s, &k, &v);
        }
        self.orphan_checks
            .extend(self.dependents.values().flatten().cloned());
    }

    /// Indexes one change and notes the work it makes.
    fn observe(&mut self, e: &Event) {
        let place = (e.storage.clone(), e.key.clone());
        if e.storage == Builtin::ClusterRole.storage_key() {
            self.aggregate = true;
        }
        if let Some(prev) = &e.prev {
            self.unindex(&e.storage, &e.key, &prev.value());
        }
        let object = e.object.value();
        match e.kind {
            EventKind::Added | EventKind::Modified => {
                self.index(&e.storage, &e.key, &object);
                self.classify(&e.storage, &e.key, &object);
                if !meta::owner_references(&object).is_empty() {
                    self.orphan_checks.insert(place);
                }
            }
            EventKind::Deleted => {
                if let Some(uid) = meta::uid(&object)
                    && let Some(deps) = self.dependents.get(uid)
                {
                    self.orphan_checks.extend(deps.iter().cloned());
                }
                if e.storage == Builtin::CustomResourceDefinition.storage_key() {
                    self.registry.remove_crd(&e.key.name);
                }
                // A dependent gone may unblock its foreground owner; an object
                // gone may empty a terminating namespace or CRD.
                for r in meta::owner_references(&object) {
                    if let Some(place) = r
                        .get("uid")
                        .and_then(Value::as_str)
                        .and_then(|u| self.live.get(u))
                    {
                        self.owners.insert(place.clone());
                    }
                }
            }
        }
    }

    fn settle(&mut self) {
        self.work();
    }
}

impl Controllers {
    fn new(store: Arc<Store>, registry: Arc<Registry>) -> Self {
        Self {
            store,
            registry,
            live: HashMap::new(),
            dependents: HashMap::new(),
            orphan_checks: BTreeSet::new(),
            owners: BTreeSet::new(),
            namespaces: BTreeSet::new(),
            crds: BTreeSet::new(),
            aggregate: true,
        }
    }

    fn index(&mut self, s: &StorageKey, k: &ObjectKey, v: &Value) {
        if let Some(uid) = meta::uid(v) {
            self.live.insert(uid.to_owned(), (s.clone(), k.clone()));
        }
        for r in meta::owner_references(v) {
            if let Some(owner) = r.get("uid").and_then(Value::as_str) {
                self.dependents
                    .entry(owner.to_owned())
                    .or_default()
                    .insert((s.clone(), k.clone()));
            }
        }
    }

    fn unindex(&mut self, s: &StorageKey, k: &ObjectKey, v: &Value) {
        if let Some(uid) = meta::uid(v) {
            self.live.remove(uid);
        }
        for r in meta::owner_references(v) {
            if let Some(owner) = r.get("uid").and_then(Value::as_str)
                && let Some(set) = self.dependents.get_mut(owner)
            {
                set.remove(&(s.clone(), k.clone()));
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }

    /// Notes what needs work because of the state of one object.
    fn classify(&mut self, s: &StorageKey, k: &ObjectKey, v: &Value) {
        if !meta::is_deleting(v) {
            return;
        }
        let f = meta::finalizers(v);
        if f.iter()
            .any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER)
        {
            self.owners.insert((s.clone(), k.clone()));
        }
        if *s == Builtin::Namespace.storage_key() {
            self.namespaces.insert(k.name.clone());
        }
        if *s == Builtin::CustomResourceDefinition.storage_key() {
            self.crds.insert(k.name.clone());
        }
    }

    /// Does all pending work; each step is one atomic write.
    fn work(&mut self) {
        if std::mem::take(&mut self.aggregate) {
            crate::authz::aggregate(&self.store);
        }
        let checks = std::mem::take(&mut self.orphan_checks);
        for place in checks {
            self.collect_if_orphaned(&place);
        }
        let owners = std::mem::take(&mut self.owners);
        for place in owners {
            self.finish_owner(&place);
        }
        let namespaces: Vec<String> = self.namespaces.iter().cloned().collect();
        for ns in namespaces {
            if self.finish_namespace(&ns) {
                self.namespaces.remove(&ns);
            }
        }
        let crds: Vec<String> = self.crds.iter().cloned().collect();
        for crd in crds {
            if self.finish_crd(&crd) {
                self.crds.remove(&crd);
            }
        }
    }

    /// Deletes a dependent whose owners are all gone.
    fn collect_if_orphaned(&self, (s, k): &Place) {
        let registry = &self.registry;
        let live = &self.live;
        let _ = self.store.write(|state| {
            let Some(obj) = state.value(s, k) else {
                return Ok(());
            };
            let refs = meta::owner_references(&obj);
            if refs.is_empty() || meta::is_deleting(&obj) {
                return Ok(());
            }
            let mut foreground = false;
            for r in &refs {
                let Some(uid) = r.get("uid").and_then(Value::as_str) else {
                    continue;
                };
                match live.get(uid).and_then(|(os, ok)| state.value(os, ok)) {
                    Some(owner) if meta::uid(&owner) == Some(uid) => {
                        if !meta::finalizers(&owner)
                            .iter()
                            .any(|f| f == FOREGROUND_FINALIZER)
                        {
                            return Ok(());
                        }
                        foreground = true;
                    }
                    _ => {}
                }
            }
            let Some(rt) = registry.for_storage(s) else {
                return Ok(());
            };
            let opts = DeleteOptions {
                propagation: Some(if foreground {
                    Propagation::Foreground
                } else {
                    Propagation::Background
                }),
                ..DeleteOptions::default()
            };
            delete_in(state, &rt, s, k, &opts).map(|_| ())
        });
    }

    /// Foreground: delete dependents, then release the owner. Orphan: strip the
    /// owner reference from dependents, then release the owner.
    fn finish_owner(&mut self, (s, k): &Place) {
        let Some(owner) = self.store.read(|st| st.value(s, k)) else {
            return;
        };
        let Some(uid) = meta::uid(&owner).map(str::to_owned) else {
            return;
        };
        let finalizers = meta::finalizers(&owner);
        let deps: Vec<Place> = self
            .dependents
            .get(&uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
            for (ds, dk) in &deps {
                let _ = self.store.write(|state| {
                    let Some(dep) = state.value(ds, dk) else {
                        return Ok(());
                    };
                    let mut dep = dep;
                    let refs: Vec<Value> = meta::owner_references(&dep)
                        .into_iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()))
                        .collect();
                    let m = meta::metadata_mut(&mut dep);
                    if refs.is_empty() {
                        m.remove("ownerReferences");
                    } else {
                        m.insert("ownerReferences".into(), Value::Array(refs));
                    }
                    state.put(ds, dk, dep);
                    Ok(())
                });
            }
            remove_finalizer(&self.store, s, k, ORPHAN_FINALIZER);
            return;
        }
        if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
            let mut blocking = false;
            for place in &deps {
                self.collect_if_orphaned(place);
                let still = self.store.read(|st| st.value(&place.0, &place.1));
                if let Some(dep) = still {
                    let blocks = meta::owner_references(&dep).iter().any(|r| {
                        r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                            && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
                    });
                    blocking |= blocks;
                }
            }
            if !blocking {
                remove_finalizer(&self.store, s, k, FOREGROUND_FINALIZER);
            }
        }
    }

    /// Deletes a terminating namespace's contents; releases it once empty.
    fn finish_namespace(&self, ns: &str) -> bool {
        let ns_storage = Builtin::Namespace.storage_key();
        let ns_key = ObjectKey::new("", ns);
        let registry = &self.registry;
        let done = self.store.write(|state| {
            let Some(namespace) = state.value(&ns_storage, &ns_key) else {
                return Ok(true);
            };
            if !meta::is_deleting(&namespace) {
                return Ok(true);
            }
            for storage in state.collections() {
                let Some(rt) = registry.for_storage(&storage) else {
                    continue;
                };
                if !rt.namespaced {
                    continue;
                }
                for (key, obj) in state.values(&storage, Some(ns)) {
                    if !meta::is_deleting(&obj) {
                        // A failure leaves the object; the next event retries.
                        let _ = delete_in(state, &rt, &storage, &key, &DeleteOptions::default());
                    }
                }
            }
            let left: usize = state
                .collections()
                .iter()
                .filter(|s| registry.for_storage(s).is_some_and(|rt| rt.namespaced))
                .map(|s| state.count(s, ns))
                .sum();
            if left > 0 {
                return Ok(false);
            }
            let mut obj = namespace.clone();
            if let Some(Value::Array(fs)) = obj.pointer_mut("/spec/finalizers") {
                fs.retain(|f| f != NAMESPACE_FINALIZER);
            }
            if released(&ns_storage, &obj) {
                state.remove(&ns_storage, &ns_key);
            } else if namespace != obj {
                state.put(&ns_storage, &ns_key, obj);
            }
            Ok(true)
        });
        done.unwrap_or(false)
    }

    /// Deletes a terminating CRD's custom resources; releases it once none is left.
    fn finish_crd(&self, name: &str) -> bool {
        let crd_storage = Builtin::CustomResourceDefinition.storage_key();
        let crd_key = ObjectKey::new("", name);
        let registry = &self.registry;
        let done = self.store.write(|state| {
            let Some(crd) = state.value(&crd_storage, &crd_key) else {
                return Ok(true);
            };
            if !meta::is_deleting(&crd) {
                return Ok(true);
            }
            let group = crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = crd
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let storage = StorageKey::new(group, plural);
            let items = state.values(&storage, None);
            if let Some(rt) = registry.for_storage(&storage) {
                for (key, obj) in &items {
                    if !meta::is_deleting(obj) {
                        let _ = delete_in(state, &rt, &storage, key, &DeleteOptions::default());
                    }
                }
            }
            if !state.list(&storage, None).is_empty() {
                mark_terminating(state, &crd_storage, &crd_key);
                return Ok(false);
            }
            if drop_finalizer(
                state,
                &crd_storage,
                &crd_key,
                crate::admission::crd::CLEANUP_FINALIZER,
            ) {
                let (registry, name) = (registry.clone(), name.to_owned());
                state.on_commit(move || registry.remove_crd(&name));
            }
            Ok(true)
        });
        done.unwrap_or(false)
    }
}

fn mark_terminating(state: &mut State, s: &StorageKey, k: &ObjectKey) {
    if let Some(crd) = state.value(s, k) {
        let mut obj = crd.clone();
        crate::admission::crd::prepare(&mut obj);
        if obj != crd {
            state.put(s, k, obj);
        }
    }
}

fn remove_finalizer(store: &Store, s: &StorageKey, k: &ObjectKey, finalizer: &str) {
    let _ = store.write(|state| {
        drop_finalizer(state, s, k, finalizer);
        Ok(())
    });
}

/// Removes `finalizer` from the object at `k`, and the object itself when that
/// released it; returns whether the object is gone.
fn drop_finalizer(state: &mut State, s: &StorageKey, k: &ObjectKey, finalizer: &str) -> bool {
    let Some(obj) = state.value(s, k) else {
        return true;
    };
    let mut obj = obj;
    let rest: Vec<String> = meta::finalizers(&obj)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    meta::set_finalizers(&mut obj, &rest);
    if released(s, &obj) {
        state.remove(s, k);
        true
    } else {
        state.put(s, k, obj);
        false
    }
}
