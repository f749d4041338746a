//! `cargo xtask bench system`: the whole system as it runs in production
//! (`e2e::system`: the five operators as processes of their own, each as its
//! ServiceAccount with leader election, etcd, moto, the embedded API server
//! in RBAC mode with the simulated cluster) with 20 KVM guest clusters of 3
//! masters and 5 workers (160 VM pods) on 20 simulated nodes.
//!
//! One run: the system starts (not timed), the 20 KVMConfigs are created
//! at once through the API (one create each, all in flight together), and a
//! watch records when each is Ready for its generation with all 8 nodes
//! ready; then a 60-second steady state; then all 20 are deleted at once and
//! the run waits until nothing of any of them is left (`System::leftovers_of`:
//! no object labelled with or named after the cluster, no finalizer of ours,
//! no ingress entry, no etcd key), polled once a second.
//!
//! It reports the time to all Ready and to all gone (and per cluster
//! min/mean/max, from the first create and the first delete), the API
//! requests each operator made (counted by the embedded server by the
//! operator's User-Agent: every replica, every verb, watches counted once
//! when opened) per cluster during bring-up and deletion and in total during
//! the steady state, writes (create, update, patch, delete) apart, and each
//! operator process's resident memory (`VmRSS`) at the end of bring-up and
//! its peak, sampled every half second over the whole run. kvm-operator's
//! requests to the guest clusters' own APIs (simulated) are not counted.
//!
//! Sizing: the simulated nodes are the tests' (32 CPUs, 256 GiB, 110 pods
//! each, KWOK's example), the VMs `kvm_config`'s (2 CPUs, 4 GiB): 160 VMs
//! ask 320 of the 640 CPUs and 640 GiB of the 5 TiB, and each node holds at
//! most 20 flanneld pods (one per guest cluster) besides its VMs, well
//! under 110. `main` checks that it fits before it starts.
//!
//! It panics when the clusters are not Ready in [`READY_TIMEOUT`], not gone
//! in [`GONE_TIMEOUT`], or an operator process exits.

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiextensions::{KVMConfig, OperatorStatus};
use e2e::system::{OPERATORS, Options, System};
use futures::TryStreamExt;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use operatorkit::testing::{is_write, min_mean_max};

/// Guest clusters.
const CLUSTERS: usize = 20;
/// Masters and workers per cluster.
const MASTERS: usize = 3;
const WORKERS: usize = 5;
/// Simulated host nodes.
const NODES: usize = 20;
/// Each simulated node's CPUs and memory (GiB) and pods: the tests'
/// (`e2e::kvm::simulation()`, KWOK's example node), checked in `main`.
const NODE_CPUS: usize = 32;
const NODE_MEMORY_GIB: usize = 256;
const NODE_PODS: usize = 110;
/// A VM's CPUs and memory (GiB), as `e2e::kvm::kvm_config` asks.
const VM_CPUS: usize = 2;
const VM_MEMORY_GIB: usize = 4;
/// Bring-up that takes longer fails the benchmark.
const READY_TIMEOUT: Duration = Duration::from_secs(1200);
/// Deletion that takes longer fails the benchmark.
const GONE_TIMEOUT: Duration = Duration::from_secs(900);
/// After all are Ready, how long loops still triggered may run before the
/// bring-up's requests are counted (not timed).
const SETTLE: Duration = Duration::from_secs(2);
/// The steady state watched after bring-up.
const STEADY: Duration = Duration::from_secs(60);
/// How often resident memory is sampled.
const SAMPLE: Duration = Duration::from_millis(500);

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    fits();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

/// Fails when the VMs cannot all be scheduled on the nodes: a node takes
/// as many VMs as its CPUs, memory and pods allow after one flanneld pod
/// per cluster (a few tens of millicores each: one VM's CPUs are set aside
/// for them all).
fn fits() {
    let per_node = (NODE_CPUS / VM_CPUS - 1)
        .min(NODE_MEMORY_GIB / VM_MEMORY_GIB)
        .min(NODE_PODS - CLUSTERS);
    let vms = CLUSTERS * (MASTERS + WORKERS);
    assert!(
        per_node * NODES >= vms,
        "{vms} VMs do not fit on {NODES} nodes of {per_node} VMs"
    );
}

/// Requests by verb.
type Verbs = HashMap<String, u64>;

/// Each operator's requests by verb now.
fn requests(system: &System) -> BTreeMap<&'static str, Verbs> {
    OPERATORS
        .iter()
        .map(|op| (*op, system.api_requests(op, None).unwrap()))
        .collect()
}

