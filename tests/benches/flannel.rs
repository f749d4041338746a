//! `cargo xtask bench flannel`: flannel-operator on the embedded API server
//! with the simulated cluster (3 nodes) and a real etcd, with 500
//! FlannelConfigs of distinct networks and VNIs.
//!
//! Each of [`RUNS`] runs starts a fresh server, etcd and simulation, starts
//! the operator (none of which is timed), creates the 500 FlannelConfigs 16
//! at a time and waits, with a watch, until all are Ready (their flanneld
//! DaemonSets ready on the 3 nodes: 1,500 simulated pods). It panics if
//! they are not within 10 minutes, or if etcd then does not hold exactly
//! the 500 configs, byte for byte, and the 1,500 claims.
//!
//! It reports the time to Ready; the operator's API requests per
//! FlannelConfig by resource and verb (counted by its client); its etcd
//! requests per FlannelConfig (counted by etcd itself, from its metrics,
//! and by the operator's client); and etcd writes (keys put or deleted, from
//! etcd's metrics). After the last run it watches a 60-second steady state,
//! with the operator's default `--recheck` of one minute: the goal is no
//! API write and no etcd write; the etcd reads of the rechecks are counted.
//!
//! The operator runs with operatorkit's defaults (4 loops at once) as the
//! admin identity (RBAC is exercised by the tests, not here).

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiextensions::{FlannelConfig, OperatorStatus};
use e2e::etcd::{Etcd, EtcdCounts};
use e2e::flannel::{CLAIMS, PREFIX, client, config_key, flannel_config, get, keys};
use flannel_operator::etcd::Etcd as EtcdClient;
use futures::StreamExt;
use kube::CustomResourceExt;
use kube::api::PostParams;
use operatorkit::testing::{
    OperatorRun, SimulationOptions, TestEnv, is_write, min_mean_max, wait_for_count,
};

/// FlannelConfigs per run.
const CONFIGS: usize = 500;
/// Simulated host nodes.
const NODES: usize = 3;
/// Runs (each on a fresh server and etcd).
const RUNS: usize = 2;
/// Creates in flight from the benchmark's client.
const CREATES_IN_FLIGHT: usize = 16;
/// The version the operator reconciles.
const VERSION: &str = "1";
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

/// Everything one run needs.
struct Setup {
    env: TestEnv,
    etcd: Etcd,
    client: EtcdClient,
    operator: OperatorRun,
}

/// What one run measured.
struct Run {
    elapsed: Duration,
    requests: BTreeMap<(String, &'static str), u64>,
    etcd: EtcdCounts,
    etcd_client_requests: u64,
}

fn per(n: f64) -> f64 {
    n / CONFIGS as f64
}

impl Run {
    fn api_total(&self) -> u64 {
        self.requests.values().sum()
    }

    fn api_writes(&self) -> u64 {
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
            .map(|((resource, verb), n)| format!("{verb} {resource} {:.3}", per(*n as f64)))
            .collect();
        let etcd: Vec<String> = self
            .etcd
            .requests
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(m, n)| format!("{m} {:.3}", per(*n)))
            .collect();
        println!(
            "run {index}: {CONFIGS} FlannelConfigs on {NODES} nodes Ready in {:.2} s ({:.1}/s); per FlannelConfig: API requests {:.3}, API writes {:.3} ({}); etcd requests {:.3} by etcd ({}), {:.3} by the operator's client; etcd writes {:.3}",
            self.elapsed.as_secs_f64(),
            CONFIGS as f64 / self.elapsed.as_secs_f64(),
            per(self.api_total() as f64),
            per(self.api_writes() as f64),
            breakdown.join(", "),
            per(self.etcd.kv_requests()),
            etcd.join(", "),
            per(self.etcd_client_requests as f64),
            per(self.etcd.writes),
        );
    }
}

fn client_requests(client: &EtcdClient) -> u64 {
    ["txn", "range"]
        .iter()
        .flat_map(|op| ["ok", "error"].map(|r| client.requests(op, r)))
        .sum()
}

async fn bench() {
    println!(
        "flannel-operator: {CONFIGS} FlannelConfigs, {NODES} simulated nodes, real etcd, {RUNS} runs"
    );
    let mut runs = Vec::new();
    for index in 1..=RUNS {
        let setup = setup().await;
        let run = one_run(&setup).await;
        run.report(index);
        runs.push(run);
        if index == RUNS {
            steady_state(&setup).await;
        }
        setup.operator.stop().await;
        setup.env.stop().await;
        drop(setup.etcd);
    }
    let stats = |f: &dyn Fn(&Run) -> f64| min_mean_max(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "over {RUNS} runs (min/mean/max): seconds to Ready {}; per FlannelConfig: API requests {}, API writes {}, etcd requests {}, etcd writes {}",
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| per(r.api_total() as f64)),
        stats(&|r| per(r.api_writes() as f64)),
        stats(&|r| per(r.etcd.kv_requests())),
        stats(&|r| per(r.etcd.writes)),
    );
}

