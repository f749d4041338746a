//! Prometheus metrics of one operator (one controller).
//!
//! This module owns the metric definitions: their names (all prefixed
//! `operatorkit_`), help texts, label sets, histogram buckets, and the
//! per-operator [`prometheus::Registry`] they live in. Every operator gets its
//! own registry (never the global default one), so several operators can run
//! in one process, and every `operatorkit_*` series carries a
//! `controller="<name>"` label. The registry also holds the standard
//! `process_*` metrics of [`ProcessCollector::for_self`] (no prefix, no
//! `controller` label).
//!
//! Errors are counted with counters that only ever grow, never with gauges that
//! reset themselves: alert on `increase(...)`/`rate(...)` instead.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::process_collector::ProcessCollector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Common prefix of every metric this module defines.
const NAMESPACE: &str = "operatorkit";

/// Buckets (seconds) for reconcile and step durations: 5ms … 60s.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How one reconcile ended; the `result` label of `operatorkit_reconcile_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileResult {
    /// The reconcile completed; label value `success`.
    Success,
    /// The reconcile completed and asked to run again later; label value `requeue`.
    Requeue,
    /// A step failed with a transient error (retried with backoff); label
    /// value `error`.
    Error,
    /// A step failed with a permanent error (not retried until a change);
    /// label value `permanent`.
    Permanent,
    /// The reconcile panicked; label value `panic`.
    Panic,
}

impl ReconcileResult {
    /// Every variant, in label order.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Requeue,
        Self::Error,
        Self::Permanent,
        Self::Panic,
    ];

    /// The `result` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Requeue => "requeue",
            Self::Error => "error",
            Self::Permanent => "permanent",
            Self::Panic => "panic",
        }
    }
}

/// The metrics of one operator.
///
/// Cheap to clone: all clones share the same registry and metrics (`Arc` inside).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    active_reconciles: IntGauge,
    reconcile_total: IntCounterVec,
    reconcile_duration: Histogram,
    last_success: Gauge,
    step_errors: IntCounterVec,
    step_duration: HistogramVec,
    watched_objects: IntGauge,
    unselected_objects: IntGauge,
    queue_depth: IntGauge,
    leader: IntGauge,
    status_conflicts: IntCounter,
}

/// Marks one reconcile as running; `operatorkit_active_reconciles` is
/// decremented again when this guard is dropped (also on panic unwinding).
#[derive(Debug)]
#[must_use = "the reconcile counts as active only while the guard is alive"]
pub struct ActiveReconcile {
    gauge: IntGauge,
}

impl Drop for ActiveReconcile {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Registers `collector` in `registry` and hands it back.
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl Metrics {
    /// Creates the metrics of the operator `controller` in a new registry, and
    /// registers the process collector there too.
    ///
    /// Every series that has only the `controller` label, and the five
    /// `result` values of `operatorkit_reconcile_total`, start at 0.
    pub fn new(controller: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let opts = |name: &str, help: &str| {
            Opts::new(name, help)
                .namespace(NAMESPACE)
                .const_label("controller", controller)
        };
        let hist = |name: &str, help: &str| {
            HistogramOpts::from(opts(name, help)).buckets(DURATION_BUCKETS.to_vec())
        };
        let r = &registry;
        let gauge = |name: &str, help: &str| register(r, IntGauge::with_opts(opts(name, help))?);
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            register(r, IntCounterVec::new(opts(name, help), labels)?)
        };
        let inner = Inner {
            active_reconciles: gauge(
                "active_reconciles",
                "Number of reconciles currently running.",
            )?,
            reconcile_total: counter_vec(
                "reconcile_total",
                "Reconciles finished, by result (success, requeue, error, panic).",
                &["result"],
            )?,
            reconcile_duration: register(
                r,
                Histogram::with_opts(hist(
                    "reconcile_duration_seconds",
                    "Duration of reconciles in seconds, whatever their result.",
                ))?,
            )?,
            last_success: register(
                r,
                Gauge::with_opts(opts(
                    "last_success_timestamp_seconds",
                    "Unix time in seconds of the last reconcile ending in success or requeue \
                     (0: none yet).",
                ))?,
            )?,
            step_errors: counter_vec(
                "step_errors_total",
                "Errors of the operator's steps, by step and category (transient, permanent, \
                 panic).",
                &["step", "category"],
            )?,
            step_duration: register(
                r,
                HistogramVec::new(
                    hist(
                        "step_duration_seconds",
                        "Duration in seconds of step operations, by step and operation \
                         (ensure_created, ensure_deleted).",
                    ),
                    &["step", "operation"],
                )?,
            )?,
            watched_objects: gauge(
                "watched_objects",
                "Number of objects currently in the operator's watch cache.",
            )?,
            unselected_objects: gauge(
                "unselected_objects",
                "Objects of the operator's kind without its version label: no version of it \
                 reconciles them.",
            )?,
            queue_depth: gauge(
                "queue_depth",
                "Number of objects waiting in the reconcile queue.",
            )?,
            leader: gauge(
                "leader",
                "1 if this instance holds the leader lease, 0 otherwise.",
            )?,
            status_conflicts: register(
                r,
                IntCounter::with_opts(opts(
                    "status_conflicts_total",
                    "Status updates rejected with a 409 Conflict.",
                ))?,
            )?,
            registry,
        };
        for result in ReconcileResult::ALL {
            inner.reconcile_total.with_label_values(&[result.as_str()]);
        }
        inner
            .registry
            .register(Box::new(ProcessCollector::for_self()))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The registry holding this operator's metrics (and the process metrics).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Marks a reconcile as running (`operatorkit_active_reconciles` +1) until
    /// the returned guard is dropped.
    pub fn reconcile_started(&self) -> ActiveReconcile {
        let gauge = self.inner.active_reconciles.clone();
        gauge.inc();
        ActiveReconcile { gauge }
    }

    /// Records a finished reconcile: counts it by `result`, observes its
    /// `duration`, and on success or requeue sets the last-success timestamp to now.
    pub fn reconcile_finished(&self, result: ReconcileResult, duration: Duration) {
        self.inner
            .reconcile_total
            .with_label_values(&[result.as_str()])
            .inc();
        self.inner
            .reconcile_duration
            .observe(duration.as_secs_f64());
        if matches!(result, ReconcileResult::Success | ReconcileResult::Requeue) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.inner.last_success.set(now.as_secs_f64());
        }
    }