/// Requests and writes of each operator between two snapshots.
fn since(
    now: &BTreeMap<&'static str, Verbs>,
    before: &BTreeMap<&'static str, Verbs>,
) -> BTreeMap<&'static str, (u64, u64)> {
    now.iter()
        .map(|(op, verbs)| {
            let mut total = 0;
            let mut writes = 0;
            for (verb, n) in verbs {
                let n = n - before[op].get(verb).copied().unwrap_or(0);
                total += n;
                if is_write(verb) {
                    writes += n;
                }
            }
            (*op, (total, writes))
        })
        .collect()
}

/// Resident memory of each operator (its replicas together), now and at
/// its peak.
#[derive(Default)]
struct Memory {
    peak: BTreeMap<&'static str, u64>,
}

impl Memory {
    fn sample(&mut self, system: &System) -> BTreeMap<&'static str, u64> {
        let now: BTreeMap<&'static str, u64> = OPERATORS
            .iter()
            .map(|op| {
                let bytes = system
                    .replicas_of(op)
                    .iter()
                    .filter_map(|r| system.resident_bytes(r))
                    .sum();
                (*op, bytes)
            })
            .collect();
        for (op, bytes) in &now {
            let peak = self.peak.entry(*op).or_default();
            *peak = (*peak).max(*bytes);
        }
        now
    }
}

/// Cluster `i` (from 1): KVMConfig and cluster `bench<i>`, VNI 2000+i,
/// node port 30000+i, in the system's namespace.
fn config(system: &System, i: usize) -> KVMConfig {
    let id = format!("bench{i:02}");
    let masters: Vec<String> = (1..=MASTERS).map(|m| format!("m{m}")).collect();
    let workers: Vec<String> = (1..=WORKERS).map(|w| format!("w{w}")).collect();
    let masters: Vec<&str> = masters.iter().map(String::as_str).collect();
    let workers: Vec<&str> = workers.iter().map(String::as_str).collect();
    let mut config = e2e::kvm::kvm_config(
        &id,
        &id,
        2000 + i as i32,
        &masters,
        &workers,
        &[30000 + i as i32],
    );
    config.metadata.namespace = Some(system.env.namespace().to_owned());
    config
}

/// Ready for its generation, every master and worker ready.
fn ready(c: &KVMConfig) -> bool {
    c.status.as_ref().is_some_and(|s| {
        s.is_ready()
            && s.observed_generation == c.metadata.generation
            && s.ready_masters == Some(MASTERS as i32)
            && s.ready_workers == Some(WORKERS as i32)
    })
}

/// Records when each KVMConfig is first [`ready`].
fn watch_ready(api: Api<KVMConfig>) -> Arc<Mutex<BTreeMap<String, Instant>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(config)) = stream.try_next().await {
            if ready(&config) {
                record
                    .lock()
                    .unwrap()
                    .entry(config.name_any())
                    .or_insert_with(Instant::now);
            }
        }
    });
    seen
}

