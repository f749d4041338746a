//! `cargo xtask bench kvm`: kvm-operator on the embedded API server with
//! the simulated cluster (20 nodes) and cert-operator, with 50 KVMConfigs of
//! 3 masters and 5 workers each (400 VM pods).
//!
//! Each of [`RUNS`] runs starts a fresh server and simulation, starts
//! cert-operator and kvm-operator (none of which is timed), creates the 50
//! KVMConfigs 8 at a time and waits, with a watch, until all are Ready
//! (their certificates issued, every VM pod running and ready). The
//! FlannelConfigs and IngressConfigs are marked Ready by the benchmark as
//! flannel-operator and ingress-operator would (not run here: they have
//! their own benchmarks). It panics if they are not Ready within 10
//! minutes.
//!
//! It reports the time to Ready and kvm-operator's API requests per cluster
//! by resource and verb (counted by its client). After the last run it
//! watches a 60-second steady state: the goal is no write at all.
//!
//! The operators run with operatorkit's defaults (4 loops at once) as the
//! admin identity (RBAC is exercised by the tests, not here).

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiextensions::{FlannelConfig, IngressConfig, KVMConfig, OperatorStatus};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use operatorkit::testing::{
    OperatorRun, SimulationOptions, TestEnv, is_write, min_mean_max, wait_for_count,
};
use serde_json::json;

/// Guest clusters per run.
const CLUSTERS: usize = 50;
/// Masters and workers per cluster.
const MASTERS: usize = 3;
const WORKERS: usize = 5;
/// Simulated host nodes.
const NODES: usize = 20;
/// Runs (each on a fresh server).
const RUNS: usize = 2;
/// Creates in flight from the benchmark's client.
const CREATES_IN_FLIGHT: usize = 8;
/// A run that takes longer fails the benchmark.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// After all are Ready, how long loops still triggered may run before the
/// requests are counted (not timed).
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
    requests: BTreeMap<(String, &'static str), u64>,
}

fn per(n: u64) -> f64 {
    n as f64 / CLUSTERS as f64
}

impl Run {
    fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    fn writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|((_, verb), _)| is_write(verb))
            .map(|(_, n)| n)
            .sum()
    }

    fn report(&self, index: usize) {
        let breakdown: Vec<String> = self
            .requests
            .iter()
            .map(|((resource, verb), n)| format!("{verb} {resource} {:.2}", per(*n)))
            .collect();
        println!(
            "run {index}: {CLUSTERS} KVMConfigs ({} VMs) on {NODES} nodes Ready in {:.2} s; per cluster: kvm-operator API requests {:.2}, writes {:.2} ({})",
            CLUSTERS * (MASTERS + WORKERS),
            self.elapsed.as_secs_f64(),
            per(self.total()),
            per(self.writes()),
            breakdown.join(", "),
        );
    }
}

async fn bench() {
    println!(
        "kvm-operator: {CLUSTERS} KVMConfigs of {MASTERS} masters and {WORKERS} workers, {NODES} simulated nodes, with cert-operator, {RUNS} runs"
    );
    let mut runs = Vec::new();
    for index in 1..=RUNS {
        let (env, operators) = setup().await;
        let run = one_run(&env, &operators.1).await;
        run.report(index);
        runs.push(run);
        if index == RUNS {
            steady_state(&operators.1).await;
        }
        operators.1.stop().await;
        operators.0.stop().await;
        env.stop().await;
    }
    let stats = |f: &dyn Fn(&Run) -> f64| min_mean_max(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "over {RUNS} runs (min/mean/max): seconds to Ready {}; per cluster: API requests {}, writes {}",
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| per(r.total())),
        stats(&|r| per(r.writes())),
    );
}