    /// Counts one error of the step named `step`, of `category`
    /// (`transient`, `permanent` or `panic`).
    pub fn step_error(&self, step: &str, category: &str) {
        self.inner
            .step_errors
            .with_label_values(&[step, category])
            .inc();
    }

    /// Observes the `duration` of `operation` (e.g. `ensure_created`,
    /// `ensure_deleted`) of the step named `step`.
    pub fn step_operation(&self, step: &str, operation: &str, duration: Duration) {
        self.inner
            .step_duration
            .with_label_values(&[step, operation])
            .observe(duration.as_secs_f64());
    }

    /// Sets the number of objects no version of the operator reconciles.
    pub fn set_unselected_objects(&self, n: usize) {
        self.inner.unselected_objects.set(saturating_i64(n));
    }

    /// Sets the number of objects in the watch cache.
    pub fn set_watched_objects(&self, n: usize) {
        self.inner.watched_objects.set(saturating_i64(n));
    }

    /// Sets the number of objects waiting in the reconcile queue.
    pub fn set_queue_depth(&self, n: usize) {
        self.inner.queue_depth.set(saturating_i64(n));
    }

    /// Sets whether this instance is the leader (gauge 1) or not (gauge 0).
    pub fn set_leader(&self, leader: bool) {
        self.inner.leader.set(i64::from(leader));
    }

    /// Counts one status update rejected with a conflict.
    pub fn status_conflict(&self) {
        self.inner.status_conflicts.inc();
    }

    /// Renders the whole registry in the Prometheus text exposition format
    /// (`text/plain; version=0.0.4`).
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&self.inner.registry.gather(), &mut text)?;
        Ok(text)
    }
}

