//! One run of an operator's controller on kube-runtime's `Controller`: the
//! label-selected watch of its kind with a cache, the child watches, bounded
//! concurrency, and a graceful stop that lets in-flight loops finish up to a
//! deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};

use crate::backoff::Backoff;
use crate::cache::{Caches, WatchProgress};
use crate::events::Events;
use crate::http::Health;
use crate::kind::OperatorKind;
use crate::metrics::Metrics;
use crate::operator::{Operator, Selection};
use crate::reconcile::{Env, error_policy, reconcile};
use crate::unselected;
use crate::watch::{Attach, Pending, SeparateBackoffs, observed, synced_signal, trigger_hash};
use crate::writes::Writes;

/// What a controller run shares with the rest of the operator.
pub(crate) struct Shared<K: OperatorKind> {
    pub operator: Arc<Operator<K>>,
    pub client: Client,
    pub metrics: Metrics,
    pub events: Events,
    pub backoff: Arc<Backoff<ObjectRef<K>>>,
    pub health: Health,
    pub namespace: Option<String>,
    pub shutdown_timeout: Duration,
    /// Reads the number of cached objects of the current run.
    pub watched: Arc<std::sync::Mutex<Option<reflector::Store<K>>>>,
}

/// Runs the controller until `stop` resolves, then lets in-flight loops
/// finish for up to `shutdown_timeout`.
pub(crate) async fn run<K: OperatorKind>(
    shared: &Shared<K>,
    stop: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let operator = &shared.operator;
    let namespace = shared.namespace.as_deref();
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(shared.client.clone(), ns),
        None => Api::all(shared.client.clone()),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = operator.label_selector() {
        config = config.labels(&selector);
    }
    let pending = Pending::new(shared.metrics.clone());
    let (reader, writer) = reflector::store::<K>();
    let main_pending = pending.clone();
    let (main_synced, listed) = synced_signal();
    // Whether the main watch ever listed: until then no object was seen and
    // no loop can be running.
    let main_listed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let main_synced = {
        let main_listed = main_listed.clone();
        async move {
            main_synced.await;
            main_listed.store(true, std::sync::atomic::Ordering::Release);
        }
        .boxed()
    };
    let progress = WatchProgress::default();
    let trigger = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .map(listed)
        .map(observed(progress.clone()))
        .applied_objects()
        .predicate_filter(trigger_hash::<K>, PredicateConfig::default())
        .map(move |r| {
            if let Ok(o) = &r {
                main_pending.add(ObjectRef::from_obj(o));
            }
            r
        });
    let mut synced = vec![main_synced];
    *shared
        .watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reader.clone());
    let mut caches = Caches::default();
    // Steps may read the operator's own kind too (siblings of an object).
    caches.insert(reader.clone(), progress);
    // Each watch backs off on its own (`default_backoff` above and in
    // `watch`); the controller's own backoff over all of them together
    // would let one failing watch hold back every other (see
    // `SeparateBackoffs`).
    let mut controller = Controller::for_stream(trigger, reader).trigger_backoff(SeparateBackoffs);
    for child in &operator.children {
        controller = child.attach(Attach {
            controller,
            client: &shared.client,
            namespace,
            caches: &mut caches,
            pending: &pending,
            synced: &mut synced,
        });
    }
    let health = shared.health.clone();
    let name = operator.name.clone();
    // Loops wait for this (`Env::caches_listed`); the sender goes with the
    // task, so an aborted wait lets them go.
    let (listed_tx, caches_listed) = tokio::sync::watch::channel(false);
    let readiness = tokio::spawn(async move {
        futures::future::join_all(synced).await;
        tracing::info!(controller = %name, "caches synced; ready");
        listed_tx.send_replace(true);
        health.set_ready(true);
    });
    let unselected = (operator.selection == Selection::VersionLabel).then(|| {
        let metadata = match namespace {
            Some(ns) => Api::namespaced(shared.client.clone(), ns),
            None => Api::all(shared.client.clone()),
        };
        tokio::spawn(unselected::report(
            metadata,
            operator.clone(),
            shared.events.clone(),
            shared.metrics.clone(),
        ))
    });
    let env = Arc::new(Env {
        operator: operator.clone(),
        client: shared.client.clone(),
        metrics: shared.metrics.clone(),
        events: shared.events.clone(),
        backoff: shared.backoff.clone(),
        caches,
        writes: Arc::new(Writes::default()),
        pending,
        caches_listed,
    });
    let name = operator.name.clone();
    let loops = controller
        .with_config(controller::Config::default().concurrency(operator.concurrency))
        .graceful_shutdown_on(stop.clone())
        .run(reconcile, error_policy, env)
        .for_each(move |result| {
            match result {
                Ok(_) | Err(controller::Error::ReconcilerFailed(..)) => {}
                Err(controller::Error::ObjectNotFound(r)) => {
                    tracing::debug!(controller = %name, object = %r, "object gone before its loop")
                }
                Err(e) => tracing::warn!(controller = %name, error = %e, "controller error"),
            }
            futures::future::ready(())
        });
    let mut loops = std::pin::pin!(loops);
    tokio::select! {
        () = &mut loops => {}
        () = stop => {
            // Loops still waiting for the caches end at once.
            readiness.abort();
            if !main_listed.load(std::sync::atomic::Ordering::Acquire) {
                // The main watch never listed (refused or failing): no object
                // was seen, no loop ran, and kube-runtime's applier, waiting
                // for its store, would not notice the stop before the timeout.
                tracing::info!(
                    controller = %operator.name,
                    "stopped before the first list of the watched kind"
                );
            } else if tokio::time::timeout(shared.shutdown_timeout, &mut loops).await.is_err() {
                tracing::warn!(
                    controller = %operator.name,
                    timeout = ?shared.shutdown_timeout,
                    "in-flight reconciles did not finish in time; abandoned"
                );
            }
        }
    }
    readiness.abort();
    if let Some(task) = unselected {
        task.abort();
    }
    shared.health.set_ready(false);
    *shared
        .watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}
