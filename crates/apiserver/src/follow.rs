//! The one loop in which the server's own controllers follow the store's
//! event log: garbage collection and namespace/CRD cleanup
//! (`controllers`), quota counts (`quota`) and what a cluster publishes
//! (`publish`). Each change wakes the loop once, whatever the number of
//! followers; each follower sees every change in order, catches up from the
//! current state after falling behind the log, and may act on a timer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::store::{Event, Store};

/// Events read from the log at a time.
const BATCH: usize = 1024;

/// Something that follows the event log.
pub(crate) trait Follower: Send {
    /// Looks at the whole current state: at the start, and after the log
    /// moved past what the follower had seen. A change may then also arrive
    /// through [`Follower::observe`]; followers act idempotently.
    fn resync(&mut self);
    /// Sees one change.
    fn observe(&mut self, e: &Event);
    /// Acts on what a batch of changes left to do.
    fn settle(&mut self) {}
    /// Acts on the timer, whether or not anything changed.
    fn tick(&mut self) {}
}

/// Runs `followers` until `shutdown` turns true, ticking every `tick`.
pub(crate) async fn run(
    store: Arc<Store>,
    mut followers: Vec<Box<dyn Follower>>,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = store.subscribe_revision();
    let mut timer = tokio::time::interval(tick);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer.reset();
    let mut cursor = resync(&store, &mut followers);
    loop {
        cursor = catch_up(&store, cursor, &mut followers);
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = timer.tick() => followers.iter_mut().for_each(|f| f.tick()),
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Every follower looks at the current state; returns the revision to
/// follow the log from (read first, so nothing after it is missed).
fn resync(store: &Store, followers: &mut [Box<dyn Follower>]) -> u64 {
    let cursor = store.revision();
    for f in followers.iter_mut() {
        f.resync();
        f.settle();
    }
    cursor
}

/// Hands every event after `cursor` to the followers, batch by batch;
/// returns the new cursor.
fn catch_up(store: &Store, mut cursor: u64, followers: &mut [Box<dyn Follower>]) -> u64 {
    loop {
        let events = match store.events_after(cursor, BATCH) {
            Ok(events) => events,
            // Fell behind the log: look at everything again.
            Err(_) => return resync(store, followers),
        };
        let Some(last) = events.last() else {
            return cursor;
        };
        cursor = last.rv;
        for f in followers.iter_mut() {
            for e in &events {
                f.observe(e);
            }
            f.settle();
        }
    }
}
