//! What a controller is still waiting to see in its cache after its own
//! writes, as kube-controller-manager's "expectations": a controller that
//! created pods must not count them missing (and create them again) before
//! its cache shows them, nor count pods it deleted as still there.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};

/// Expectations older than this are dropped (a missed event must not stall
/// a controller forever), as kube's 5-minute expectations timeout.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Pending {
    created: HashSet<(String, String)>,
    deleted: HashSet<(String, String)>,
    since: Option<Instant>,
}

/// Per owner (by UID): the pods it created and deleted that the cache has
/// not caught up with.
#[derive(Default)]
pub struct Expectations {
    owners: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `owner` created pod `namespace/name`.
    pub fn created(&self, owner: &str, namespace: &str, name: &str) {
        let mut owners = self.lock();
        let p = owners.entry(owner.to_owned()).or_default();
        p.created.insert((namespace.to_owned(), name.to_owned()));
        p.since.get_or_insert_with(Instant::now);
    }

    /// `owner` deleted pod `namespace/name`.
    pub fn deleted(&self, owner: &str, namespace: &str, name: &str) {
        let mut owners = self.lock();
        let p = owners.entry(owner.to_owned()).or_default();
        p.deleted.insert((namespace.to_owned(), name.to_owned()));
        p.since.get_or_insert_with(Instant::now);
    }

    /// Whether the cache shows everything `owner` did (so it may act again).
    pub fn satisfied(&self, owner: &str, pods: &Store<Pod>) -> bool {
        let mut owners = self.lock();
        let Some(p) = owners.get_mut(owner) else {
            return true;
        };
        let find = |(ns, name): &(String, String)| pods.get(&ObjectRef::new(name).within(ns));
        p.created.retain(|k| find(k).is_none());
        p.deleted
            .retain(|k| find(k).is_some_and(|pod| pod.metadata.deletion_timestamp.is_none()));
        let done = (p.created.is_empty() && p.deleted.is_empty())
            || p.since.is_some_and(|s| s.elapsed() > TIMEOUT);
        if done {
            owners.remove(owner);
        }
        done
    }

    /// Forgets `owner` (it is gone).
    pub fn forget(&self, owner: &str) {
        self.lock().remove(owner);
    }
}
