//! One loop over one object: selection and pause checks, the finalizer,
//! the resources in order (or in reverse on deletion), the status and the
//! events. Panics inside a resource become an error of that object only.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::cache::Caches;
use crate::events::Events;
use crate::finalizer::{self, FinalizerError};
use crate::metrics::{Metrics, ReconcileResult};
use crate::operator::{Object, Operator};
use crate::outcome::{Outcome, earliest};
use crate::request::Request;
use crate::resource::{Resource, ResourceError};
use crate::selection::is_paused;
use crate::status::{self, READY, StatusChanges, StatusError, reasons};
use crate::watch::Pending;

/// How long a kept finalizer waits before the object is looked at again,
/// when the resource did not say.
const KEEP_FINALIZER_RECHECK: Duration = Duration::from_secs(30);

/// Why a loop failed. The object is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A resource returned an error.
    #[error("resource {resource}: {source}")]
    Resource {
        /// The resource's name.
        resource: String,
        /// Its error.
        source: ResourceError,
    },
    /// A resource panicked.
    #[error("resource {resource} panicked: {message}")]
    Panic {
        /// The resource's name (or `operatorkit` for a panic outside resources).
        resource: String,
        /// The panic message.
        message: String,
    },
    /// The finalizer could not be written.
    #[error(transparent)]
    Finalizer(#[from] FinalizerError),
    /// The status could not be written.
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl ReconcileError {
    fn is_panic(&self) -> bool {
        matches!(self, Self::Panic { .. })
    }
}

/// Everything a loop needs, shared by the loops of one controller run.
pub(crate) struct Context<K: Object> {
    pub operator: Arc<Operator<K>>,
    pub client: Client,
    pub metrics: Metrics,
    pub events: Events,
    pub backoff: Arc<Backoff<ObjectRef<K>>>,
    pub caches: Caches,
    pub pending: Pending<K>,
}

/// The reconcile function handed to kube-runtime's `Controller`.
pub(crate) async fn reconcile<K: Object>(
    object: Arc<K>,
    ctx: Arc<Context<K>>,
) -> Result<Action, ReconcileError> {
    let key = ObjectRef::from_obj(object.as_ref());
    ctx.pending.remove(&key);
    let _active = ctx.metrics.reconcile_started();
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        controller = %ctx.operator.name,
        object = %object.name_any(),
        namespace = %object.namespace().unwrap_or_default(),
    );
    let result = AssertUnwindSafe(run(object, &ctx).instrument(span))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(ReconcileError::Panic {
                resource: "operatorkit".into(),
                message: panic_message(panic.as_ref()),
            })
        });
    let elapsed = started.elapsed();
    match result {
        Ok(requeue) => {
            ctx.backoff.succeeded(&key);
            let outcome = if requeue.is_some() {
                ReconcileResult::Requeue
            } else {
                ReconcileResult::Success
            };
            ctx.metrics.reconcile_finished(outcome, elapsed);
            let resync = ctx.operator.resync;
            Ok(Action::requeue(requeue.map_or(resync, |r| r.min(resync))))
        }
        Err(e) => {
            let outcome = if e.is_panic() {
                ReconcileResult::Panic
            } else {
                ReconcileResult::Error
            };
            ctx.metrics.reconcile_finished(outcome, elapsed);
            Err(e)
        }
    }
}