/// A fresh server with the CRD and the simulated nodes, a fresh etcd, and
/// the operator running with its caches synced.
async fn setup() -> Setup {
    let etcd = Etcd::start().await.unwrap();
    let env = TestEnv::start().await.unwrap();
    env.install_crds([FlannelConfig::crd()]).await.unwrap();
    env.simulate(SimulationOptions {
        nodes: NODES,
        // One flanneld pod per cluster on every node.
        node_pods: (CONFIGS + 50) as u32,
        ..SimulationOptions::default()
    })
    .await
    .unwrap();
    let mut flags = e2e::flannel::args(&etcd);
    flags.recheck = Duration::from_secs(60);
    flags.etcd_timeout = Duration::from_secs(5);
    let client = EtcdClient::new(&flags).unwrap();
    let operator = env
        .run_operator(
            flannel_operator::operator_with(VERSION, flags, client.clone()),
            operatorkit::Settings::default(),
        )
        .await
        .unwrap();
    Setup {
        env,
        etcd,
        client,
        operator,
    }
}

/// Config `i`: cluster `b<i>`, network 10.<i/16>.<(i%16)*16>.0/20, VNI 1000+i.
fn config(i: usize) -> FlannelConfig {
    let network = format!("10.{}.{}.0/20", i / 16, (i % 16) * 16);
    flannel_config(
        &format!("b{i:04}"),
        &format!("b{i:04}"),
        &network,
        1000 + i as i32,
        VERSION,
    )
}

async fn one_run(setup: &Setup) -> Run {
    let api = setup.env.api::<FlannelConfig>();
    let (listed, ready) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(wait_for_count(
        api.clone(),
        CONFIGS,
        |c: &FlannelConfig| {
            c.status
                .as_ref()
                .is_some_and(|s| s.condition("Ready").is_some_and(|r| r.status == "True"))
        },
        listed,
    ));
    ready.await.unwrap();
    let before = setup.operator.requests().by_resource();
    let etcd_before = setup.etcd.metrics().await.unwrap();
    let client_before = client_requests(&setup.client);
    let start = Instant::now();
    futures::stream::iter((0..CONFIGS).map(config))
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
    let requests = setup.operator.requests().by_resource_since(&before);
    let etcd = setup.etcd.metrics().await.unwrap().since(&etcd_before);
    let etcd_client_requests = client_requests(&setup.client) - client_before;
    check(&setup.etcd).await;
    Run {
        elapsed,
        requests,
        etcd,
        etcd_client_requests,
    }
}

/// Exactly the configs, byte for byte, and the claims.
async fn check(etcd: &Etcd) {
    let mut c = client(etcd).await;
    assert_eq!(keys(&mut c, CLAIMS).await.len(), 3 * CONFIGS, "claims");
    assert_eq!(keys(&mut c, PREFIX).await.len(), CONFIGS, "configs");
    for i in [0, CONFIGS / 2, CONFIGS - 1] {
        let (value, _) = get(&mut c, &config_key(&format!("b{i:04}"))).await.unwrap();
        assert_eq!(
            value,
            format!(
                r#"{{"Network":"10.{}.{}.0/20","SubnetLen":24,"Backend":{{"Type":"vxlan","VNI":{}}}}}"#,
                i / 16,
                (i % 16) * 16,
                1000 + i
            )
        );
    }
}

/// Watches the operator's API requests and etcd for [`STEADY`] with nothing
/// changing.
async fn steady_state(setup: &Setup) {
    let before = setup.operator.requests().by_resource();
    let etcd_before = setup.etcd.metrics().await.unwrap();
    tokio::time::sleep(STEADY).await;
    let during = setup.operator.requests().by_resource_since(&before);
    let etcd = setup.etcd.metrics().await.unwrap().since(&etcd_before);
    let writes: u64 = during
        .iter()
        .filter(|((_, verb), _)| is_write(verb))
        .map(|(_, n)| n)
        .sum();
    println!(
        "steady state of {} s after the last run: {writes} API writes, API requests {:?}; etcd: {} writes, {} requests ({:?})",
        STEADY.as_secs(),
        during,
        etcd.writes,
        etcd.kv_requests(),
        etcd.requests
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .collect::<Vec<_>>(),
    );
}
