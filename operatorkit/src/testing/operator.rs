//! Running an operator in-process against the test environment, with a
//! client of its own whose requests are counted (client-side, so the count
//! works against a real cluster too; the embedded server also counts them by
//! the client's user agent).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use kube::Client;
use kube::client::ClientBuilder;

use super::{TestEnv, TestError, unique_name};
use crate::kind::OperatorKind;
use crate::metrics::Metrics;
use crate::operator::Operator;
use crate::runtime::{Running, Settings};

/// Requests a client made, by verb: `get` (including lists), `watch`,
/// `create`, `update`, `patch`, `delete`; and by resource and verb.
#[derive(Clone, Default, Debug)]
pub struct RequestCounts {
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    by_resource: Arc<Mutex<BTreeMap<(String, &'static str), u64>>>,
}

impl RequestCounts {
    fn record(&self, verb: &'static str, path: &str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(verb)
            .or_default() += 1;
        *self
            .by_resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((resource_of(path), verb))
            .or_default() += 1;
    }

    /// The counts so far by resource (`configmaps`, `ingressconfigs/status`;
    /// empty for paths that are not resources) and verb.
    pub fn by_resource(&self) -> BTreeMap<(String, &'static str), u64> {
        self.by_resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests made since `before` (an earlier
    /// [`RequestCounts::by_resource`]), by resource and verb; pairs with
    /// none are left out.
    pub fn by_resource_since(
        &self,
        before: &BTreeMap<(String, &'static str), u64>,
    ) -> BTreeMap<(String, &'static str), u64> {
        self.by_resource()
            .into_iter()
            .map(|(k, n)| {
                let was = before.get(&k).copied().unwrap_or(0);
                (k, n.saturating_sub(was))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests made since `before` (an earlier [`RequestCounts::snapshot`]),
    /// by verb; verbs with none are left out.
    pub fn since(&self, before: &BTreeMap<&'static str, u64>) -> BTreeMap<&'static str, u64> {
        self.snapshot()
            .into_iter()
            .map(|(verb, n)| {
                (
                    verb,
                    n.saturating_sub(before.get(verb).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Writes so far: creates, updates, patches and deletes.
    pub fn writes(&self) -> u64 {
        let c = self.snapshot();
        WRITE_VERBS
            .iter()
            .map(|v| c.get(v).copied().unwrap_or(0))
            .sum()
    }

    /// Every request so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// The verbs that write.
const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];

/// Whether requests of `verb` write (for counts by resource and verb).
pub fn is_write(verb: &str) -> bool {
    WRITE_VERBS.contains(&verb)
}

/// `min/mean/max` of `values` with three decimals, as benchmarks report
/// figures over their runs.
pub fn min_mean_max(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    format!("{min:.3}/{mean:.3}/{max:.3}")
}

/// The resource (with its subresource) a request path names:
/// `/api/v1/namespaces/ns/configmaps/x` is `configmaps`,
/// `/apis/g/v/namespaces/ns/things/x/status` is `things/status`.
fn resource_of(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] | ["apis", _, _version, rest @ ..] => rest,
        _ => return String::new(),
    };
    let rest = match rest {
        ["namespaces", _ns, resource, tail @ ..] => {
            let mut parts = vec![*resource];
            parts.extend(tail.get(1));
            return parts.join("/");
        }
        other => other,
    };
    match rest {
        [resource, _name, sub, ..] => format!("{resource}/{sub}"),
        [resource, ..] => (*resource).to_owned(),
        [] => String::new(),
    }
}

/// The verb of a request, as the API server would call it.
fn verb<B>(request: &http::Request<B>) -> &'static str {
    let watching = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    match *request.method() {
        http::Method::GET if watching => "watch",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// A tower layer counting requests.
#[derive(Clone)]
struct CountLayer(RequestCounts);

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CountService {
            inner,
            counts: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct CountService<S> {
    inner: S,
    counts: RequestCounts,
}

impl<S, B> tower::Service<http::Request<B>> for CountService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.counts.record(verb(&request), request.uri().path());
        self.inner.call(request)
    }
}

/// An operator running in a test.
pub struct OperatorRun {
    running: Running,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    requests: RequestCounts,
    user_agent: String,
}

impl OperatorRun {
    /// The requests the operator's client made so far.
    pub fn requests(&self) -> &RequestCounts {
        &self.requests
    }

    /// The user agent of the operator's client (the embedded server counts
    /// requests by it: `env.embedded()?.requests().by_user_agent(..)`).
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The operator's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.running.metrics
    }

    /// Whether `/readyz` would answer ready.
    pub fn is_ready(&self) -> bool {
        self.running.health.is_ready()
    }

    /// The base URL of `/metrics`, `/healthz`, `/readyz`, when served.
    pub fn health_url(&self) -> Option<String> {
        self.running.health_address.map(|a| format!("http://{a}"))
    }

    /// Stops the operator as SIGTERM would, and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.running.stopped().await;
    }

    /// Kills the operator without a graceful shutdown (no lease release), as
    /// a crashed process would.
    pub fn kill(self) {
        self.running.abort();
    }
}

impl TestEnv {
    /// A client of its own for an operator, with a unique user agent and a
    /// request count.
    pub fn counted_client(&self, name: &str) -> Result<(Client, RequestCounts, String), TestError> {
        counted_client(self.config.clone(), name)
    }

    /// Starts `operator` in-process with its own counted client, watching the
    /// environment's namespace unless `settings` says otherwise.
    pub async fn run_operator<K: OperatorKind>(
        &self,
        operator: Operator<K>,
        settings: Settings,
    ) -> Result<OperatorRun, TestError> {
        self.run(self.config.clone(), operator, settings).await
    }

    /// Like [`TestEnv::run_operator`], authenticated as `identity` (a
    /// ServiceAccount with the operator's roles): every request it makes is
    /// authorized as it would be in production.
    pub async fn run_operator_as<K: OperatorKind>(
        &self,
        identity: &super::ServiceAccountIdentity,
        operator: Operator<K>,
        settings: Settings,
    ) -> Result<OperatorRun, TestError> {
        self.run(identity.config.clone(), operator, settings).await
    }

    async fn run<K: OperatorKind>(
        &self,
        config: kube::Config,
        operator: Operator<K>,
        mut settings: Settings,
    ) -> Result<OperatorRun, TestError> {
        let (client, requests, user_agent) = counted_client(config, operator.name().as_str())?;
        if settings.namespace.is_none() {
            settings.namespace = Some(self.namespace.clone());
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = operator
            .start(client, settings, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| TestError::Operator(e.to_string()))?;
        Ok(OperatorRun {
            running,
            stop: Some(stop),
            requests,
            user_agent,
        })
    }
}

/// A client of its own for an operator, with a unique user agent and a
/// request count.
fn counted_client(
    mut config: kube::Config,
    name: &str,
) -> Result<(Client, RequestCounts, String), TestError> {
    let user_agent = unique_name(&format!("operatorkit-test-{name}"));
    let value = HeaderValue::from_str(&user_agent)
        .map_err(|e| TestError::Kubeconfig(format!("user agent {user_agent:?}: {e}")))?;
    config
        .headers
        .push((HeaderName::from_static("user-agent"), value));
    let counts = RequestCounts::default();
    let client = ClientBuilder::try_from(config)?
        .with_layer(&CountLayer(counts.clone()))
        .build();
    Ok((client, counts, user_agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_classified_like_the_server() {
        let req = |m: http::Method, uri: &str| {
            http::Request::builder()
                .method(m)
                .uri(uri)
                .body(())
                .unwrap_or_default()
        };
        assert_eq!(
            verb(&req(http::Method::GET, "/api/v1/pods?watch=true&x=1")),
            "watch"
        );
        assert_eq!(verb(&req(http::Method::GET, "/api/v1/pods?limit=5")), "get");
        assert_eq!(verb(&req(http::Method::PATCH, "/api/v1/pods/a")), "patch");
        let counts = RequestCounts::default();
        counts.record("get", "/api/v1/namespaces/ns/configmaps/a");
        counts.record("patch", "/api/v1/namespaces/ns/configmaps/a");
        counts.record("create", "/apis/events.k8s.io/v1/namespaces/ns/events");
        assert_eq!(counts.writes(), 2);
        assert_eq!(counts.total(), 3);
        let by = counts.by_resource();
        assert_eq!(by[&("configmaps".to_owned(), "patch")], 1);
        assert_eq!(by[&("events".to_owned(), "create")], 1);
    }

    #[test]
    fn paths_name_their_resource() {
        assert_eq!(
            resource_of("/api/v1/namespaces/ns/configmaps"),
            "configmaps"
        );
        assert_eq!(
            resource_of("/apis/g.io/v1/namespaces/ns/things/x/status"),
            "things/status"
        );
        assert_eq!(resource_of("/api/v1/nodes/n1/status"), "nodes/status");
        assert_eq!(resource_of("/api/v1/namespaces/ns"), "namespaces");
        assert_eq!(resource_of("/api/v1/namespaces"), "namespaces");
        assert_eq!(resource_of("/apis/g.io/v1/things"), "things");
        assert_eq!(resource_of("/version"), "");
    }
}