/// The error policy handed to kube-runtime's `Controller`: per-object
/// exponential backoff.
pub(crate) fn error_policy<K: Object>(
    object: Arc<K>,
    error: &ReconcileError,
    ctx: Arc<Context<K>>,
) -> Action {
    let key = ObjectRef::from_obj(object.as_ref());
    let delay = ctx.backoff.failed(key.clone());
    tracing::warn!(
        controller = %ctx.operator.name,
        object = %object.name_any(),
        namespace = %object.namespace().unwrap_or_default(),
        error = %error,
        failures = ctx.backoff.failures(&key),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// One loop; returns the requeue the resources asked for.
async fn run<K: Object>(
    object: Arc<K>,
    ctx: &Context<K>,
) -> Result<Option<Duration>, ReconcileError> {
    let operator = &ctx.operator;
    if !operator.selects(&object) {
        tracing::debug!("not labelled for this version; left alone");
        return Ok(None);
    }
    if is_paused(object.as_ref()) {
        tracing::info!("paused; left alone");
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    if object.meta().deletion_timestamp.is_some() {
        return delete(object, ctx, &api).await;
    }
    let finalizer = operator.finalizer();
    let Some(object) = finalizer::add(&api, object.as_ref(), &finalizer).await? else {
        // Deleted meanwhile: the deletion triggers the next loop.
        return Ok(None);
    };
    let request = new_request(Arc::new(object), ctx);
    let mut requeue = None;
    let mut cancelled_by = None;
    for resource in &operator.resources {
        match run_resource(resource.as_ref(), &request, Operation::Create, ctx).await {
            Ok(outcome) => {
                requeue = earliest(
                    requeue,
                    match outcome {
                        // Only meaningful on deletion.
                        Outcome::KeepFinalizer(_) => None,
                        o => o.requeue_after(),
                    },
                );
                if outcome.stops_loop() {
                    cancelled_by = Some(resource.name().to_owned());
                    break;
                }
            }
            Err(e) => {
                let mut changes = request.take_changes();
                // A resource that said why it is not Ready (BackendUnavailable,
                // ...) keeps its reason; otherwise the error is the reason.
                if !changes.has_condition(READY) {
                    changes.set_condition(status::ConditionUpdate::new(
                        READY,
                        false,
                        reasons::RECONCILE_FAILED,
                        e.to_string(),
                    ));
                }
                let reason = changes
                    .conditions
                    .iter()
                    .find(|c| c.type_ == READY)
                    .map_or(reasons::RECONCILE_FAILED.to_owned(), |c| c.reason.clone());
                // The resource's error is what matters; a failed status
                // write on top of it is logged, not returned instead.
                if let Err(status) = write_status(&api, request.object(), &changes, ctx).await {
                    tracing::warn!(error = %status, "could not record the failure in the status");
                }
                request
                    .event(EventType::Warning, &reason, e.to_string())
                    .await;
                return Err(e);
            }
        }
    }
    let mut changes = request.take_changes();
    if !changes.has_condition(READY) {
        changes.set_condition(match &cancelled_by {
            None => status::ConditionUpdate::new(READY, true, reasons::RECONCILED, ""),
            Some(r) => status::ConditionUpdate::new(
                READY,
                false,
                reasons::IN_PROGRESS,
                format!("resource {r} is not finished"),
            ),
        });
    }
    let now_ready = changes
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == status::ConditionStatus::True);
    // Judged on the freshest status read: a loop on a stale cached object must
    // not announce a transition that already happened.
    let written = write_status(&api, request.object(), &changes, ctx).await?;
    if now_ready && !written.was_true(READY) {
        request
            .event(EventType::Normal, "Ready", "all resources reconciled")
            .await;
    }
    Ok(requeue)
}

/// The deletion loop: resources in reverse, then the finalizer.
async fn delete<K: Object>(
    object: Arc<K>,
    ctx: &Context<K>,
    api: &Api<K>,
) -> Result<Option<Duration>, ReconcileError> {
    let finalizer = ctx.operator.finalizer();
    if !object.finalizers().contains(&finalizer) {
        return Ok(None);
    }
    let request = new_request(object, ctx);
    let mut kept: Option<Duration> = None;
    let mut kept_by = Vec::new();
    for resource in ctx.operator.resources.iter().rev() {
        match run_resource(resource.as_ref(), &request, Operation::Delete, ctx).await {
            Ok(outcome) => {
                if outcome.keeps_finalizer() {
                    kept = earliest(
                        kept,
                        Some(outcome.requeue_after().unwrap_or(KEEP_FINALIZER_RECHECK)),
                    );
                    kept_by.push(resource.name().to_owned());
                }
                if outcome.stops_loop() {
                    break;
                }
            }
            Err(e) => {
                let changes = request.take_changes();
                if let Err(status) = write_status(api, request.object(), &changes, ctx).await {
                    tracing::warn!(error = %status, "could not record the failure in the status");
                }
                request
                    .event(EventType::Warning, "DeletionFailed", e.to_string())
                    .await;
                return Err(e);
            }
        }
    }
    let changes = request.take_changes();
    if changes != StatusChanges::default() {
        write_status(api, request.object(), &changes, ctx).await?;
    }
    if let Some(after) = kept {
        tracing::info!(kept_by = ?kept_by, recheck_in = ?after, "finalizer kept");
        return Ok(Some(after));
    }
    request
        .event(
            EventType::Normal,
            "CleanedUp",
            "every resource deleted; finalizer removed",
        )
        .await;
    finalizer::remove(api, request.object(), &finalizer).await?;
    tracing::info!("finalizer removed");
    Ok(None)
}

#[derive(Clone, Copy)]
enum Operation {
    Create,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "ensure_created",
            Self::Delete => "ensure_deleted",
        }
    }
}

/// Runs one resource, timing it and turning its error or panic into a
/// [`ReconcileError`] that names it.
async fn run_resource<K: Object>(
    resource: &dyn Resource<K>,
    request: &Request<K>,
    operation: Operation,
    ctx: &Context<K>,
) -> Result<Outcome, ReconcileError> {
    let name = resource.name();
    let span = tracing::debug_span!("resource", resource = name, operation = operation.as_str());
    let started = Instant::now();
    let call = async {
        match operation {
            Operation::Create => resource.ensure_created(request).await,
            Operation::Delete => resource.ensure_deleted(request).await,
        }
    };
    let result = AssertUnwindSafe(call.instrument(span)).catch_unwind().await;
    ctx.metrics
        .resource_operation(name, operation.as_str(), started.elapsed());
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(source)) => {
            ctx.metrics.resource_error(name);
            Err(ReconcileError::Resource {
                resource: name.to_owned(),
                source,
            })
        }
        Err(panic) => {
            ctx.metrics.resource_error(name);
            Err(ReconcileError::Panic {
                resource: name.to_owned(),
                message: panic_message(panic.as_ref()),
            })
        }
    }
}

fn new_request<K: Object>(object: Arc<K>, ctx: &Context<K>) -> Request<K> {
    Request::new(
        object,
        ctx.client.clone(),
        ctx.operator.name.clone(),
        ctx.caches.clone(),
        ctx.events.clone(),
    )
}

async fn write_status<K: Object>(
    api: &Api<K>,
    object: &K,
    changes: &StatusChanges,
    ctx: &Context<K>,
) -> Result<status::StatusWrite, StatusError> {
    status::write_status(api, object, changes, &ctx.operator.name, || {
        ctx.metrics.status_conflict();
    })
    .await
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
