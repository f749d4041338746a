//! Shared caches: one watch per kind, its objects kept in a reflector store,
//! its changes fanned out to every controller that subscribed, as
//! kube-controller-manager's shared informers do.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, Store};
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
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A cache of every `K` `api` sees.
    pub fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store_shared(BUFFER);
        Self {
            store,
            writer: Some(writer),
            api,
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

    /// Starts the watch; the task ends with the process (or when aborted).
    pub fn run(&mut self) -> Option<JoinHandle<()>> {
        let writer = self.writer.take()?;
        let stream = watcher(self.api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect_shared(writer)
            .for_each(|event| async move {
                if let Err(e) = event {
                    tracing::debug!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                }
            });
        Some(tokio::spawn(stream))
    }
}
