//! One run of an operator's controller on kube-runtime's `Controller`: the
//! label-selected watch of its kind with a cache, the child watches, bounded
//! concurrency, and a graceful stop that lets in-flight loops finish up to a
//! deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};

use crate::backoff::Backoff;
use crate::cache::{Caches, WatchProgress};
use crate::events::Events;
use crate::http::Health;
use crate::kind::{Kind, OperatorKind};
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
    let mut controller = controller_for(trigger, reader);
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

/// kube-runtime's `Controller` on `trigger`, with operatorkit's backoffs:
/// each watch backs off on its own (`default_backoff` on the main watch and
/// in `watch`), and the controller adds none over all of them together,
/// which would let one failing watch hold back every other (see
/// `SeparateBackoffs`).
fn controller_for<K: Kind>(
    trigger: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    reader: reflector::Store<K>,
) -> Controller<K> {
    Controller::for_stream(trigger, reader).trigger_backoff(SeparateBackoffs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::controller::Action;
    use std::convert::Infallible;

    /// A watch that fails again and again (refused connections, then a 410,
    /// as after an API server restart) does not delay what the controller's
    /// other watches bring: the object behind eight errors is reconciled at
    /// once, where kube-runtime's default trigger backoff first sleeps 0.8 s
    /// doubling to 30 s after each error, over 100 s for eight. Tokio's clock
    /// is paused and moves only when every task waits on a timer, so the
    /// time read here is the sleeps the controller put in, not this
    /// machine's speed.
    #[tokio::test(start_paused = true)]
    async fn errors_of_one_watch_do_not_delay_the_others() {
        let object = ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        let (reader, mut writer) = reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let errors = futures::stream::iter((0..8).map(|_| Err(watcher::Error::NoResourceVersion)));
        let trigger = errors
            .chain(futures::stream::iter([Ok(object)]))
            .chain(futures::stream::pending());
        let start = tokio::time::Instant::now();
        let results = controller_for(trigger, reader).run(
            |_, _| async { Ok::<_, Infallible>(Action::await_change()) },
            |_, _: &Infallible, _| Action::await_change(),
            Arc::new(()),
        );
        let mut results = std::pin::pin!(results);
        let mut errors_seen = 0;
        loop {
            match results.next().await {
                Some(Err(controller::Error::QueueError(_))) => errors_seen += 1,
                Some(Ok((reconciled, _))) => {
                    assert_eq!(reconciled.name, "a");
                    break;
                }
                other => panic!("unexpected controller output: {other:?}"),
            }
        }
        assert_eq!(errors_seen, 8, "every error reaches the controller");
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(1),
            "the object waited {waited:?} behind the other watch's errors"
        );
    }
}
