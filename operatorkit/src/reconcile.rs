//! One loop over one object: selection and pause checks, the finalizer, the
//! steps in order (or in reverse on deletion), the status, the Events, and
//! what happens after an error. Panics inside a step become an error of that
//! object only.
//!
//! # Errors
//!
//! A step's [`StepError`] stops the loop. Ready becomes False with the
//! error's reason (or the reason the step set itself), the message names the
//! step, a Warning Event carries the same reason, and
//! `operatorkit_step_errors_total{step, category}` counts it. Then:
//! - **transient**: the object is retried with per-object exponential
//!   backoff, reset by the next success;
//! - **permanent**: no retry (not even a resync) until the object or a
//!   watched child changes; the Warning Event is published once per distinct
//!   failure, not at every loop.
//!
//! # Deletion
//!
//! Modelled on kube-runtime's `finalizer` helper, for an ordered list of
//! steps.
//!
//! ## Expected flow
//! 1. A loop of a selected, unpaused object without a deletionTimestamp adds
//!    the finalizer `operatorkit.dev/<operator>` (a merge patch carrying the
//!    resourceVersion) **before** any step runs.
//! 2. The object is deleted: the API server sets its deletionTimestamp and
//!    keeps it because of the finalizer.
//! 3. Each deletion loop runs `ensure_deleted` of every step in **reverse**
//!    order. A step that returns [`Outcome::Wait`] stops the loop there: the
//!    steps before it (which the waiting one may still depend on) do not run,
//!    the finalizer stays, and the loop comes back after the wait, or sooner
//!    on a change of the object or of a watched child.
//! 4. When every step returned [`Outcome::Done`] (or `RecheckAfter`, which on
//!    deletion means the same), the finalizer is removed (and remembered, so
//!    that a loop queued meanwhile does not run the deletion again on a
//!    lagging cache), then a Normal `CleanedUp` Event is published. The API
//!    server deletes the object, and its garbage collector the children that
//!    carry its owner reference.
//!
//! ## Guarantees
//! - No step's `ensure_created` runs on an object that does not carry the
//!   finalizer, so every side effect has its cleanup owed.
//! - The finalizer is removed only by a loop in which every `ensure_deleted`
//!   returned without error and without waiting; never while a step waits or
//!   fails (transient or permanent).
//! - `ensure_created` never runs on an object being deleted, and nothing runs
//!   for an object after its finalizer was removed.
//! - At most one loop runs per object at a time (kube-runtime's
//!   `Controller`), also across the steps of a deletion.
//! - A paused or unselected object is never touched, also on deletion; the
//!   finalizer stays until it is unpaused or selected again (relabelling to
//!   another version hands the duty over: the finalizer is per operator).
//!
//! ## Caveats
//! - **A crash between two steps** (process killed, leadership lost): the
//!   next loop (after the restart's initial list) starts the deletion again
//!   from the last step. Every `ensure_deleted` must therefore be idempotent
//!   and succeed when its part is already gone.
//! - **A crash after the last `ensure_deleted` and before the finalizer
//!   write**: the next loop runs every `ensure_deleted` again, then removes the
//!   finalizer.
//! - **A finalizer removed by hand**: no `ensure_deleted` runs; external
//!   state (a Vault mount, a DNS record) is left behind. Children with owner
//!   references are still garbage-collected.
//! - **An object deleted before its first loop** got no finalizer and no
//!   `ensure_created` ran: nothing is owed, nothing runs.
//! - A step that waits forever keeps the object forever: say why in a
//!   condition (`cx.not_ready("WaitingForPods", ..)`) so that users see it.

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
use crate::context::{Context, Parts};
use crate::events::Events;
use crate::finalizer::{self, FinalizerError};
use crate::keys::is_paused;
use crate::kind::OperatorKind;
use crate::metrics::{Metrics, ReconcileResult};
use crate::operator::Operator;
use crate::status::{self, READY, StatusChanges, StatusError, condition, reasons};
use crate::step::{Category, Outcome, Step, StepError, earliest};
use crate::watch::Pending;
use crate::writes::{Resolved, Writes};

