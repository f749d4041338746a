//! `cargo xtask bench ingress`: ingress-operator on the embedded API server
//! with 1,000 IngressConfigs of 2 TCP ports each, all sharing ingress-nginx's
//! one TCP services ConfigMap and one Service.
//!
//! Each of [`RUNS`] runs starts a fresh server, makes the ConfigMaps and the
//! Service as ingress-nginx's chart does, starts the operator until its
//! caches are synced (none of which is timed), then creates the 1,000
//! IngressConfigs 16 at a time from the benchmark's own client and waits,
//! with a watch, until all are Ready with reason `Mapped`. It panics if they
//! are not within 10 minutes, or if afterwards the ConfigMap does not hold
//! exactly the 2,000 entries and the Service exactly the 2,000 ports (plus
//! the chart's http and https).
//!
//! It reports the time to Ready, and the operator's API requests per
//! IngressConfig by resource and verb (counted by its client): writes in
//! all, and writes of the shared host objects (ConfigMap and Service; the
//! goal is at most 2 per IngressConfig: one apply each). After the last run
//! it watches a 60-second steady state, in which the goal is no write at
//! all.
//!
//! The operator runs with operatorkit's defaults (4 loops at once) as the
//! admin identity (RBAC is exercised by the tests, not here).

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiextensions::core::ingress_config::{
    GuestCluster, HostCluster, IngressController, Protocol, ProtocolPort,
};
use apiextensions::{IngressConfig, IngressConfigSpec, OperatorStatus};
use futures::StreamExt;
use ingress_operator::settings::IngressArgs;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::PostParams;
use kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{OperatorRun, TestEnv, is_write, min_mean_max, wait_for_count};
use serde_json::json;

/// IngressConfigs per run.
const CONFIGS: usize = 1000;
/// Ports of each.
const PORTS: usize = 2;
/// The first lbPort; the 2,000 ports follow it (clear of ingress-nginx's
/// reserved ports, which the operator refuses).
const FIRST_PORT: i32 = 20000;
/// Runs (each on a fresh server).
const RUNS: usize = 3;
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
/// ingress-nginx's objects.
const TCP: &str = "ingress-nginx-tcp-services";
const UDP: &str = "ingress-nginx-udp-services";
const SERVICE: &str = "ingress-nginx-controller";

fn main() {
    // `RUST_LOG=ingress_operator=debug cargo xtask bench ingress` shows every
    // apply; quiet by default.
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
    created: Duration,
    requests: BTreeMap<(String, &'static str), u64>,
}

impl Run {
    fn per_config(n: u64) -> f64 {
        n as f64 / CONFIGS as f64
    }

    fn count(&self, pick: impl Fn(&str, &str) -> bool) -> u64 {
        self.requests
            .iter()
            .filter(|((resource, verb), _)| pick(resource, verb))
            .map(|(_, n)| n)
            .sum()
    }

    fn total(&self) -> u64 {
        self.count(|_, _| true)
    }

    fn writes(&self) -> u64 {
        self.count(|_, verb| is_write(verb))
    }

    fn host_writes(&self) -> u64 {
        self.count(|resource, verb| is_write(verb) && matches!(resource, "configmaps" | "services"))
    }

    fn report(&self, index: usize) {
        let per = Self::per_config;
        let breakdown: Vec<String> = self
            .requests
            .iter()
            .map(|((resource, verb), n)| format!("{verb} {resource} {:.3}", per(*n)))
            .collect();
        println!(
            "run {index}: {CONFIGS} IngressConfigs ({} ports) Ready in {:.2} s ({:.0}/s), created in {:.2} s; per IngressConfig: requests {:.3}, writes {:.3}, host-object writes {:.3} (goal <= 2); {}",
            CONFIGS * PORTS,
            self.elapsed.as_secs_f64(),
            CONFIGS as f64 / self.elapsed.as_secs_f64(),
            self.created.as_secs_f64(),
            per(self.total()),
            per(self.writes()),
            per(self.host_writes()),
            breakdown.join(", ")
        );
    }
}

async fn bench() {
    println!(
        "ingress-operator: {CONFIGS} IngressConfigs x {PORTS} TCP ports, one shared ConfigMap and Service, {RUNS} runs"
    );
    let mut runs = Vec::new();
    for index in 1..=RUNS {
        let (env, operator) = setup().await;
        let run = one_run(&env, &operator).await;
        run.report(index);
        runs.push(run);
        if index == RUNS {
            steady_state(&operator).await;
        }
        operator.stop().await;
        env.stop().await;
    }
    let stats = |f: &dyn Fn(&Run) -> f64| min_mean_max(&runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "over {RUNS} runs (min/mean/max): seconds to Ready {}; per IngressConfig: requests {}, writes {}, host-object writes {}",
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| Run::per_config(r.total())),
        stats(&|r| Run::per_config(r.writes())),
        stats(&|r| Run::per_config(r.host_writes())),
    );
}

