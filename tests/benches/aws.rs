//! `cargo xtask bench aws`: aws-operator on the embedded API server against
//! a moto server, with 50 AWSConfigs of the example's shape (3 masters, 3
//! workers, 3 zones: a 50-resource guest stack each).
//!
//! Each of [`RUNS`] runs starts a fresh server and moto (with the example's
//! hosted zone) and aws-operator (not timed), creates the 50 AWSConfigs 8 at
//! a time and waits, with a watch, until all are Ready (key, bucket and
//! stack made, masters and workers counted). It panics if they are not
//! Ready within 10 minutes.
//!
//! It reports the time to Ready, aws-operator's AWS calls per cluster
//! (counted by a loopback proxy in front of moto, by action, and by the
//! operator's own `aws_operator_aws_calls_total`) and its API requests per
//! cluster. After the last run it watches a 60-second steady state: the
//! goal is no write at all, to AWS or to the API server.
//!
//! The operator runs with operatorkit's defaults (4 loops at once) and its
//! default `--aws-rate` (10 calls a second per set of credentials; all 50
//! clusters share one), as the admin identity (RBAC is exercised by the
//! tests, not here).

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiextensions::{AWSConfig, OperatorStatus};
use aws_operator::calls::CallMetrics;
use e2e::aws_proxy::{Calls, FaultProxy, is_write, since};
use futures::StreamExt;
use kube::api::PostParams;
use operatorkit::testing::{OperatorRun, TestEnv, min_mean_max, wait_for_count};

/// Guest clusters per run.
const CLUSTERS: usize = 50;
/// Runs (each on a fresh server and moto).
const RUNS: usize = 2;
/// Creates in flight from the benchmark's client.
const CREATES_IN_FLIGHT: usize = 8;
/// A run that takes longer fails the benchmark.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// After all are Ready, how long loops still triggered may run before the
/// calls are counted (not timed).
const SETTLE: Duration = Duration::from_secs(2);
/// The steady state watched after the last run.
const STEADY: Duration = Duration::from_secs(60);

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

/// What one run measured.
struct Run {
    elapsed: Duration,
    aws: Calls,
    metric: u64,
    requests: BTreeMap<(String, &'static str), u64>,
}

fn per(n: u64) -> f64 {
    n as f64 / CLUSTERS as f64
}

fn sum(calls: &Calls, filter: impl Fn(&str) -> bool) -> u64 {
    calls
        .iter()
        .filter(|(a, _)| filter(a))
        .map(|(_, n)| *n as u64)
        .sum()
}

impl Run {
    fn api_total(&self) -> u64 {
        self.requests.values().sum()
    }

    fn api_writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|((_, verb), _)| operatorkit::testing::is_write(verb))
            .map(|(_, n)| n)
            .sum()
    }

    fn report(&self, index: usize) {
        let breakdown: Vec<String> = self
            .aws
            .iter()
            .map(|(action, n)| format!("{action} {:.2}", per(*n as u64)))
            .collect();
        println!(
            "run {index}: {CLUSTERS} AWSConfigs Ready in {:.2} s; per cluster: AWS calls {:.2} (writes {:.2}; the operator's metric {:.2}), API requests {:.2} (writes {:.2}); AWS calls by action: {}",
            self.elapsed.as_secs_f64(),
            per(sum(&self.aws, |_| true)),
            per(sum(&self.aws, is_write)),
            per(self.metric),
            per(self.api_total()),
            per(self.api_writes()),
            breakdown.join(", "),
        );
    }
}

