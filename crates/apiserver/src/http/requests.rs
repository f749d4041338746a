//! What the server keeps of the requests it served, for tests that assert
//! how a client behaved: counts by user agent, verb and resource, and (once
//! asked) every successful write in the order it was committed, with its
//! field manager and object.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One successful write (not a dry run), kept once
/// [`RequestCounter::start_recording_writes`] was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The client's User-Agent: names the process (operatorkit sends
    /// `<operator>/<version> (<instance>)`).
    pub user_agent: String,
    /// The field manager the server recorded the write under
    /// (`fieldManager`, else the User-Agent's first word); `None` for a
    /// delete, which manages no field.
    pub field_manager: Option<String>,
    /// `create`, `update`, `patch` or `delete`.
    pub verb: &'static str,
    /// `<resource>` or `<resource>/<subresource>`.
    pub resource: String,
    /// The object's namespace; `None` for a cluster-scoped one.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

/// Counts of requests, by user agent, verb and resource, and the writes
/// kept once asked.
#[derive(Default)]
pub struct RequestCounter {
    /// By (user agent, verb, resource); the resource is `<resource>` or
    /// `<resource>/<subresource>`, "" for a non-resource path.
    counts: Mutex<HashMap<(String, String, String), u64>>,
    total: AtomicU64,
    /// `None` until recording starts: a long-running server keeps no log.
    writes: Mutex<Option<Vec<Write>>>,
}

impl RequestCounter {
    pub(super) fn record(&self, user_agent: &str, verb: &str, resource: String) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *lock(&self.counts)
            .entry((user_agent.to_owned(), verb.to_owned(), resource))
            .or_default() += 1;
    }

    /// Keeps `write` if recording.
    pub(super) fn wrote(&self, write: impl FnOnce() -> Write) {
        if let Some(log) = lock(&self.writes).as_mut() {
            log.push(write());
        }
    }

    /// Starts keeping every successful write (tests); the log grows with
    /// every write from then on.
    pub fn start_recording_writes(&self) {
        lock(&self.writes).get_or_insert_with(Vec::new);
    }

    /// The writes kept since recording started, oldest first.
    pub fn writes(&self) -> Vec<Write> {
        lock(&self.writes).clone().unwrap_or_default()
    }

    /// Requests so far whose User-Agent starts with `prefix`, by verb.
    pub fn by_user_agent(&self, prefix: &str) -> HashMap<String, u64> {
        let mut out = HashMap::new();
        for ((verb, _), n) in self.by_user_agent_and_resource(prefix) {
            *out.entry(verb).or_default() += n;
        }
        out
    }

    /// Requests so far whose User-Agent starts with `prefix`, by verb and
    /// resource (`<resource>` or `<resource>/<subresource>`; "" for a
    /// non-resource path such as `/version`).
    pub fn by_user_agent_and_resource(&self, prefix: &str) -> HashMap<(String, String), u64> {
        let mut out = HashMap::new();
        for ((ua, verb, resource), n) in lock(&self.counts).iter() {
            if ua.starts_with(prefix) {
                *out.entry((verb.clone(), resource.clone())).or_default() += n;
            }
        }
        out
    }

    /// Every request so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A poisoned lock still holds whole entries: every update is one statement.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `<resource>` or `<resource>/<subresource>` of a request; "" for a path.
pub(super) fn resource_of(attributes: &crate::authz::Attributes) -> String {
    match &attributes.target {
        crate::authz::Target::Resource(r) if r.subresource.is_empty() => r.resource.clone(),
        crate::authz::Target::Resource(r) => format!("{}/{}", r.resource, r.subresource),
        crate::authz::Target::Path(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str) -> Write {
        Write {
            user_agent: "op/1 (a)".into(),
            field_manager: Some("op".into()),
            verb: "patch",
            resource: "configmaps".into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn writes_are_kept_in_order_only_once_recording_started() {
        let c = RequestCounter::default();
        c.wrote(|| write("before"));
        assert_eq!(c.writes(), vec![]);
        c.start_recording_writes();
        c.wrote(|| write("one"));
        c.start_recording_writes();
        c.wrote(|| write("two"));
        assert_eq!(c.writes(), vec![write("one"), write("two")]);
    }

    #[test]
    fn counts_by_user_agent_prefix_and_verb() {
        let c = RequestCounter::default();
        c.record("op/1 (a)", "get", "pods".into());
        c.record("op/1 (b)", "get", "pods".into());
        c.record("other/1", "patch", "pods".into());
        assert_eq!(c.by_user_agent("op/1"), HashMap::from([("get".into(), 2)]));
        assert_eq!(c.total(), 3);
    }
}
