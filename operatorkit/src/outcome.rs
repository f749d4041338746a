//! What a resource tells the loop after it ran: explicit values instead of
//! magic errors (Giant Swarm's operatorkit used cancellation contexts for this).

use std::time::Duration;

/// The result of one resource's `ensure_created` or `ensure_deleted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Done; go on with the next resource.
    Continue,
    /// This resource stops here for this loop (for example: nothing to do yet);
    /// the next resource runs.
    CancelResource,
    /// Stop this loop: no further resource runs, and the object is not marked
    /// Ready. With `requeue_after`, the object is reconciled again after at most
    /// that long; otherwise at the next change or resync.
    CancelLoop {
        /// When to look again.
        requeue_after: Option<Duration>,
    },
    /// Go on with the next resource, and reconcile this object again after at
    /// most this long (the earliest of all requests wins). On deletion it also
    /// keeps the finalizer: the resource is not finished.
    RequeueAfter(Duration),
    /// On deletion: the finalizer stays (the object is not released) and the
    /// object is checked again after this long, or earlier on a change of a
    /// watched object. The next resources still run. On creation it means
    /// [`Outcome::Continue`].
    KeepFinalizer(Duration),
}

impl Outcome {
    /// [`Outcome::CancelLoop`] without a requeue.
    pub const fn cancel_loop() -> Self {
        Self::CancelLoop {
            requeue_after: None,
        }
    }

    /// [`Outcome::CancelLoop`] that looks again after `after`.
    pub const fn cancel_loop_requeue(after: Duration) -> Self {
        Self::CancelLoop {
            requeue_after: Some(after),
        }
    }

    /// Whether the loop stops after this outcome.
    pub const fn stops_loop(self) -> bool {
        matches!(self, Self::CancelLoop { .. })
    }

    /// The requeue this outcome asks for, if any.
    pub const fn requeue_after(self) -> Option<Duration> {
        match self {
            Self::CancelLoop { requeue_after } => requeue_after,
            Self::RequeueAfter(d) | Self::KeepFinalizer(d) => Some(d),
            Self::Continue | Self::CancelResource => None,
        }
    }

    /// Whether, on deletion, this outcome keeps the finalizer.
    pub const fn keeps_finalizer(self) -> bool {
        matches!(
            self,
            Self::KeepFinalizer(_) | Self::RequeueAfter(_) | Self::CancelLoop { .. }
        )
    }
}

/// The earlier of two optional requeue delays.
pub(crate) fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeues_and_finalizer_rules() {
        let s = Duration::from_secs;
        assert_eq!(Outcome::Continue.requeue_after(), None);
        assert_eq!(Outcome::RequeueAfter(s(3)).requeue_after(), Some(s(3)));
        assert_eq!(Outcome::cancel_loop().requeue_after(), None);
        assert_eq!(
            Outcome::cancel_loop_requeue(s(2)).requeue_after(),
            Some(s(2))
        );
        assert!(Outcome::cancel_loop().stops_loop());
        assert!(!Outcome::CancelResource.stops_loop());
        assert!(Outcome::KeepFinalizer(s(1)).keeps_finalizer());
        assert!(Outcome::RequeueAfter(s(1)).keeps_finalizer());
        assert!(!Outcome::Continue.keeps_finalizer());
        assert!(!Outcome::CancelResource.keeps_finalizer());
        assert_eq!(earliest(Some(s(5)), Some(s(2))), Some(s(2)));
        assert_eq!(earliest(None, Some(s(2))), Some(s(2)));
        assert_eq!(earliest(None, None), None);
    }
}