async fn bench() {
    println!(
        "aws-operator: {CLUSTERS} AWSConfigs of the example (3 masters, 3 workers, 3 zones) against moto, {RUNS} runs"
    );
    let mut runs = Vec::new();
    for index in 1..=RUNS {
        let (env, moto) = e2e::aws::env().await;
        let proxy = FaultProxy::start(moto.endpoint()).await;
        let metrics = CallMetrics::new().unwrap();
        let operator = start(&env, &proxy, metrics.clone()).await;
        let run = one_run(&env, &operator, &proxy, &metrics).await;
        run.report(index);
        runs.push(run);
        if index == RUNS {
            steady_state(&operator, &proxy).await;
        }
        operator.stop().await;
        env.stop().await;
        drop(moto);
    }
    let stats = |f: &dyn Fn(&Run) -> f64| min_mean_max(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "over {RUNS} runs (min/mean/max): seconds to Ready {}; per cluster: AWS calls {}, AWS writes {}, API requests {}, API writes {}",
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| per(sum(&r.aws, |_| true))),
        stats(&|r| per(sum(&r.aws, is_write))),
        stats(&|r| per(r.api_total())),
        stats(&|r| per(r.api_writes())),
    );
}

async fn start(env: &TestEnv, proxy: &FaultProxy, metrics: CallMetrics) -> OperatorRun {
    let endpoint = format!("--endpoint-url={}", proxy.endpoint());
    let flags = aws_operator::settings::parse(&["aws-operator", &endpoint]).unwrap();
    env.run_operator(
        aws_operator::operator(e2e::aws::VERSION, flags, metrics),
        operatorkit::Settings::default(),
    )
    .await
    .unwrap()
}

async fn one_run(
    env: &TestEnv,
    operator: &OperatorRun,
    proxy: &FaultProxy,
    metrics: &CallMetrics,
) -> Run {
    let secret = env.name("aws-creds");
    e2e::aws::credentials(env, &secret, &e2e::aws::moto_credentials()).await;
    let api = env.api::<AWSConfig>();
    let (listed, ready) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(wait_for_count(
        api.clone(),
        CLUSTERS,
        |c: &AWSConfig| {
            c.status.as_ref().is_some_and(|s| {
                s.is_ready() && s.ready_masters == Some(3) && s.ready_workers == Some(3)
            })
        },
        listed,
    ));
    ready.await.unwrap();
    let configs: Vec<AWSConfig> = (0..CLUSTERS)
        .map(|i| {
            let id = format!("a{i:03}");
            e2e::aws::aws_config(env, &id, &id, &secret)
        })
        .collect();
    let before_api = operator.requests().by_resource();
    let before_aws = proxy.calls();
    let start = Instant::now();
    futures::stream::iter(configs)
        .for_each_concurrent(CREATES_IN_FLIGHT, |c| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &c).await.unwrap();
            }
        })
        .await;
    let done = tokio::time::timeout(READY_TIMEOUT, watch)
        .await
        .expect("not all Ready in time")
        .unwrap()
        .unwrap();
    let elapsed = done - start;
    tokio::time::sleep(SETTLE).await;
    let metric = (0..CLUSTERS)
        .map(|i| metrics.total(&format!("a{i:03}")))
        .sum();
    Run {
        elapsed,
        aws: since(&proxy.calls(), &before_aws),
        metric,
        requests: operator.requests().by_resource_since(&before_api),
    }
}

/// Watches aws-operator's AWS calls and API requests for [`STEADY`] with
/// nothing changing.
async fn steady_state(operator: &OperatorRun, proxy: &FaultProxy) {
    let before_api = operator.requests().by_resource();
    let before_aws = proxy.calls();
    tokio::time::sleep(STEADY).await;
    let api = operator.requests().by_resource_since(&before_api);
    let aws = since(&proxy.calls(), &before_aws);
    let api_writes: u64 = api
        .iter()
        .filter(|((_, verb), _)| operatorkit::testing::is_write(verb))
        .map(|(_, n)| n)
        .sum();
    println!(
        "steady state of {} s after the last run: AWS writes {}, AWS calls {aws:?}; API writes {api_writes}, API requests {api:?}",
        STEADY.as_secs(),
        sum(&aws, is_write),
    );
}
