//! WATCH: a stream of ADDED / MODIFIED / DELETED / BOOKMARK / ERROR events for
//! one resource, read lazily from the store's log.
//!
//! The stream is pulled by the HTTP connection: a slow client only lags its own
//! cursor, never a writer or another watcher. When it lags past the retained
//! history it receives `ERROR` 410 and the stream ends, as with kube-apiserver.
//! An object that starts matching the selectors arrives as ADDED, one that stops
//! matching as DELETED (carrying its previous state).

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;

use crate::error::ApiResult;
use crate::resources::ResourceType;
use crate::rest::options::ListOptions;
use crate::rest::{Filter, convert};
use crate::store::{EventKind, ObjectKey, Store};

/// Annotation on the BOOKMARK that ends the initial events of a
/// `sendInitialEvents=true` watch.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Tuning of watches.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Longest a watch runs when the client sets no `timeoutSeconds`.
    pub default_timeout: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
            default_timeout: Duration::from_secs(1800),
        }
    }
}

/// How many events of the store's log a watch reads at once.
const BATCH: usize = 512;

/// A watch being served.
struct Watcher {
    store: Arc<Store>,
    rt: Arc<ResourceType>,
    filter: Filter,
    cursor: u64,
    pending: std::collections::VecDeque<Value>,
    revision_rx: tokio_watch::Receiver<u64>,
    shutdown: tokio_watch::Receiver<bool>,
    bookmarks: bool,
    next_bookmark: Instant,
    bookmark_interval: Duration,
    deadline: Instant,
    done: bool,
}

/// Starts a watch of `rt` in `ns` as a stream of watch-event JSON objects.
pub fn watch(
    store: Arc<Store>,
    rt: Arc<ResourceType>,
    ns: Option<&str>,
    opts: &ListOptions,
    config: WatchConfig,
    shutdown: tokio_watch::Receiver<bool>,
) -> ApiResult<impl Stream<Item = Value> + Send + use<>> {
    let mut opts = opts.clone();
    opts.watch = true;
    opts.validate()?;
    let opts = &opts;
    let filter = Filter::new(&rt, ns, opts)?;
    let requested = opts.resource_version()?;
    let send_initial = match opts.send_initial_events {
        Some(send) => send,
        // Legacy semantics: no or "0" resourceVersion starts with the current state.
        None => matches!(requested, None | Some(0)),
    };
    let revision_rx = store.subscribe_revision();
    let mut pending = std::collections::VecDeque::new();
    let cursor;
    let mut expired = None;
    if send_initial {
        let storage = rt.storage_key();
        let (rv, items) = store.read(|s| (s.revision(), s.list(&storage, filter.namespace())));
        for (key, stored) in items {
            let obj = convert::from_storage(&rt, &stored);
            if filter.matches(&key, &obj) {
                pending.push_back(json!({"type": "ADDED", "object": obj}));
            }
        }
        if opts.send_initial_events == Some(true) {
            pending.push_back(bookmark(&rt, rv, true));
        }
        cursor = rv.max(requested.unwrap_or(0));
    } else {
        let rv = requested.unwrap_or(0);
        if let Err(e) = store.events_after(rv, 0) {
            expired = Some(e);
        }
        cursor = rv;
    }
    if let Some(e) = expired {
        pending.push_back(json!({"type": "ERROR", "object": e.to_status()}));
    }
    let now = Instant::now();
    let timeout = opts
        .timeout_seconds
        .map_or(config.default_timeout, Duration::from_secs);
    let done = pending.back().is_some_and(|e| e["type"] == "ERROR");
    let watcher = Watcher {
        store,
        rt,
        filter,
        cursor,
        pending,
        revision_rx,
        shutdown,
        bookmarks: opts.allow_bookmarks,
        next_bookmark: now + config.bookmark_interval,
        bookmark_interval: config.bookmark_interval,
        deadline: now + timeout,
        done,
    };
    Ok(futures::stream::unfold(watcher, |mut w| async move {
        w.next().await.map(|event| (event, w))
    }))
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
    }
    json!({
        "type": "BOOKMARK",
        "object": {"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": metadata},
    })
}

impl Watcher {
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            let more = self.fill();
            if more || !self.pending.is_empty() {
                continue;
            }
            let now = Instant::now();
            if now >= self.deadline || *self.shutdown.borrow() {
                return None;
            }
            if self.bookmarks && now >= self.next_bookmark {
                self.next_bookmark = now + self.bookmark_interval;
                return Some(bookmark(&self.rt, self.cursor, false));
            }
            let wake = if self.bookmarks {
                self.deadline.min(self.next_bookmark)
            } else {
                self.deadline
            };
            tokio::select! {
                changed = self.revision_rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.shutdown.changed() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Moves matching events after the cursor into `pending`, at most a
    /// batch of [`BATCH`] read; returns whether the batch was full, so that
    /// more may follow at once. (A full batch of other resources' events
    /// leaves `pending` empty: waiting for the next write then would leave
    /// this watch behind until some other write happens, maybe never.)
    fn fill(&mut self) -> bool {
        let events = match self.store.events_after(self.cursor, BATCH) {
            Ok(events) => events,
            Err(e) => {
                self.pending
                    .push_back(json!({"type": "ERROR", "object": e.to_status()}));
                self.done = true;
                return false;
            }
        };
        let full = events.len() == BATCH;
        let storage = self.rt.storage_key();
        for event in events {
            self.cursor = event.rv;
            if event.storage != storage {
                continue;
            }
            if let Some(e) = self.convert(
                &event.key,
                event.kind,
                &event.object,
                event.prev.as_deref(),
                event.rv,
            ) {
                self.pending.push_back(e);
            }
        }
        full
    }

    /// The event a watcher with this filter sees, as kube-apiserver's watch
    /// cache computes it from the object before and after.
    fn convert(
        &self,
        key: &ObjectKey,
        kind: EventKind,
        object: &Value,
        prev: Option<&Value>,
        rv: u64,
    ) -> Option<Value> {
        let cur = convert::from_storage(&self.rt, object);
        let cur_passes = kind != EventKind::Deleted && self.filter.matches(key, &cur);
        let prev = prev.map(|p| convert::from_storage(&self.rt, p));
        let prev_passes = prev.as_ref().is_some_and(|p| self.filter.matches(key, p));
        match (cur_passes, prev_passes) {
            (true, false) => Some(json!({"type": "ADDED", "object": cur})),
            (true, true) => Some(json!({"type": "MODIFIED", "object": cur})),
            (false, true) => {
                let mut last = if kind == EventKind::Deleted {
                    cur
                } else {
                    prev.unwrap_or(cur)
                };
                crate::meta::set_resource_version(&mut last, rv);
                Some(json!({"type": "DELETED", "object": last}))
            }
            (false, false) => None,
        }
    }
}
