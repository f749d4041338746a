//! Crash rounds against the `operatorkit-apiserver` binary with `--data-dir`:
//! parallel writers, `kill -9` at a random moment, restart, and a count of
//! acknowledged writes that did not survive. Shared by the durability test
//! (a small count) and `cargo xtask bench durability` (the full one).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use operatorkit::testing::TestEnv;
use serde_json::json;

/// Starts the binary on a free port with `args`; returns it and the
/// kubeconfig it wrote.
pub fn spawn(binary: &Path, data_dir: &Path, args: &[&str]) -> (Child, PathBuf) {
    let mut child = Command::new(binary)
        .args(["--port", "0", "--http", "--log", "warn", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the apiserver binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "the apiserver exited before it was ready");
    (child, PathBuf::from(line.trim()))
}

/// How crash rounds are run.
pub struct Plan {
    /// The server binary.
    pub binary: PathBuf,
    /// Its data directory (removed first).
    pub data_dir: PathBuf,
    /// Extra arguments, e.g. a small `--compaction-min-bytes`.
    pub args: Vec<String>,
    /// Rounds of write, kill -9, restart, count.
    pub rounds: usize,
    /// Concurrent writers.
    pub writers: usize,
    /// ConfigMaps each writer cycles through.
    pub names_per_writer: usize,
    /// Bytes of filler in each ConfigMap.
    pub filler: usize,
    /// How long writers run before the kill: a random point in this range.
    pub kill_after: std::ops::Range<Duration>,
}

/// What the rounds found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Writes the server acknowledged.
    pub acknowledged: u64,
    /// Acknowledged writes missing after a restart.
    pub missing: u64,
    /// Rounds where the revision after the restart was below one acknowledged.
    pub revision_went_back: u64,
    /// Time writers ran, summed over rounds.
    pub writing: Duration,
    /// Time from spawn to a server that answers, summed over restarts.
    pub restarting: Duration,
}

/// A small pseudo-random sequence (xorshift), seeded from the clock.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Self(u64::from(nanos) | 1)
    }

    fn between(&mut self, range: &std::ops::Range<Duration>) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = (range.end - range.start).as_micros().max(1) as u64;
        range.start + Duration::from_micros(self.0 % span)
    }
}

/// Runs the rounds.
pub async fn run(plan: &Plan) -> Outcome {
    let _ = std::fs::remove_dir_all(&plan.data_dir);
    let args: Vec<&str> = plan.args.iter().map(String::as_str).collect();
    let mut outcome = Outcome::default();
    let mut random = Random::new();
    let started = Instant::now();
    let (mut child, kubeconfig) = spawn(&plan.binary, &plan.data_dir, &args);
    let env = TestEnv::connect(&kubeconfig, None).await.unwrap();
    outcome.restarting += started.elapsed();
    let namespace = env.namespace().to_owned();
    let mut api: Api<ConfigMap> = env.api();
    for _ in 0..plan.rounds {
        let stored = counters(&api).await.0;
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..plan.writers {
            let (api, acked, stored) = (api.clone(), acked.clone(), stored.clone());
            let (names, filler) = (plan.names_per_writer, plan.filler);
            writers.spawn(async move { write(api, w, names, filler, stored, acked).await });
        }
        let writing = random.between(&plan.kill_after);
        tokio::time::sleep(writing).await;
        outcome.writing += writing;
        // kill -9: nothing that was not already durable gets written.
        child.kill().unwrap();
        child.wait().unwrap();
        while writers.join_next().await.is_some() {}

        let restart = Instant::now();
        let (next, kubeconfig) = spawn(&plan.binary, &plan.data_dir, &args);
        child = next;
        let env = TestEnv::connect(&kubeconfig, Some(&namespace))
            .await
            .unwrap();
        outcome.restarting += restart.elapsed();
        api = env.api();
        let (after, revision) = counters(&api).await;
        let acked = acked.lock().unwrap();
        outcome.acknowledged += acked.writes;
        outcome.missing += acked
            .last
            .iter()
            .filter(|(name, n)| after.get(*name).is_none_or(|got| got < n))
            .count() as u64;
        if revision < acked.revision {
            outcome.revision_went_back += 1;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    outcome
}

/// What the server acknowledged in a round.
#[derive(Default)]
struct Acked {
    writes: u64,
    /// Each name's last acknowledged counter.
    last: BTreeMap<String, u64>,
    /// The highest resourceVersion acknowledged.
    revision: u64,
}

fn revision_of(rv: Option<&str>) -> u64 {
    rv.unwrap_or("0").parse().unwrap()
}

/// Each ConfigMap's counter, and the list's resourceVersion.
async fn counters(api: &Api<ConfigMap>) -> (BTreeMap<String, u64>, u64) {
    let list = api.list(&ListParams::default()).await.unwrap();
    let revision = revision_of(list.metadata.resource_version.as_deref());
    let counters = list
        .items
        .into_iter()
        .filter_map(|cm| {
            let n = cm.data.as_ref()?.get("n")?.parse().ok()?;
            Some((cm.metadata.name?, n))
        })
        .collect();
    (counters, revision)
}

/// One writer: applies its ConfigMaps in turn with a rising counter until the
/// server goes away.
async fn write(
    api: Api<ConfigMap>,
    writer: usize,
    names: usize,
    filler: usize,
    stored: BTreeMap<String, u64>,
    acked: Arc<Mutex<Acked>>,
) {
    let params = PatchParams::apply("crash-writer").force();
    for i in 0.. {
        let name = format!("w{writer}-{}", i % names);
        let n = stored.get(&name).copied().unwrap_or(0) + 1 + i as u64 / names as u64;
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"n": n.to_string(), "filler": "x".repeat(filler)},
        });
        let Ok(applied) = api.patch(&name, &params, &Patch::Apply(cm)).await else {
            return;
        };
        let rv = revision_of(applied.metadata.resource_version.as_deref());
        let mut acked = acked.lock().unwrap();
        acked.writes += 1;
        acked.last.insert(name, n);
        acked.revision = acked.revision.max(rv);
    }
}