/// Why a loop failed; the object is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A step returned a transient error.
    #[error("step {step}: {error}")]
    Step {
        /// The step's name.
        step: String,
        /// Its error.
        error: StepError,
    },
    /// A step panicked.
    #[error("step {step} panicked: {message}")]
    Panic {
        /// The step's name (or `operatorkit` for a panic outside steps).
        step: String,
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

/// Everything a loop needs, shared by the loops of one controller run.
pub(crate) struct Env<K: OperatorKind> {
    pub operator: Arc<Operator<K>>,
    pub client: Client,
    pub metrics: Metrics,
    pub events: Events,
    pub backoff: Arc<Backoff<ObjectRef<K>>>,
    pub caches: Caches,
    pub writes: Arc<Writes>,
    pub pending: Pending<K>,
    /// True once every cache (the kind's and each child kind's) has listed.
    pub caches_listed: tokio::sync::watch::Receiver<bool>,
}

impl<K: OperatorKind> Env<K> {
    /// Waits until every cache has listed once; false if the controller
    /// stops first. A loop that read a child cache before its first list
    /// would take "not there" for the truth and act on it (issue a second
    /// certificate, create a second VM): as controller-runtime waits for
    /// its caches to sync before any worker starts, no loop runs before.
    async fn caches_listed(&self) -> bool {
        self.caches_listed.clone().wait_for(|l| *l).await.is_ok()
    }
}

/// How a loop ended, when it did not fail with a retryable error.
enum End {
    /// Look again after at most this long (else after the resync period).
    Requeue(Option<Duration>),
    /// A permanent error: look again only when something changes.
    AwaitChange,
}

/// The reconcile function handed to kube-runtime's `Controller`.
pub(crate) async fn reconcile<K: OperatorKind>(
    object: Arc<K>,
    env: Arc<Env<K>>,
) -> Result<Action, ReconcileError> {
    if !env.caches_listed().await {
        return Ok(Action::await_change());
    }
    let key = ObjectRef::from_obj(object.as_ref());
    env.pending.remove(&key);
    let _active = env.metrics.reconcile_started();
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        controller = %env.operator.name,
        object = %object.name_any(),
        namespace = %object.namespace().unwrap_or_default(),
    );
    // Debug lines bracketing the loop, in its span (controller, object,
    // namespace): who reconciled what when, for a person reading the logs
    // and for the system's upgrade test. A loop that panics ends too.
    let bracketed = async {
        tracing::debug!("loop started");
        let result = AssertUnwindSafe(run(object, &env))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(ReconcileError::Panic {
                    step: "operatorkit".into(),
                    message: panic_message(panic.as_ref()),
                })
            });
        tracing::debug!(ok = result.is_ok(), "loop ended");
        result
    };
    let result = bracketed.instrument(span).await;
    let (result, action) = match result {
        Ok(End::Requeue(requeue)) => {
            env.backoff.succeeded(&key);
            let resync = env.operator.resync;
            let outcome = match requeue {
                Some(_) => ReconcileResult::Requeue,
                None => ReconcileResult::Success,
            };
            (
                outcome,
                Ok(Action::requeue(requeue.map_or(resync, |r| r.min(resync)))),
            )
        }
        Ok(End::AwaitChange) => {
            env.backoff.succeeded(&key);
            (ReconcileResult::Permanent, Ok(Action::await_change()))
        }
        Err(e @ ReconcileError::Panic { .. }) => (ReconcileResult::Panic, Err(e)),
        Err(e) => (ReconcileResult::Error, Err(e)),
    };
    env.metrics.reconcile_finished(result, started.elapsed());
    action
}