/// A fresh server with the CRDs, the IngressClass and the simulated nodes,
/// cert-operator and kvm-operator running with their caches synced, and
/// the stand-in for flannel-operator and ingress-operator.
async fn setup() -> (TestEnv, (OperatorRun, OperatorRun)) {
    let env = e2e::kvm::env_with(SimulationOptions {
        nodes: NODES,
        // 400 VMs of 2 CPUs.
        node_cpu: "64".into(),
        // 50 guest control planes, Ready counted from their Nodes.
        ..e2e::kvm::simulation()
    })
    .await;
    e2e::kvm::ingress_class(&env).await;
    let cert_args = e2e::certs::args("24h");
    let certs = env
        .run_operator(
            cert_operator::operator(
                e2e::kvm::VERSION,
                cert_args.backend().unwrap(),
                cert_args.settings(),
            )
            .unwrap(),
            operatorkit::Settings::default(),
        )
        .await
        .unwrap();
    let kvm = env
        .run_operator(
            kvm_operator::operator(e2e::kvm::VERSION, e2e::kvm::args()).unwrap(),
            operatorkit::Settings::default(),
        )
        .await
        .unwrap();
    tokio::spawn(serve::<FlannelConfig>(env.api()));
    tokio::spawn(serve::<IngressConfig>(env.api()));
    (env, (certs, kvm))
}

/// Marks every object of kind `K` Ready for its generation when it is not
/// yet, as its operator would.
async fn serve<K: e2e::support::NamespacedKind>(api: Api<K>) {
    let stream = watcher(api.clone(), watcher::Config::default()).applied_objects();
    futures::pin_mut!(stream);
    while let Ok(Some(object)) = stream.try_next().await {
        let generation = object.meta().generation;
        let status = json!({"status": {
            "observedGeneration": generation,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Ready", "message": "served by the benchmark",
                "lastTransitionTime": jiff::Timestamp::now().to_string(), "observedGeneration": generation,
            }],
        }});
        let value = serde_json::to_value(&object).unwrap_or_default();
        if value["status"]["observedGeneration"] == json!(generation) {
            continue;
        }
        let _ = api
            .patch_status(
                &object.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await;
    }
}

/// Cluster `i`: `k<i>`, VNI 2000+i, node port 30000+i.
fn config(i: usize) -> KVMConfig {
    let id = format!("k{i:03}");
    let masters: Vec<String> = (1..=MASTERS).map(|m| format!("m{m}")).collect();
    let workers: Vec<String> = (1..=WORKERS).map(|w| format!("w{w}")).collect();
    let masters: Vec<&str> = masters.iter().map(String::as_str).collect();
    let workers: Vec<&str> = workers.iter().map(String::as_str).collect();
    e2e::kvm::kvm_config(
        &id,
        &id,
        2000 + i as i32,
        &masters,
        &workers,
        &[30000 + i as i32],
    )
}

async fn one_run(env: &TestEnv, operator: &OperatorRun) -> Run {
    let api = env.api::<KVMConfig>();
    let (listed, ready) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(wait_for_count(
        api.clone(),
        CLUSTERS,
        |c: &KVMConfig| {
            c.status.as_ref().is_some_and(|s| {
                s.is_ready()
                    && s.ready_workers == Some(WORKERS as i32)
                    && s.ready_masters == Some(MASTERS as i32)
            })
        },
        listed,
    ));
    ready.await.unwrap();
    let before = operator.requests().by_resource();
    let start = Instant::now();
    futures::stream::iter((0..CLUSTERS).map(config))
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
    Run {
        elapsed,
        requests: operator.requests().by_resource_since(&before),
    }
}

/// Watches kvm-operator's API requests for [`STEADY`] with nothing changing.
async fn steady_state(operator: &OperatorRun) {
    let before = operator.requests().by_resource();
    tokio::time::sleep(STEADY).await;
    let during = operator.requests().by_resource_since(&before);
    let writes: u64 = during
        .iter()
        .filter(|((_, verb), _)| is_write(verb))
        .map(|(_, n)| n)
        .sum();
    println!(
        "steady state of {} s after the last run: {writes} writes; requests {during:?}",
        STEADY.as_secs()
    );
}