/// A fresh server with the CRD, ingress-nginx's objects, and the operator
/// running with its caches synced.
async fn setup() -> (TestEnv, OperatorRun) {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([IngressConfig::crd()]).await.unwrap();
    let pp = PostParams::default();
    for name in [TCP, UDP] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        env.api::<ConfigMap>().create(&pp, &cm).await.unwrap();
    }
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": SERVICE},
        "spec": {"type": "LoadBalancer", "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "https", "port": 443, "targetPort": "https"}]}
    }))
    .unwrap();
    env.api::<Service>().create(&pp, &service).await.unwrap();
    let flags = IngressArgs {
        controller_namespace: env.namespace().to_owned(),
    };
    let operator = env
        .run_operator(
            ingress_operator::operator(VERSION, &flags),
            operatorkit::Settings::default(),
        )
        .await
        .unwrap();
    (env, operator)
}

fn config(env: &TestEnv, i: usize) -> IngressConfig {
    let cluster = format!("c{i:04}");
    let mut c = IngressConfig::new(
        &cluster,
        IngressConfigSpec {
            guest_cluster: GuestCluster {
                id: cluster.clone(),
                namespace: cluster.clone(),
                service: "worker".into(),
            },
            host_cluster: HostCluster {
                ingress_controller: IngressController {
                    config_map: TCP.into(),
                    namespace: env.namespace().into(),
                    service: SERVICE.into(),
                },
            },
            protocol_ports: (0..PORTS)
                .map(|p| ProtocolPort {
                    ingress_port: 30010 + p as i32,
                    lb_port: FIRST_PORT + (i * PORTS + p) as i32,
                    protocol: Protocol::Tcp,
                })
                .collect(),
        },
    );
    c.labels_mut()
        .insert(ingress_operator::OPERATOR.version_label(), VERSION.into());
    c
}

async fn one_run(env: &TestEnv, operator: &OperatorRun) -> Run {
    let api = env.api::<IngressConfig>();
    let (listed, ready) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(wait_for_count(
        api.clone(),
        CONFIGS,
        |c: &IngressConfig| {
            c.status.as_ref().is_some_and(|s| {
                s.condition("Ready")
                    .is_some_and(|r| r.status == "True" && r.reason == "Mapped")
            })
        },
        listed,
    ));
    ready.await.unwrap();
    let before = operator.requests().by_resource();
    let start = Instant::now();
    let configs: Vec<IngressConfig> = (0..CONFIGS).map(|i| config(env, i)).collect();
    futures::stream::iter(configs)
        .for_each_concurrent(CREATES_IN_FLIGHT, |c| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &c).await.unwrap();
            }
        })
        .await;
    let created = start.elapsed();
    let done = tokio::time::timeout(READY_TIMEOUT, watch)
        .await
        .expect("not all Ready in time")
        .unwrap()
        .unwrap();
    let elapsed = done - start;
    tokio::time::sleep(SETTLE).await;
    let requests = operator.requests().by_resource_since(&before);
    check(env).await;
    Run {
        elapsed,
        created,
        requests,
    }
}

/// Exactly the entries and ports of the IngressConfigs.
async fn check(env: &TestEnv) {
    let data = env
        .api::<ConfigMap>()
        .get(TCP)
        .await
        .unwrap()
        .data
        .unwrap_or_default();
    assert_eq!(data.len(), CONFIGS * PORTS, "entries in the ConfigMap");
    for i in 0..CONFIGS {
        for p in 0..PORTS {
            let key = (FIRST_PORT as usize + i * PORTS + p).to_string();
            assert_eq!(data[&key], format!("c{i:04}/worker:{}", 30010 + p));
        }
    }
    let ports = env
        .api::<Service>()
        .get(SERVICE)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default();
    assert_eq!(ports.len(), CONFIGS * PORTS + 2, "ports of the Service");
}

/// Watches the operator's requests for [`STEADY`] with nothing changing.
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
        "steady state of {} s after the last run: {writes} writes, requests {:?}",
        STEADY.as_secs(),
        during
    );
}
