//! The unit an operator is made of: a [`Step`] brings one part of the world
//! in line with the object (`ensure_created`) and takes it away again
//! (`ensure_deleted`); it tells the loop what happened with an [`Outcome`]
//! or a [`StepError`] whose [`Category`] says whether retrying can help.
//!
//! Steps run in order on creation and in reverse order on deletion; see
//! [`crate::reconcile`] for the whole loop and the deletion path's
//! guarantees.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::context::Context;
use crate::kind::OperatorKind;

/// One step of an operator.
///
/// Both methods must be idempotent: they run on every loop (after a crash,
/// again), and a steady state should make no writes (the [`crate::crud`]
/// helper guarantees it).
#[async_trait]
pub trait Step<K: OperatorKind>: Send + Sync + 'static {
    /// A short name, unique within the operator (`secret`, `vault-role`);
    /// used in logs, metrics, conditions and Events.
    fn name(&self) -> &str;

    /// Brings this part of the world in line with the object.
    async fn ensure_created(&self, cx: &Context<K>) -> Result<Outcome, StepError>;

    /// Removes what `ensure_created` made. Runs when the object is being
    /// deleted, in reverse step order.
    async fn ensure_deleted(&self, cx: &Context<K>) -> Result<Outcome, StepError>;
}

/// What a step tells the loop after it ran. The same three values mean the
/// same thing on creation and on deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// This step is finished; the next one runs.
    Done,
    /// This step is finished for now and the next one runs; the object is
    /// reconciled again after at most this long (the earliest of all steps'
    /// wins; a certificate's renewal time, say). On deletion it is the same
    /// as [`Outcome::Done`]: once every step is done the finalizer goes and
    /// there is nothing left to recheck.
    RecheckAfter(Duration),
    /// This step is not finished (it waits for something: an input that is
    /// not there yet, pods that still run): no later step runs in this loop,
    /// and the loop runs again after this long, or sooner when the object or
    /// a watched child changes. On creation the object is not Ready
    /// (`InProgress`, unless the step set its own Ready reason); on deletion
    /// the finalizer stays.
    Wait(Duration),
}

impl Outcome {
    /// The recheck this outcome asks for, if any.
    pub const fn recheck(self) -> Option<Duration> {
        match self {
            Self::Done => None,
            Self::RecheckAfter(d) | Self::Wait(d) => Some(d),
        }
    }

    /// Whether the step is not finished.
    pub const fn is_wait(self) -> bool {
        matches!(self, Self::Wait(_))
    }
}

/// The earlier of two optional delays.
pub(crate) fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Any error, boxed: what a [`StepError`] carries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether retrying can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The world may change (an API or a backend is down, a conflict): the
    /// object is retried with exponential backoff.
    Transient,
    /// Retrying cannot help until someone changes something (a spec the
    /// schema let through but that cannot be satisfied): the object is not
    /// retried until it or a watched child changes.
    Permanent,
}

impl Category {
    /// The metric label value: `transient` or `permanent`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }

    /// The Ready reason (and Event reason) of an error of this category that
    /// names none: `ReconcileFailed` or `ReconcileRejected`.
    pub const fn default_reason(self) -> &'static str {
        match self {
            Self::Transient => crate::status::reasons::RECONCILE_FAILED,
            Self::Permanent => crate::status::reasons::RECONCILE_REJECTED,
        }
    }
}

/// The error a step returns: the cause, its [`Category`] and, optionally, the
/// reason that goes into the Ready condition and the Warning Event.
///
/// Every `std::error::Error` converts into a transient one, so `?` works on
/// kube, I/O and client errors; say [`StepError::permanent`] for input that
/// retrying cannot fix.
pub struct StepError {
    category: Category,
    reason: Option<Cow<'static, str>>,
    source: BoxError,
}

impl StepError {
    /// A transient error: retried with backoff.
    pub fn transient(source: impl Into<BoxError>) -> Self {
        Self {
            category: Category::Transient,
            reason: None,
            source: source.into(),
        }
    }

    /// A permanent error: Ready False, one Warning Event, no retry until the
    /// object or a watched child changes.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self {
            category: Category::Permanent,
            reason: None,
            source: source.into(),
        }
    }

    /// The reason of the Ready condition and of the Event (one CamelCase
    /// word, e.g. `InvalidSpec`, `BackendUnavailable`).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Whether retrying can help.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The reason given, or the category's default.
    pub fn reason_or_default(&self) -> &str {
        self.reason
            .as_deref()
            .unwrap_or(self.category.default_reason())
    }

    /// The reason given with [`StepError::reason`], if any.
    pub fn reason_given(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The cause.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.source.as_ref()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        Self::transient(e)
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepError")
            .field("category", &self.category)
            .field("reason", &self.reason_or_default())
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rechecks() {
        let s = Duration::from_secs;
        assert_eq!(Outcome::Done.recheck(), None);
        assert_eq!(Outcome::RecheckAfter(s(3)).recheck(), Some(s(3)));
        assert_eq!(Outcome::Wait(s(2)).recheck(), Some(s(2)));
        assert!(Outcome::Wait(s(2)).is_wait());
        assert!(!Outcome::RecheckAfter(s(2)).is_wait());
        assert_eq!(earliest(Some(s(5)), Some(s(2))), Some(s(2)));
        assert_eq!(earliest(None, Some(s(2))), Some(s(2)));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn errors_carry_category_and_reason() {
        let io = std::io::Error::other("disk on fire");
        let e: StepError = io.into();
        assert_eq!(e.category(), Category::Transient);
        assert_eq!(e.reason_or_default(), "ReconcileFailed");
        assert_eq!(e.to_string(), "disk on fire");
        let p = StepError::permanent("no such thing").reason("InvalidSpec");
        assert_eq!(p.category(), Category::Permanent);
        assert_eq!(p.reason_or_default(), "InvalidSpec");
        assert_eq!(
            StepError::permanent("x").reason_or_default(),
            "ReconcileRejected"
        );
    }
}