/// `n` as `i64`, saturating at `i64::MAX`.
fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use prometheus::proto::MetricFamily;

    use super::*;

    fn family(m: &Metrics, name: &str) -> MetricFamily {
        m.registry()
            .gather()
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("metric family {name} missing"))
    }

    fn label<'a>(metric: &'a prometheus::proto::Metric, name: &str) -> Option<&'a str> {
        metric
            .get_label()
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.value())
    }

    fn gauge(m: &Metrics, name: &str) -> f64 {
        family(m, name).get_metric()[0].get_gauge().get_value()
    }

    fn reconcile_count(m: &Metrics, result: &str) -> f64 {
        family(m, "operatorkit_reconcile_total")
            .get_metric()
            .iter()
            .find(|s| label(s, "result") == Some(result))
            .unwrap()
            .get_counter()
            .get_value()
    }

    #[test]
    fn preinitialised_series_carry_the_controller_label() {
        let m = Metrics::new("my-op").unwrap();
        let names = [
            "operatorkit_active_reconciles",
            "operatorkit_reconcile_total",
            "operatorkit_reconcile_duration_seconds",
            "operatorkit_last_success_timestamp_seconds",
            "operatorkit_watched_objects",
            "operatorkit_queue_depth",
            "operatorkit_unselected_objects",
            "operatorkit_leader",
            "operatorkit_status_conflicts_total",
        ];
        for name in names {
            let f = family(&m, name);
            assert!(!f.help().is_empty(), "{name} has no help");
            for series in f.get_metric() {
                assert_eq!(label(series, "controller"), Some("my-op"), "{name}");
            }
        }
        for result in ReconcileResult::ALL {
            assert_eq!(reconcile_count(&m, result.as_str()), 0.0);
        }
        // Series with more labels than `controller` appear on first use only.
        let gathered = m.registry().gather();
        assert!(
            !gathered
                .iter()
                .any(|f| f.name().starts_with("operatorkit_step_"))
        );
        // The process collector is registered too (Linux only).
        if cfg!(target_os = "linux") {
            assert!(
                gathered
                    .iter()
                    .any(|f| f.name() == "process_start_time_seconds")
            );
        }
    }

    #[test]
    fn active_guard_decrements_on_drop() {
        let m = Metrics::new("op").unwrap();
        let a = m.reconcile_started();
        let b = m.reconcile_started();
        assert_eq!(gauge(&m, "operatorkit_active_reconciles"), 2.0);
        drop(a);
        assert_eq!(gauge(&m, "operatorkit_active_reconciles"), 1.0);
        let clone = m.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _g = clone.reconcile_started();
            panic!("reconcile panicked");
        }));
        assert!(r.is_err());
        assert_eq!(gauge(&m, "operatorkit_active_reconciles"), 1.0);
        drop(b);
        assert_eq!(gauge(&m, "operatorkit_active_reconciles"), 0.0);
    }

    #[test]
    fn results_counted_and_last_success_set() {
        let m = Metrics::new("op").unwrap();
        m.reconcile_finished(ReconcileResult::Error, Duration::from_millis(20));
        m.reconcile_finished(ReconcileResult::Panic, Duration::from_millis(20));
        assert_eq!(gauge(&m, "operatorkit_last_success_timestamp_seconds"), 0.0);
        m.reconcile_finished(ReconcileResult::Success, Duration::from_millis(10));
        m.reconcile_finished(ReconcileResult::Requeue, Duration::from_secs(2));
        m.reconcile_finished(ReconcileResult::Requeue, Duration::from_secs(2));
        for (result, n) in [
            ("success", 1.0),
            ("requeue", 2.0),
            ("error", 1.0),
            ("permanent", 0.0),
            ("panic", 1.0),
        ] {
            assert_eq!(reconcile_count(&m, result), n, "{result}");
        }
        let h = family(&m, "operatorkit_reconcile_duration_seconds");
        let h = h.get_metric()[0].get_histogram();
        assert_eq!(h.get_sample_count(), 5);
        assert!((h.get_sample_sum() - 4.05).abs() < 1e-9);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let last = gauge(&m, "operatorkit_last_success_timestamp_seconds");
        assert!(now - last < 60.0 && last <= now, "last={last} now={now}");
    }

    #[test]
    fn gauges_counters_and_step_series() {
        let m = Metrics::new("op").unwrap();
        m.set_watched_objects(7);
        m.set_queue_depth(3);
        m.set_leader(true);
        m.status_conflict();
        m.step_error("deployment", "transient");
        m.step_error("deployment", "transient");
        m.set_unselected_objects(2);
        m.step_operation("deployment", "ensure_created", Duration::from_millis(30));
        assert_eq!(gauge(&m, "operatorkit_watched_objects"), 7.0);
        assert_eq!(gauge(&m, "operatorkit_queue_depth"), 3.0);
        assert_eq!(gauge(&m, "operatorkit_leader"), 1.0);
        m.set_leader(false);
        assert_eq!(gauge(&m, "operatorkit_leader"), 0.0);
        let c = family(&m, "operatorkit_status_conflicts_total");
        assert_eq!(c.get_metric()[0].get_counter().get_value(), 1.0);
        assert_eq!(gauge(&m, "operatorkit_unselected_objects"), 2.0);
        let e = family(&m, "operatorkit_step_errors_total");
        let e = &e.get_metric()[0];
        assert_eq!(label(e, "step"), Some("deployment"));
        assert_eq!(label(e, "category"), Some("transient"));
        assert_eq!(label(e, "controller"), Some("op"));
        assert_eq!(e.get_counter().get_value(), 2.0);
        let o = family(&m, "operatorkit_step_duration_seconds");
        let o = &o.get_metric()[0];
        assert_eq!(label(o, "operation"), Some("ensure_created"));
        assert_eq!(o.get_histogram().get_sample_count(), 1);
    }

    #[test]
    fn operators_have_separate_registries() {
        let a = Metrics::new("a").unwrap();
        let b = Metrics::new("b").unwrap();
        a.status_conflict();
        let text = b.encode().unwrap();
        assert!(text.contains(r#"operatorkit_status_conflicts_total{controller="b"} 0"#));
        assert!(!text.contains(r#"controller="a""#));
    }

    /// Every metric, after use, passes `promtool check metrics` without findings.
    #[test]
    fn promtool_check_metrics_is_clean() {
        let m = Metrics::new("promtool-op").unwrap();
        let _active = m.reconcile_started();
        for result in ReconcileResult::ALL {
            m.reconcile_finished(result, Duration::from_millis(120));
        }
        m.step_error("service", "transient");
        m.step_error("service", "permanent");
        m.step_operation("service", "ensure_created", Duration::from_millis(3));
        m.step_operation("service", "ensure_deleted", Duration::from_secs(90));
        m.set_unselected_objects(1);
        m.set_watched_objects(4);
        m.set_queue_depth(1);
        m.set_leader(true);
        m.status_conflict();
        let text = m.encode().unwrap();

        let mut child = match Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("promtool not found on PATH: run `cargo xtask tools` to install it")
            }
            Err(e) => panic!("cannot run promtool: {e}"),
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.is_empty() && stderr.is_empty(),
            "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\ninput:\n{text}",
            out.status
        );
    }
}
