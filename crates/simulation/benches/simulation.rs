//! `cargo xtask bench simulation`: what the simulated cluster costs.
//!
//! 100 fake nodes; a Deployment of 1,000 pods from creation to every pod
//! Ready (available), then scaled to 5,000; for each, the time, the API
//! requests the simulation made (by verb, and per pod), and the writes it
//! makes in the steady state afterwards (node heartbeats only, ideally).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use operatorkit_simulation::{Options, Simulation, keys};
use serde_json::json;

const NODES: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// The simulation's requests so far, by verb: all of them but the
/// benchmark's own (User-Agent `bench`).
fn requests(server: &operatorkit_apiserver::Handle) -> BTreeMap<String, u64> {
    let ours = server.requests().by_user_agent("bench");
    server
        .requests()
        .by_user_agent("")
        .into_iter()
        .map(|(verb, n)| {
            let own = ours.get(&verb).copied().unwrap_or(0);
            (verb, n - own)
        })
        .collect()
}

fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn writes(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(verb, _)| !matches!(verb.as_str(), "get" | "list" | "watch"))
        .map(|(_, n)| n)
        .sum()
}

async fn run() {
    let server = operatorkit_apiserver::start(operatorkit_apiserver::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(server.kube_config(None)).unwrap();
    let started = Instant::now();
    let options = Options {
        nodes: NODES,
        start_seconds: 0,
        stop_seconds: 0,
        ..Options::default()
    };
    let simulation = Simulation::start(client.clone(), options).await.unwrap();
    println!(
        "simulation of {NODES} nodes: up in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut bench_config = server.kube_config(None);
    bench_config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("bench"),
    ));
    let bench_client = kube::Client::try_from(bench_config).unwrap();
    let deployments: Api<Deployment> = Api::namespaced(bench_client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": 1000,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {
                    "containers": [{"name": "main", "image": "bench:1",
                                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                    "tolerations": [{"key": keys::KWOK_NODE, "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }))
    .unwrap();
    let before = requests(&server);
    let t = Instant::now();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    ready(&deployments, 1000).await;
    report(
        "1,000 pods",
        t.elapsed(),
        1000,
        &delta(&requests(&server), &before),
    );

    let before = requests(&server);
    let t = Instant::now();
    let patch = Patch::Merge(json!({"spec": {"replicas": 5000}}));
    deployments
        .patch("bench", &PatchParams::default(), &patch)
        .await
        .unwrap();
    ready(&deployments, 5000).await;
    report(
        "4,000 more pods",
        t.elapsed(),
        4000,
        &delta(&requests(&server), &before),
    );

    let before = requests(&server);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let steady = delta(&requests(&server), &before);
    println!(
        "steady state, 5,000 pods, 20 s: {} writes ({} node heartbeats expected), requests {steady:?}",
        writes(&steady),
        NODES * 2
    );
    simulation.stop();
    server.shutdown().await;
}

/// Waits until the Deployment has `n` available replicas (polling, as a
/// user would watch it).
async fn ready(deployments: &Api<Deployment>, n: i32) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let d = deployments.get("bench").await.unwrap();
        if d.status.and_then(|s| s.available_replicas) == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} pods were not Ready in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(what: &str, took: Duration, pods: u64, counts: &BTreeMap<String, u64>) {
    let total: u64 = counts.values().sum();
    println!(
        "{what} from the Deployment's change to all Ready: {:.2} s; {total} requests ({:.2} per pod), {} writes ({:.2} per pod): {counts:?}",
        took.as_secs_f64(),
        total as f64 / pods as f64,
        writes(counts),
        writes(counts) as f64 / pods as f64,
    );
}