/// Fails with the operators' logs when one of them exited.
fn check_running(system: &System) {
    let exited = system.exited();
    assert!(exited.is_empty(), "operators exited: {exited:#?}");
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn per(n: u64) -> f64 {
    n as f64 / CLUSTERS as f64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn bench() {
    let vms = CLUSTERS * (MASTERS + WORKERS);
    println!(
        "system: {CLUSTERS} KVM guest clusters of {MASTERS} masters and {WORKERS} workers ({vms} VMs of {VM_CPUS} CPUs, {VM_MEMORY_GIB} GiB) on {NODES} simulated nodes ({NODE_CPUS} CPUs, {NODE_MEMORY_GIB} GiB, {NODE_PODS} pods each); five operator processes, one replica each"
    );
    let started = Instant::now();
    let system = System::start(Options {
        nodes: NODES,
        ..Options::default()
    })
    .await;
    println!(
        "system started in {:.1} s (not timed)",
        secs(started.elapsed())
    );
    let api = system.env.api::<KVMConfig>();
    let configs: Vec<KVMConfig> = (1..=CLUSTERS).map(|i| config(&system, i)).collect();
    let clusters: Vec<String> = configs.iter().map(|c| c.name_any()).collect();
    let seen = watch_ready(api.clone());
    let mut memory = Memory::default();

    // Bring-up.
    let before = requests(&system);
    let start = Instant::now();
    futures::future::join_all(configs.iter().map(|c| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), c).await.unwrap() }
    }))
    .await;
    loop {
        memory.sample(&system);
        if seen.lock().unwrap().len() == CLUSTERS {
            break;
        }
        check_running(&system);
        if start.elapsed() > READY_TIMEOUT {
            let not: Vec<String> = api
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|c| !ready(c))
                .map(|c| format!("{}: {:?}", c.name_any(), c.status))
                .collect();
            panic!(
                "not Ready after {READY_TIMEOUT:?}: {not:#?}\n{}",
                system.logs()
            );
        }
        tokio::time::sleep(SAMPLE).await;
    }
    let ready_at: Vec<f64> = seen
        .lock()
        .unwrap()
        .values()
        .map(|t| secs(*t - start))
        .collect();
    let all_ready = ready_at.iter().copied().fold(0.0, f64::max);
    tokio::time::sleep(SETTLE).await;
    let up = since(&requests(&system), &before);
    let rss_up = memory.sample(&system);
    let peak_up = memory.peak.clone();
    println!(
        "bring-up: all {CLUSTERS} Ready in {all_ready:.1} s; per cluster min/mean/max {} s",
        min_mean_max(&ready_at)
    );

    // Steady state.
    let before = requests(&system);
    let steady_start = Instant::now();
    while steady_start.elapsed() < STEADY {
        memory.sample(&system);
        check_running(&system);
        tokio::time::sleep(SAMPLE).await;
    }
    let steady = since(&requests(&system), &before);
    let rss_steady = memory.sample(&system);

    // Deletion.
    let before = requests(&system);
    let start = Instant::now();
    futures::future::join_all(clusters.iter().map(|name| {
        let api = api.clone();
        async move { api.delete(name, &DeleteParams::default()).await.unwrap() }
    }))
    .await;
    let mut gone_at: BTreeMap<String, f64> = BTreeMap::new();
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    loop {
        memory.sample(&system);
        if last_poll.elapsed() >= Duration::from_secs(1) {
            last_poll = Instant::now();
            let left = system.leftovers_of(&clusters).await;
            let now = secs(start.elapsed());
            for (cluster, things) in &left {
                if things.is_empty() {
                    gone_at.entry(cluster.clone()).or_insert(now);
                }
            }
            if gone_at.len() == CLUSTERS {
                break;
            }
            check_running(&system);
            if start.elapsed() > GONE_TIMEOUT {
                let left: BTreeMap<_, _> =
                    left.into_iter().filter(|(_, l)| !l.is_empty()).collect();
                panic!(
                    "not gone after {GONE_TIMEOUT:?}: {left:#?}\n{}",
                    system.logs()
                );
            }
        }
        tokio::time::sleep(SAMPLE).await;
    }
    let all_gone = secs(start.elapsed());
    let gone: Vec<f64> = gone_at.values().copied().collect();
    let down = since(&requests(&system), &before);
    let rss_down = memory.sample(&system);
    println!(
        "deletion: all {CLUSTERS} gone in {all_gone:.1} s (leftovers polled every second); per cluster min/mean/max {} s",
        min_mean_max(&gone)
    );
    check_running(&system);

    println!();
    println!(
        "| operator | bring-up requests/cluster | writes/cluster | steady {} s requests | writes | deletion requests/cluster | writes/cluster | RSS end of bring-up MiB | after steady | after deletion | peak MiB |",
        STEADY.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut totals = [0u64; 6];
    for op in OPERATORS {
        let (ut, uw) = up[op];
        let (st, sw) = steady[op];
        let (dt, dw) = down[op];
        for (sum, n) in totals.iter_mut().zip([ut, uw, st, sw, dt, dw]) {
            *sum += n;
        }
        println!(
            "| {op} | {:.1} | {:.1} | {st} | {sw} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            per(ut),
            per(uw),
            per(dt),
            per(dw),
            mib(rss_up[op]),
            mib(rss_steady[op]),
            mib(rss_down[op]),
            mib(memory.peak[op]),
        );
    }
    println!(
        "| all five | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        per(totals[0]),
        per(totals[1]),
        totals[2],
        totals[3],
        per(totals[4]),
        per(totals[5]),
        mib(rss_up.values().sum()),
        mib(rss_steady.values().sum()),
        mib(rss_down.values().sum()),
        mib(memory.peak.values().sum()),
    );
    println!(
        "(peak during bring-up only, MiB: {})",
        peak_up
            .iter()
            .map(|(op, b)| format!("{op} {:.1}", mib(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "aws-operator's AWS calls through the proxy: {}",
        system.aws.calls().values().sum::<usize>()
    );
    system.stop().await;
}
