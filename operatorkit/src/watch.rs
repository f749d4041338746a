//! The watches of one controller run: the child kinds, each with its own
//! reflector cache, mapped back to the objects they belong to; and the queue
//! of objects a watch event has triggered but no loop has taken yet.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use crate::cache::Caches;
use crate::metrics::Metrics;
use crate::operator::Object;

/// Objects triggered by a watch event and waiting for a loop (the
/// `operatorkit_queue_depth` gauge).
pub(crate) struct Pending<K: Object> {
    set: Arc<Mutex<HashSet<ObjectRef<K>>>>,
    metrics: Metrics,
}

impl<K: Object> Clone for Pending<K> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<K: Object> Pending<K> {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self {
            set: Arc::default(),
            metrics,
        }
    }

    pub(crate) fn add(&self, object: ObjectRef<K>) {
        let mut set = self.lock();
        set.insert(object);
        self.metrics.set_queue_depth(set.len());
    }

    pub(crate) fn remove(&self, object: &ObjectRef<K>) {
        let mut set = self.lock();
        set.remove(object);
        self.metrics.set_queue_depth(set.len());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectRef<K>>> {
        // Plain data: usable after a panic elsewhere.
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What attaching a child watch to a controller needs.
pub(crate) struct Attach<'a, K: Object> {
    pub controller: Controller<K>,
    pub client: &'a Client,
    pub namespace: Option<&'a str>,
    pub caches: &'a mut Caches,
    pub pending: &'a Pending<K>,
    /// Futures that resolve once each cache has its first full list.
    pub synced: &'a mut Vec<BoxFuture<'static, ()>>,
}

type AttachFn<K> = dyn for<'a> Fn(Attach<'a, K>) -> Controller<K> + Send + Sync;

/// A child kind an operator owns or watches.
pub(crate) struct ChildWatch<K: Object> {
    attach: Arc<AttachFn<K>>,
}

impl<K: Object> ChildWatch<K> {
    /// Children mapped to their controller owner of kind `K`.
    pub(crate) fn owned<C: Object>(config: watcher::Config) -> Self {
        Self::mapped::<C>(config, None, |child: &C| {
            controller_owner::<K, C>(child).into_iter().collect()
        })
    }

    /// Objects mapped by `mapper`, watched in `namespace` (default: the
    /// operator's scope).
    pub(crate) fn mapped<C: Object>(
        config: watcher::Config,
        namespace: Option<String>,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        let mapper = Arc::new(mapper);
        Self {
            attach: Arc::new(move |args: Attach<'_, K>| {
                let api: Api<C> = match namespace.as_deref().or(args.namespace) {
                    Some(ns) => Api::namespaced(args.client.clone(), ns),
                    None => Api::all(args.client.clone()),
                };
                let (reader, writer) = reflector::store::<C>();
                let (synced, listed) = synced_signal();
                args.synced.push(synced);
                args.caches.insert(reader);
                let pending = args.pending.clone();
                let mapper = mapper.clone();
                let stream = watcher(api, config.clone())
                    .default_backoff()
                    .map(listed)
                    .reflect(writer)
                    .touched_objects();
                args.controller.watches_stream(stream, move |child: C| {
                    let parents = mapper(&child);
                    for p in &parents {
                        pending.add(p.clone());
                    }
                    parents
                })
            }),
        }
    }

    pub(crate) fn attach(&self, args: Attach<'_, K>) -> Controller<K> {
        (self.attach)(args)
    }
}

/// One item of a watch stream.
type WatchResult<K> = watcher::Result<watcher::Event<K>>;

/// A future that resolves once a watch has listed everything, and the
/// function that passes the watch's events through and notices that.
///
/// (`Store::wait_until_ready` is not used: its one-shot channel keeps only the
/// last waiter's waker, and kube-runtime's `Controller` already waits on it.)
pub(crate) fn synced_signal<K>() -> (
    BoxFuture<'static, ()>,
    impl FnMut(WatchResult<K>) -> WatchResult<K> + Send + 'static,
) {
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let synced = async move {
        // Err: the watch is gone, the run is over; nothing to wait for.
        let _ = rx.wait_for(|listed| *listed).await;
    }
    .boxed();
    let listed = move |event: WatchResult<K>| {
        if matches!(event, Ok(watcher::Event::InitDone)) {
            tx.send_replace(true);
        }
        event
    };
    (synced, listed)
}

/// The controller owner of `child`, when it is a `K`.
fn controller_owner<K: Object, C: Object>(child: &C) -> Option<ObjectRef<K>> {
    let kind = K::kind(&());
    let api_version = K::api_version(&());
    child
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == kind && o.api_version == api_version)
        .map(|o| {
            let r = ObjectRef::new(&o.name);
            match child.namespace() {
                Some(ns) => r.within(&ns),
                None => r,
            }
        })
}