/// The error policy handed to kube-runtime's `Controller`: per-object
/// exponential backoff.
pub(crate) fn error_policy<K: OperatorKind>(
    object: Arc<K>,
    error: &ReconcileError,
    env: Arc<Env<K>>,
) -> Action {
    let key = ObjectRef::from_obj(object.as_ref());
    let delay = env.backoff.failed(key.clone());
    tracing::warn!(
        controller = %env.operator.name,
        object = %object.name_any(),
        namespace = %object.namespace().unwrap_or_default(),
        error = %error,
        failures = env.backoff.failures(&key),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// One loop.
async fn run<K: OperatorKind>(object: Arc<K>, env: &Env<K>) -> Result<End, ReconcileError> {
    let operator = &env.operator;
    if !operator.selects(&object) {
        tracing::debug!("not labelled for this version; left alone");
        return Ok(End::Requeue(None));
    }
    if is_paused(object.as_ref()) {
        tracing::info!("paused; left alone");
        return Ok(End::Requeue(None));
    }
    let api: Api<K> = Api::namespaced(env.client.clone(), &object.namespace().unwrap_or_default());
    let object = fresher(object, env);
    if object.meta().deletion_timestamp.is_some() {
        return delete(object, env, &api).await;
    }
    let finalizer = operator.name.finalizer();
    let Some(added) = finalizer::add(&api, object.as_ref(), &finalizer).await? else {
        // Deleted meanwhile: the deletion triggers the next loop.
        return Ok(End::Requeue(None));
    };
    if added.resource_version() != object.resource_version() {
        env.writes.wrote(&added);
    }
    let object = added;
    let cx = context(Arc::new(object), env);
    let mut requeue = None;
    for step in &operator.steps {
        match run_step(step.as_ref(), &cx, Operation::Create, env).await {
            Ok(outcome) => {
                requeue = earliest(requeue, outcome.recheck());
                if outcome.is_wait() {
                    return finish(&cx, &api, env, Some(step.name()), requeue).await;
                }
            }
            Err(failure) => return failed(&cx, &api, env, failure, Operation::Create).await,
        }
    }
    finish(&cx, &api, env, None, requeue).await
}

/// The end of a creation loop that did not fail: Ready (True, or False
/// InProgress when `waiting_on` a step, unless a step said otherwise), the
/// status write, and the Ready Event on the transition.
async fn finish<K: OperatorKind>(
    cx: &Context<K>,
    api: &Api<K>,
    env: &Env<K>,
    waiting_on: Option<&str>,
    requeue: Option<Duration>,
) -> Result<End, ReconcileError> {
    let mut changes = cx.take_changes();
    if changes.condition(READY).is_none() {
        changes.set_condition(match waiting_on {
            None => condition(READY).is(true).because(reasons::RECONCILED),
            Some(step) => condition(READY)
                .is(false)
                .because(reasons::IN_PROGRESS)
                .message(format!("step {step} is not finished")),
        });
    }
    let now_ready = changes.condition(READY).is_some_and(|c| c.is_true());
    // Judged on the freshest status read: a loop on a stale cached object must
    // not announce a transition that already happened.
    let written = write_status(api, cx.object(), &changes, env).await?;
    let was_ready = written.previous(READY).is_some_and(|c| c.status == "True");
    if now_ready && !was_ready {
        cx.event(EventType::Normal, READY, "all steps reconciled")
            .await;
    }
    Ok(End::Requeue(requeue))
}

/// A step failed: say so in the status and an Event, then end the loop as
/// the error's category says.
async fn failed<K: OperatorKind>(
    cx: &Context<K>,
    api: &Api<K>,
    env: &Env<K>,
    failure: Failure,
    operation: Operation,
) -> Result<End, ReconcileError> {
    let mut changes = cx.take_changes();
    let (category, reason, message) = failure.describe(operation);
    // A step that said why it is not Ready (BackendUnavailable, ...) keeps
    // its reason; otherwise the error's is used.
    let reason = match changes.condition(READY) {
        Some(c) if !c.is_true() => c.reason().to_owned(),
        _ => {
            let ready = condition(READY)
                .is(false)
                .because(&reason)
                .message(&message);
            changes.set_condition(ready);
            reason
        }
    };
    let ready_message = changes
        .condition(READY)
        .map_or(message.clone(), |c| c.message_text().to_owned());
    let written = write_status(api, cx.object(), &changes, env).await;
    let repeated = written.as_ref().is_ok_and(|w| {
        w.previous(READY).is_some_and(|c| {
            c.status == "False" && c.reason == reason && c.message == ready_message
        })
    });
    if category != Some(Category::Permanent) || !repeated {
        cx.event(EventType::Warning, &reason, &message).await;
    }
    if let Err(status) = written {
        if category == Some(Category::Permanent) {
            // Not waiting for a change that may never come while the status
            // does not say why: retried with backoff until it does.
            return Err(ReconcileError::Status(status));
        }
        // Retried anyway: the step's error is what matters, the failed
        // status write on top of it is logged.
        tracing::warn!(error = %status, "could not record the failure in the status");
    }
    match failure {
        Failure::Step { step, error } if error.category() == Category::Permanent => {
            tracing::warn!(step, error = %error, reason, "permanent error; waiting for a change of the object");
            Ok(End::AwaitChange)
        }
        Failure::Step { step, error } => Err(ReconcileError::Step { step, error }),
        Failure::Panic { step, message } => Err(ReconcileError::Panic { step, message }),
    }
}

/// The deletion loop: steps in reverse, then the finalizer.
async fn delete<K: OperatorKind>(
    object: Arc<K>,
    env: &Env<K>,
    api: &Api<K>,
) -> Result<End, ReconcileError> {
    let finalizer = env.operator.name.finalizer();
    if !object.finalizers().contains(&finalizer) {
        return Ok(End::Requeue(None));
    }
    let cx = context(object, env);
    for step in env.operator.steps.iter().rev() {
        match run_step(step.as_ref(), &cx, Operation::Delete, env).await {
            Ok(Outcome::Wait(after)) => {
                tracing::info!(step = step.name(), recheck_in = ?after, "finalizer kept");
                write_changes(api, &cx, env).await?;
                return Ok(End::Requeue(Some(after)));
            }
            Ok(Outcome::Done | Outcome::RecheckAfter(_)) => {}
            Err(failure) => return failed(&cx, api, env, failure, Operation::Delete).await,
        }
    }
    write_changes(api, &cx, env).await?;
    // Remembered, so that a loop queued meanwhile (by a child deleted just
    // now) does not see the finalizer in a lagging cache and run again.
    if let Some(released) = finalizer::remove(api, cx.object(), &finalizer).await? {
        env.writes.wrote(&released);
    }
    tracing::info!("finalizer removed");
    cx.event(
        EventType::Normal,
        "CleanedUp",
        "every step deleted; finalizer removed",
    )
    .await;
    Ok(End::Requeue(None))
}

/// Writes what the steps of a deletion loop set, if anything.
async fn write_changes<K: OperatorKind>(
    api: &Api<K>,
    cx: &Context<K>,
    env: &Env<K>,
) -> Result<(), ReconcileError> {
    let changes = cx.take_changes();
    if !changes.is_empty() {
        write_status(api, cx.object(), &changes, env).await?;
    }
    Ok(())
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

/// A step that did not finish: its error, or its panic.
enum Failure {
    Step { step: String, error: StepError },
    Panic { step: String, message: String },
}

impl Failure {
    /// The category (none for a panic), the reason and the message of the
    /// Ready condition and the Event.
    fn describe(&self, operation: Operation) -> (Option<Category>, String, String) {
        match self {
            Self::Step { step, error } => {
                let reason = match (error.reason_given(), operation) {
                    (Some(r), _) => r.to_owned(),
                    (None, Operation::Delete) => match error.category() {
                        Category::Transient => reasons::DELETION_FAILED.to_owned(),
                        Category::Permanent => reasons::DELETION_REJECTED.to_owned(),
                    },
                    (None, Operation::Create) => error.reason_or_default().to_owned(),
                };
                (
                    Some(error.category()),
                    reason,
                    format!("step {step}: {error}"),
                )
            }
            Self::Panic { step, message } => (
                None,
                reasons::RECONCILE_FAILED.to_owned(),
                format!("step {step} panicked: {message}"),
            ),
        }
    }
}

/// Runs one step, timing it and turning its error or panic into a
/// [`Failure`] that names it.
async fn run_step<K: OperatorKind>(
    step: &dyn Step<K>,
    cx: &Context<K>,
    operation: Operation,
    env: &Env<K>,
) -> Result<Outcome, Failure> {
    let name = step.name();
    let span = tracing::debug_span!("step", step = name, operation = operation.as_str());
    let started = Instant::now();
    let call = async {
        match operation {
            Operation::Create => step.ensure_created(cx).await,
            Operation::Delete => step.ensure_deleted(cx).await,
        }
    };
    let result = AssertUnwindSafe(call.instrument(span)).catch_unwind().await;
    env.metrics
        .step_operation(name, operation.as_str(), started.elapsed());
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(error)) => {
            env.metrics.step_error(name, error.category().as_str());
            Err(Failure::Step {
                step: name.to_owned(),
                error,
            })
        }
        Err(panic) => {
            env.metrics.step_error(name, "panic");
            Err(Failure::Panic {
                step: name.to_owned(),
                message: panic_message(panic.as_ref()),
            })
        }
    }
}

/// `object` as the cache delivered it, or, when this operator wrote it
/// since (its finalizer, its status) and the cache does not show that yet,
/// as written: a loop right after a write neither writes the same status
/// again on a stale resourceVersion (a 409 and a re-read) nor misses it.
fn fresher<K: OperatorKind>(object: Arc<K>, env: &Env<K>) -> Arc<K> {
    let Some(progress) = env.caches.progress::<K>() else {
        return object;
    };
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    match env
        .writes
        .resolve(&namespace, &name, Some(object.clone()), progress.applied())
    {
        Resolved::Known(Some(fresher)) => fresher,
        Resolved::Known(None) | Resolved::Unknown => object,
    }
}

fn context<K: OperatorKind>(object: Arc<K>, env: &Env<K>) -> Context<K> {
    Context::new(
        object,
        Parts {
            client: env.client.clone(),
            operator: env.operator.name.clone(),
            caches: env.caches.clone(),
            writes: env.writes.clone(),
            events: env.events.clone(),
        },
    )
}

async fn write_status<K: OperatorKind>(
    api: &Api<K>,
    object: &K,
    changes: &StatusChanges<K::Status>,
    env: &Env<K>,
) -> Result<status::StatusWrite<K>, StatusError> {
    let written = status::write_status(api, object, changes, env.operator.name.as_str(), || {
        env.metrics.status_conflict();
    })
    .await?;
    if let Some(object) = &written.written {
        env.writes.wrote(object);
    }
    Ok(written)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
