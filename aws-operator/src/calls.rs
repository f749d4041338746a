//! AWS calls: counted per cluster, service and operation in a metric (every
//! attempt, retries included, as AWS bills and throttles them), and
//! rate-limited per set of credentials (an account's API limits are shared
//! by all its clusters), so that fifty clusters reconciled at once do not
//! get the account throttled.
//!
//! - [`CallMetrics`]: the counter `aws_operator_aws_calls_total` with
//!   labels `cluster`, `service` and `operation`, registered by the
//!   operator; a deleted cluster's series are removed
//!   ([`CallMetrics::forget`]).
//! - [`Limiter`]: a token bucket (`--aws-rate` calls a second, bursts of
//!   twice that) that every HTTP attempt waits on. Throttling answers that
//!   still come are retried by the SDK's standard retry (exponential
//!   backoff with jitter), then by operatorkit's backoff.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::time::Instant;

/// The (service, operation) series of each cluster.
type Series = HashMap<String, BTreeSet<(String, String)>>;

/// The calls metric, which series each cluster has, and every operation
/// this process called (what its IAM policy must allow).
#[derive(Clone, Debug)]
pub struct CallMetrics {
    calls: IntCounterVec,
    series: Arc<Mutex<Series>>,
    operations: Arc<Mutex<BTreeSet<(String, String)>>>,
}

impl CallMetrics {
    /// The metric (not yet registered).
    pub fn new() -> Result<Self, prometheus::Error> {
        let opts = Opts::new(
            "aws_operator_aws_calls_total",
            "AWS API calls (each attempt), by cluster, service and operation.",
        );
        Ok(Self {
            calls: IntCounterVec::new(opts, &["cluster", "service", "operation"])?,
            series: Arc::default(),
            operations: Arc::default(),
        })
    }

    /// Registers the metric in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.calls.clone()))
    }

    fn count(&self, cluster: &str, service: &str, operation: &str) {
        self.calls
            .with_label_values(&[cluster, service, operation])
            .inc();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series
            .entry(cluster.to_owned())
            .or_default()
            .insert((service.to_owned(), operation.to_owned()));
        let mut operations = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        operations.insert((service.to_owned(), operation.to_owned()));
    }

    /// Every (service, operation) this process has called, of any cluster,
    /// deleted ones too: what its credentials must be allowed.
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        self.operations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Calls of `cluster` so far, all services and operations.
    pub fn total(&self, cluster: &str) -> u64 {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ops) = series.get(cluster) else {
            return 0;
        };
        ops.iter()
            .map(|(s, o)| self.calls.with_label_values(&[cluster, s, o]).get())
            .sum()
    }

    /// Removes the series of `cluster` (deleted).
    pub fn forget(&self, cluster: &str) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for (service, operation) in series.remove(cluster).unwrap_or_default() {
            // The series exists: it was counted.
            let _ = self
                .calls
                .remove_label_values(&[cluster, &service, &operation]);
        }
    }

    /// The interceptor counting the calls of `cluster`.
    pub fn counter(&self, cluster: &str) -> CallCounter {
        CallCounter {
            metrics: self.clone(),
            cluster: cluster.to_owned(),
        }
    }
}

/// Counts each attempt of a client's calls for one cluster.
#[derive(Clone, Debug)]
pub struct CallCounter {
    metrics: CallMetrics,
    cluster: String,
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".to_owned(), "unknown".to_owned()));
        self.metrics.count(&self.cluster, &service, &operation);
        Ok(())
    }
}

/// A token bucket: `rate` calls a second, bursts of `2 × rate`.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    burst: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Limiter {
    /// A full bucket of `rate` calls a second (at least one).
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            burst: 2.0 * rate,
            state: tokio::sync::Mutex::new((2.0 * rate, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(state.1).as_secs_f64() * self.rate;
                *state = ((state.0 + refill).min(self.burst), now);
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// An HTTP client whose every request first waits on a [`Limiter`].
#[derive(Clone, Debug)]
pub struct LimitedClient {
    inner: SharedHttpClient,
    limiter: Arc<Limiter>,
}

impl LimitedClient {
    /// `inner`, limited by `limiter`, as the SDK takes a client.
    pub fn shared(inner: SharedHttpClient, limiter: Arc<Limiter>) -> SharedHttpClient {
        SharedHttpClient::new(Self { inner, limiter })
    }
}

impl HttpClient for LimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
        })
    }
}

#[derive(Clone, Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<Limiter>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, limiter) = (self.inner.clone(), self.limiter.clone());
        HttpConnectorFuture::new(async move {
            limiter.acquire().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_bursts_then_its_rate() {
        let limiter = Limiter::new(5);
        let start = Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "a burst of 10");
        for _ in 0..5 {
            limiter.acquire().await;
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(990) && waited < Duration::from_millis(1100),
            "5 more at 5 a second: {waited:?}"
        );
    }

    #[test]
    fn a_forgotten_cluster_has_no_series() {
        let metrics = CallMetrics::new().unwrap();
        metrics.count("a", "CloudFormation", "DescribeStacks");
        metrics.count("a", "CloudFormation", "DescribeStacks");
        metrics.count("b", "EC2", "DescribeInstances");
        assert_eq!(metrics.total("a"), 2);
        metrics.forget("a");
        assert_eq!(metrics.total("a"), 0);
        assert_eq!(metrics.operations().len(), 2, "operations outlive clusters");
        let registry = Registry::new();
        metrics.register(&registry).unwrap();
        let families = registry.gather();
        assert_eq!(families[0].get_metric().len(), 1, "only b's series");
    }
}
