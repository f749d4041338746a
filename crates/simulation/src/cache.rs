//! Shared caches: one watch per kind, its objects kept in a reflector store,
//! its changes fanned out to every controller that subscribed, as
//! kube-controller-manager's shared informers do. Deletions get a stream of
//! their own ([`Cache::deleted`]).
//!
//! The fan-out is this module's own, not kube-runtime's `Writer::subscribe`:
//! its `ReflectHandle` answers `Pending` without a waker when the object of
//! a change is already gone from the store (deleted since), so a subscriber
//! stalls until something else happens to wake its task, maybe never. The
//! flannel tests' deletion bursts stalled the scheduler, the kubelet and the
//! DaemonSet controller on exactly that.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

/// Changes a subscriber may fall behind by; one further behind skips the
/// oldest (logged) and catches up at the controllers' resync.
const BUFFER: usize = 65_536;

/// One kind's cache: its store and, until it runs, its writer.
pub struct Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    writer: Option<Writer<K>>,
    api: Api<K>,
    changed: tokio::sync::broadcast::Sender<Arc<K>>,
    deleted: tokio::sync::broadcast::Sender<Arc<K>>,
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A cache of every `K` `api` sees.
    pub fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store::<K>();
        let (changed, _) = tokio::sync::broadcast::channel(BUFFER);
        let (deleted, _) = tokio::sync::broadcast::channel(BUFFER);
        Self {
            store,
            writer: Some(writer),
            api,
            changed,
            deleted,
        }
    }

    /// The objects, once [`Cache::run`] has listed them.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// A stream of every object that changes (as stored after the change),
    /// for one controller; after a relist, every object.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        receive(self.changed.subscribe())
    }

    /// A stream of every object deleted (as last seen), for one controller.
    /// A subscriber that falls more than the buffer behind skips deletions.
    pub fn deleted(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        receive(self.deleted.subscribe())
    }

    /// Starts the watch; the task ends with the process (or when aborted).
    pub fn run(&mut self) -> Option<JoinHandle<()>> {
        let writer = self.writer.take()?;
        let changed = self.changed.clone();
        let deleted = self.deleted.clone();
        let store = self.store.clone();
        // The objects before a relist: those missing after it were deleted
        // while the watch was down, and get their deletion too.
        let mut before: Vec<Arc<K>> = Vec::new();
        let stream = watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each(move |event| {
                // After the store applied it: a subscriber finds it there.
                match event {
                    Ok(watcher::Event::Apply(obj)) => {
                        let _ = changed.send(Arc::new(obj));
                    }
                    Ok(watcher::Event::Delete(obj)) => {
                        let _ = deleted.send(Arc::new(obj));
                    }
                    Ok(watcher::Event::Init) => before = store.state(),
                    Ok(watcher::Event::InitDone) => {
                        for obj in store.state() {
                            let _ = changed.send(obj);
                        }
                        for gone in std::mem::take(&mut before) {
                            let key = ObjectRef::from_obj(gone.as_ref());
                            if store.get(&key).is_none() {
                                let _ = deleted.send(gone);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(kind = %K::kind(&()), error = %e, "watch failed; retrying")
                    }
                }
                futures::future::ready(())
            });
        Some(tokio::spawn(stream))
    }
}

/// The messages of `rx` as a stream; a receiver that fell more than
/// [`BUFFER`] behind skips what it missed (logged).
fn receive<K: Send + Sync + 'static>(
    rx: tokio::sync::broadcast::Receiver<Arc<K>>,
) -> impl Stream<Item = Arc<K>> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(obj) => return Some((obj, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        skipped = n,
                        "a controller fell behind its cache; it catches up at its resync"
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
