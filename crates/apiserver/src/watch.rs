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
use crate::store::{EventKind, ObjectKey, Store, Stored, type_prefix};

/// Annotation on the BOOKMARK that ends the initial events of a
/// `sendInitialEvents=true` watch.
pub(crate) const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Tuning of watches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchConfig {
    /// How often a watch that asked for bookmarks gets one.
    pub(crate) bookmark_interval: Duration,
    /// Longest a watch runs when the client sets no `timeoutSeconds`.
    pub(crate) default_timeout: Duration,
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

/// One event of a watch.
pub(crate) enum Sent {
    /// Built as JSON.
    Built(Value),
    /// ADDED or MODIFIED with an object whose stored JSON is what the
    /// client reads, written from those bytes.
    Stored(&'static str, Stored),
}

impl Sent {
    /// The event of `kind` with `object`, from its stored bytes when it
    /// needs no conversion for `rt` (`prefix` being `rt`'s type prefix).
    fn of(rt: &ResourceType, prefix: &str, kind: &'static str, object: &Stored) -> Self {
        match convert::unconverted(rt, object, prefix) {
            Some(_) => Sent::Stored(kind, object.clone()),
            None => Sent::Built(json!({"type": kind, "object": convert::from_stored(rt, object)})),
        }
    }

    fn is_error(&self) -> bool {
        matches!(self, Sent::Built(e) if e["type"] == "ERROR")
    }

    /// The event as JSON `{"type", "object"}`.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Sent::Built(event) => event,
            Sent::Stored(kind, object) => json!({"type": kind, "object": object.value()}),
        }
    }

    /// The event as one line of a JSON watch stream.
    pub(crate) fn to_json_line(&self) -> Vec<u8> {
        match self {
            Sent::Built(event) => json_line(event),
            Sent::Stored(kind, object) => {
                format!("{{\"type\":\"{kind}\",\"object\":{}}}\n", object.json()).into_bytes()
            }
        }
    }
}

/// `event` as one line of a JSON watch stream.
pub(crate) fn json_line(event: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A watch being served.
struct Watcher {
    store: Arc<Store>,
    rt: Arc<ResourceType>,
    filter: Filter,
    cursor: u64,
    pending: std::collections::VecDeque<Sent>,
    /// How objects of `rt`'s version begin as JSON.
    prefix: String,
    revision_rx: tokio_watch::Receiver<u64>,
    shutdown: tokio_watch::Receiver<bool>,
    bookmarks: bool,
    next_bookmark: Instant,
    bookmark_interval: Duration,
    deadline: Instant,
    done: bool,
}

/// Starts a watch of `rt` in `ns` as a stream of watch-event JSON objects.
pub(crate) fn watch(
    store: Arc<Store>,
    rt: Arc<ResourceType>,
    ns: Option<&str>,
    opts: &ListOptions,
    config: WatchConfig,
    shutdown: tokio_watch::Receiver<bool>,
) -> ApiResult<impl Stream<Item = Sent> + Send + use<>> {
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
    let prefix = type_prefix(&rt.api_version(), &rt.kind);
    let (cursor, pending) = if send_initial {
        initial_events(&store, &rt, &filter, &prefix, opts, requested)
    } else {
        resumed(&store, requested)
    };
    let now = Instant::now();
    let timeout = opts
        .timeout_seconds
        .map_or(config.default_timeout, Duration::from_secs);
    let done = pending.back().is_some_and(Sent::is_error);
    let watcher = Watcher {
        store,
        rt,
        filter,
        cursor,
        pending,
        prefix,
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

/// The events a watch that starts with the current state sends first: ADDED
/// for each matching object, then (for `sendInitialEvents=true`) the
/// bookmark that ends them; with the revision the watch goes on after.
fn initial_events(
    store: &Store,
    rt: &ResourceType,
    filter: &Filter,
    prefix: &str,
    opts: &ListOptions,
    requested: Option<u64>,
) -> (u64, std::collections::VecDeque<Sent>) {
    let mut pending = std::collections::VecDeque::new();
    let storage = rt.storage_key();
    let (rv, items) = store.read(|s| (s.revision(), s.list(&storage, filter.namespace())));
    for (key, stored) in items {
        if filter.matches_stored(rt, &key, &stored) {
            pending.push_back(Sent::of(rt, prefix, "ADDED", &stored));
        }
    }
    if opts.send_initial_events == Some(true) {
        pending.push_back(Sent::Built(bookmark(rt, rv, true)));
    }
    (rv.max(requested.unwrap_or(0)), pending)
}

/// Where a watch without initial events starts (`requested`, or 0), with the
/// ERROR event it ends on if that revision is no longer in the log.
fn resumed(store: &Store, requested: Option<u64>) -> (u64, std::collections::VecDeque<Sent>) {
    let rv = requested.unwrap_or(0);
    let mut pending = std::collections::VecDeque::new();
    if let Err(e) = store.events_after(rv, 0) {
        pending.push_back(Sent::Built(
            json!({"type": "ERROR", "object": e.to_status()}),
        ));
    }
    (rv, pending)
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
    async fn next(&mut self) -> Option<Sent> {
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
                return Some(Sent::Built(bookmark(&self.rt, self.cursor, false)));
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
                self.pending.push_back(Sent::Built(
                    json!({"type": "ERROR", "object": e.to_status()}),
                ));
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
                event.prev.as_ref(),
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
        object: &Stored,
        prev: Option<&Stored>,
        rv: u64,
    ) -> Option<Sent> {
        let rt = &self.rt;
        let cur_passes = kind != EventKind::Deleted && self.filter.matches_stored(rt, key, object);
        let prev = prev.filter(|p| self.filter.matches_stored(rt, key, p));
        match (cur_passes, prev) {
            (true, None) => Some(Sent::of(rt, &self.prefix, "ADDED", object)),
            (true, Some(_)) => Some(Sent::of(rt, &self.prefix, "MODIFIED", object)),
            (false, Some(prev)) => {
                let mut last = if kind == EventKind::Deleted {
                    convert::from_stored(rt, object)
                } else {
                    convert::from_stored(rt, prev)
                };
                crate::meta::set_resource_version(&mut last, rv);
                Some(Sent::Built(json!({"type": "DELETED", "object": last})))
            }
            (false, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_written_from_stored_bytes_is_the_event_decoded() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
        let sent = Sent::Stored("MODIFIED", Stored::encode(&object));
        let line = sent.to_json_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let written: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(written, sent.into_value());
        assert_eq!(written, json!({"type": "MODIFIED", "object": object}));
    }
}
