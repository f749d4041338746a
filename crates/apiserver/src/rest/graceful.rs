//! Graceful deletion, as kube-apiserver's `rest.BeforeDelete` and the pod
//! strategy's `CheckGracefulDelete` decide it.
//!
//! # Expected flow
//! 1. `DELETE` of a scheduled pod (`spec.nodeName` set, not yet `Succeeded`
//!    or `Failed`) does not remove it: it gets `deletionTimestamp` (now plus
//!    the grace period) and `deletionGracePeriodSeconds`. The grace period is
//!    the request's `gracePeriodSeconds`, else the pod's
//!    `terminationGracePeriodSeconds` (30 by default); a negative one is 1.
//! 2. The kubelet stops the containers and deletes the pod again with
//!    `gracePeriodSeconds=0`, which removes it (or, while finalizers remain,
//!    leaves it with a zero grace period until they are gone).
//! 3. A later `DELETE` may only shorten the grace period; a longer or equal
//!    one changes nothing.
//!
//! # Guarantees
//! - Unscheduled and finished pods, and every other kind, are deleted at once
//!   (or wait for their finalizers only).
//! - An object whose grace period is not over is never removed by an update
//!   that drops its last finalizer ([`super::released`] checks both).

use serde_json::Value;

use super::options::DeleteOptions;
use crate::meta;
use crate::resources::{Builtin, ResourceType};

/// The grace period a pod gets when neither the request nor the pod names one.
const DEFAULT_POD_GRACE: i64 = 30;

/// What a `DELETE` does to an object's deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Graceful {
    /// Not graceful: remove now, or hold for finalizers with a zero grace period.
    No,
    /// Start terminating: `deletionTimestamp` is now plus this many seconds.
    Start(i64),
    /// Already terminating: shorten the grace period to this many seconds.
    Shorten(i64),
    /// Already terminating with a grace period no longer than asked: unchanged.
    Pending,
}

/// How a `DELETE` with `opts` treats `obj`.
pub(crate) fn decide(rt: &ResourceType, obj: &Value, opts: &DeleteOptions) -> Graceful {
    let asked = opts.grace_period.map(|g| if g < 0 { 1 } else { g });
    if meta::is_deleting(obj) {
        return match grace_period(obj) {
            None | Some(0) => Graceful::No,
            Some(current) => match asked {
                Some(p) if p < current => Graceful::Shorten(p),
                _ => Graceful::Pending,
            },
        };
    }
    if rt.builtin != Some(Builtin::Pod) {
        return Graceful::No;
    }
    let mut period = asked.unwrap_or_else(|| {
        obj.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_POD_GRACE)
    });
    let scheduled = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !scheduled || finished {
        period = 0;
    }
    match period {
        0 => Graceful::No,
        p => Graceful::Start(p),
    }
}

/// `metadata.deletionGracePeriodSeconds`.
pub(crate) fn grace_period(obj: &Value) -> Option<i64> {
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
}

/// Sets the deletion timestamp and grace period for `how` (`Start` or
/// `Shorten`); returns the grace period set.
pub(crate) fn mark(obj: &mut Value, how: Graceful) -> i64 {
    let (deadline, period) = match how {
        Graceful::Start(p) => (meta::now_plus(p), p),
        Graceful::Shorten(p) => {
            let current = grace_period(obj).unwrap_or(0);
            let since = meta::str_field(obj, "deletionTimestamp")
                .and_then(|t| meta::shift(t, p - current))
                .unwrap_or_else(|| meta::now_plus(p));
            (since, p)
        }
        Graceful::No | Graceful::Pending => return grace_period(obj).unwrap_or(0),
    };
    let m = meta::metadata_mut(obj);
    m.insert("deletionTimestamp".into(), deadline.into());
    m.insert("deletionGracePeriodSeconds".into(), period.into());
    period
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> std::sync::Arc<ResourceType> {
        crate::resources::Registry::with_builtins()
            .get(&crate::resources::Gvr::new("", "v1", "pods"))
            .unwrap()
    }

    fn pod(node: &str, phase: &str) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": node, "terminationGracePeriodSeconds": 20}, "status": {"phase": phase}})
    }

    fn grace(g: Option<i64>) -> DeleteOptions {
        DeleteOptions {
            grace_period: g,
            ..DeleteOptions::default()
        }
    }

    #[test]
    fn scheduled_running_pods_terminate_gracefully() {
        let rt = pods();
        assert_eq!(
            decide(&rt, &pod("n1", "Running"), &grace(None)),
            Graceful::Start(20)
        );
        assert_eq!(
            decide(&rt, &pod("n1", "Running"), &grace(Some(5))),
            Graceful::Start(5)
        );
        assert_eq!(
            decide(&rt, &pod("n1", "Running"), &grace(Some(-3))),
            Graceful::Start(1)
        );
        assert_eq!(
            decide(&rt, &pod("n1", "Running"), &grace(Some(0))),
            Graceful::No
        );
        assert_eq!(decide(&rt, &pod("", "Pending"), &grace(None)), Graceful::No);
        assert_eq!(
            decide(&rt, &pod("n1", "Succeeded"), &grace(None)),
            Graceful::No
        );
    }

    #[test]
    fn a_terminating_pod_may_only_be_shortened() {
        let rt = pods();
        let mut p = pod("n1", "Running");
        assert_eq!(mark(&mut p, Graceful::Start(20)), 20);
        assert_eq!(decide(&rt, &p, &grace(None)), Graceful::Pending);
        assert_eq!(decide(&rt, &p, &grace(Some(30))), Graceful::Pending);
        assert_eq!(decide(&rt, &p, &grace(Some(0))), Graceful::Shorten(0));
        let deadline = meta::str_field(&p, "deletionTimestamp").unwrap().to_owned();
        mark(&mut p, Graceful::Shorten(5));
        let shortened = meta::str_field(&p, "deletionTimestamp").unwrap();
        assert_eq!(Some(shortened.to_owned()), meta::shift(&deadline, -15));
        assert_eq!(grace_period(&p), Some(5));
    }
}
