//! Shared caches: one watch per kind, its objects kept in a reflector store,
//! its changes fanned out to every controller that subscribed, as
//! kube-controller-manager's shared informers do. Deletions get a stream of
//! their own ([`Cache::deleted`]): kube-runtime's shared streams carry only
//! objects that are still there.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

/// Changes a subscriber may fall behind by before the watch waits for it.
const BUFFER: usize = 4096;

/// One kind's cache: its store and, until it runs, its writer.
pub struct Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    writer: Option<Writer<K>>,
    api: Api<K>,
    deleted: tokio::sync::broadcast::Sender<Arc<K>>,
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A cache of every `K` `api` sees.
    pub fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store_shared(BUFFER);
        let (deleted, _) = tokio::sync::broadcast::channel(BUFFER);
        Self {
            store,
            writer: Some(writer),
            api,
            deleted,
        }
    }

    /// The objects, once [`Cache::run`] has listed them.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// A stream of every object that changes, for one controller. Only
    /// before [`Cache::run`].
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.writer
            .as_ref()
            .and_then(Writer::subscribe)
            .map(|s| s.boxed())
            .unwrap_or_else(|| futures::stream::empty().boxed())
    }

    /// A stream of every object deleted (as last seen), for one controller.
    /// A subscriber that falls more than the buffer behind skips deletions.
    pub fn deleted(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let rx = self.deleted.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(obj) => return Some((obj, rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Starts the watch; the task ends with the process (or when aborted).
    pub fn run(&mut self) -> Option<JoinHandle<()>> {
        let writer = self.writer.take()?;
        let deleted = self.deleted.clone();
        let store = self.store.clone();
        // The objects before a relist: those missing after it were deleted
        // while the watch was down, and get their deletion too.
        let mut before: Vec<Arc<K>> = Vec::new();
        let stream = watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect_shared(writer)
            .for_each(move |event| {
                match event {
                    Ok(watcher::Event::Delete(obj)) => {
                        let _ = deleted.send(Arc::new(obj));
                    }
                    Ok(watcher::Event::Init) => before = store.state(),
                    Ok(watcher::Event::InitDone) => {
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
