//! The watches of one controller run: the child kinds, each with its own
//! reflector cache, mapped back to the objects they belong to; which changes
//! of the reconciled kind trigger a loop; and the queue of objects a watch
//! event has triggered but no loop has taken yet.

use std::any::TypeId;
use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use crate::cache::{Caches, WatchProgress};
use crate::kind::Kind;
use crate::metrics::Metrics;

/// Objects triggered by a watch event and waiting for a loop (the
/// `operatorkit_queue_depth` gauge).
pub(crate) struct Pending<K: Kind> {
    set: Arc<Mutex<HashSet<ObjectRef<K>>>>,
    metrics: Metrics,
}

impl<K: Kind> Clone for Pending<K> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<K: Kind> Pending<K> {
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
pub(crate) struct Attach<'a, K: Kind> {
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
pub(crate) struct ChildWatch<K: Kind> {
    kind: TypeId,
    owned: bool,
    attach: Arc<AttachFn<K>>,
}

impl<K: Kind> ChildWatch<K> {
    /// Children mapped to their controller owner of kind `K`.
    pub(crate) fn owned<C: Kind>(config: watcher::Config) -> Self {
        let mut watch = Self::mapped::<C>(config, WatchScope::Operator, |child: &C| {
            controller_owner::<K, C>(child).into_iter().collect()
        });
        watch.owned = true;
        watch
    }

    /// The watched kind.
    pub(crate) fn kind(&self) -> TypeId {
        self.kind
    }

    /// Whether the kind is owned (mapped by controller owner references).
    pub(crate) fn is_owned(&self) -> bool {
        self.owned
    }

    /// Objects mapped by `mapper`, watched in `namespace` (default: the
    /// operator's scope).
    pub(crate) fn mapped<C: Kind>(
        config: watcher::Config,
        scope: WatchScope,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        let mapper = Arc::new(mapper);
        Self {
            kind: TypeId::of::<C>(),
            owned: false,
            attach: Arc::new(move |args: Attach<'_, K>| {
                let namespace = match &scope {
                    WatchScope::Operator => args.namespace,
                    WatchScope::Namespace(ns) => Some(ns.as_str()),
                    WatchScope::All => None,
                };
                let api: Api<C> = match namespace {
                    Some(ns) => Api::namespaced(args.client.clone(), ns),
                    None => Api::all(args.client.clone()),
                };
                let (reader, writer) = reflector::store::<C>();
                let (synced, listed) = synced_signal();
                args.synced.push(synced);
                let progress = WatchProgress::default();
                args.caches.insert(reader, progress.clone());
                let pending = args.pending.clone();
                let mapper = mapper.clone();
                let stream = watcher(api, config.clone())
                    .default_backoff()
                    .reflect(writer)
                    .map(listed)
                    .map(observed(progress))
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

/// Where a mapped kind is watched.
#[derive(Clone, Debug)]
pub(crate) enum WatchScope {
    /// Where the operator watches its own kind (all namespaces, or its one).
    Operator,
    /// This namespace, whatever the operator's scope.
    Namespace(String),
    /// Every namespace, whatever the operator's scope.
    All,
}

/// The controller-wide trigger backoff operatorkit gives kube-runtime's
/// `Controller`: none, because every watch stream already has its own
/// (`default_backoff`, 0.8 s doubling to 30 s, plus jitter).
///
/// kube-runtime's default wraps the merged stream of *all* watches in one
/// more backoff, which grows with every error of any watch and resets only
/// when an event arrives. After an API server restart, each of a
/// controller's watches reports an error or two (the refused connection,
/// then the 410 of its old resourceVersion) and the shared backoff doubles
/// each time: with a dozen watches no watch was polled for minutes, so
/// objects created meanwhile went unseen (the chaos test's "never Ready
/// within 180s"; a KVMConfig never got its finalizer).
pub(crate) struct SeparateBackoffs;

impl Iterator for SeparateBackoffs {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        // Some: `None` would end the stream of triggers.
        Some(std::time::Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for SeparateBackoffs {
    fn reset(&mut self) {}
}

/// One item of a watch stream.
type WatchResult<K> = watcher::Result<watcher::Event<K>>;

/// Passes a reflected watch's events through, noting in `progress` how far
/// the cache has got.
pub(crate) fn observed<C: Kind>(
    progress: WatchProgress,
) -> impl FnMut(WatchResult<C>) -> WatchResult<C> + Send + 'static {
    move |event| {
        if let Ok(e) = &event {
            progress.observe(e);
        }
        event
    }
}

/// A hash of what makes an object worth reconciling again: its spec
/// (generation), labels, annotations, finalizers and deletion. Status-only
/// writes (including the operator's own) do not change it, so they do not
/// trigger a loop, nor cut a backoff short.
pub(crate) fn trigger_hash<K: Kind>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut h = DefaultHasher::new();
    meta.uid.hash(&mut h);
    meta.generation.hash(&mut h);
    meta.labels.hash(&mut h);
    meta.annotations.hash(&mut h);
    meta.finalizers.hash(&mut h);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    Some(h.finish())
}

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
    // Called after the reflector applied the event: whoever wakes on the
    // signal finds the store already swapped in.
    let listed = move |event: WatchResult<K>| {
        if matches!(event, Ok(watcher::Event::InitDone)) {
            tx.send_replace(true);
        }
        event
    };
    (synced, listed)
}

/// The controller owner of `child`, when it is a `K`.
fn controller_owner<K: Kind, C: Kind>(child: &C) -> Option<ObjectRef<K>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn status_and_resource_version_do_not_trigger() {
        let mut cm = ConfigMap::default();
        cm.metadata.generation = Some(1);
        let before = trigger_hash(&cm);
        cm.metadata.resource_version = Some("42".into());
        cm.data = Some([("k".into(), "v".into())].into());
        assert_eq!(trigger_hash(&cm), before);
        cm.metadata.labels = Some([("a".into(), "b".into())].into());
        assert_ne!(trigger_hash(&cm), before);
    }
}
