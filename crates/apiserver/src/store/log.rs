//! The bounded log of change events behind watches and old-revision reads.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{ObjectKey, StorageKey, Stored};
use crate::error::{ApiError, ApiResult};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    /// Revision of the change.
    pub(crate) rv: u64,
    /// What happened.
    pub(crate) kind: EventKind,
    /// Collection of the object.
    pub(crate) storage: StorageKey,
    /// The object's key.
    pub(crate) key: ObjectKey,
    /// The object after the change (for a deletion: its last state, carrying the
    /// deletion's resourceVersion).
    pub(crate) object: Stored,
    /// The object before the change, if it existed.
    pub(crate) prev: Option<Stored>,
}

/// Events in revision order, at most `capacity` of them.
pub(super) struct Log {
    events: VecDeque<Arc<Event>>,
    capacity: usize,
    /// Revision before the oldest retained event: a watch or snapshot from this
    /// revision on can be served.
    floor: u64,
}

impl Log {
    pub(super) fn new(capacity: usize, revision: u64) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            floor: revision,
        }
    }

    pub(super) fn push(&mut self, event: Event) {
        if self.events.len() == self.capacity
            && let Some(oldest) = self.events.pop_front()
        {
            self.floor = oldest.rv;
        }
        self.events.push_back(Arc::new(event));
    }

    /// Takes back the events after `rv` (a write that was undone).
    pub(super) fn pop_after(&mut self, rv: u64) {
        while self.events.back().is_some_and(|e| e.rv > rv) {
            self.events.pop_back();
        }
    }

    /// Oldest revision from which history can be served.
    pub(super) fn oldest_servable(&self) -> u64 {
        self.floor
    }

    /// Events with revision greater than `rv` (the caller checked `rv` is servable).
    pub(super) fn since(&self, rv: u64) -> Vec<Arc<Event>> {
        let start = self.events.partition_point(|e| e.rv <= rv);
        self.events.range(start..).cloned().collect()
    }

    /// At most `max` events after `rv`, or 410 if they were trimmed.
    pub(super) fn after(&self, rv: u64, max: usize) -> ApiResult<Vec<Arc<Event>>> {
        if rv < self.floor {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                self.floor
            )));
        }
        let start = self.events.partition_point(|e| e.rv <= rv);
        Ok(self.events.range(start..).take(max).cloned().collect())
    }
}
