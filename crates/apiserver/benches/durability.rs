//! `cargo xtask bench durability`: what `--data-dir` costs and keeps.
//!
//! 1. Crash consistency: 8 parallel writers against the release binary,
//!    `kill -9` at a random point, restart, count acknowledged writes that are
//!    missing; 5 rounds (the durability test runs a small version in CI).
//! 2. Compaction pause: 10,000 ConfigMaps in a durable store, then updates
//!    while compactions run in the background; write latency percentiles and
//!    the slowest write, against the same updates without compaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/crash.rs"]
mod crash;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use operatorkit_apiserver::bench_internals::{ObjectKey, Options, StorageKey, Store, Wal};
use serde_json::json;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(crash_consistency());
    compaction_pause();
}

/// The release binary, built with this benchmark.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_operatorkit-apiserver"))
}

async fn crash_consistency() {
    let dir = std::env::temp_dir().join(format!("apiserver-bench-crash-{}", std::process::id()));
    let plan = crash::Plan {
        binary: binary(),
        data_dir: dir.clone(),
        args: vec!["--compaction-min-bytes".into(), (1u64 << 20).to_string()],
        rounds: 5,
        writers: 8,
        names_per_writer: 500,
        filler: 400,
        kill_after: Duration::from_secs(3)..Duration::from_secs(5),
    };
    let outcome = crash::run(&plan).await;
    println!(
        "crash consistency ({} rounds, {} writers, kill -9 at 3-5 s):",
        plan.rounds, plan.writers
    );
    println!(
        "  acknowledged writes {}, missing after restart {}, rounds with the revision going back {}",
        outcome.acknowledged, outcome.missing, outcome.revision_went_back
    );
    println!(
        "  {:.0} acknowledged writes/s, restart to a serving server {:.0} ms on average",
        outcome.acknowledged as f64 / outcome.writing.as_secs_f64(),
        outcome.restarting.as_secs_f64() * 1000.0 / (plan.rounds + 1) as f64
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a run of updates measured.
struct Run {
    /// Every write's latency, sorted.
    latencies: Vec<Duration>,
    /// Latencies of the writes that started a compaction.
    switches: Vec<Duration>,
}

/// The newest segment's number in `dir`.
fn newest_segment(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("wal-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

/// `updates` writes over `objects` ConfigMaps in a durable store compacting at
/// `min_bytes`.
fn timed_updates(objects: usize, updates: usize, min_bytes: u64) -> Run {
    let dir = std::env::temp_dir().join(format!("apiserver-bench-pause-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = Options {
        compaction_min_bytes: min_bytes,
        ..Options::default()
    };
    let (wal, _) = Wal::open(&dir, options).unwrap();
    let store = Store::new(1000, Some(wal), 0, Vec::new());
    let s = StorageKey::new("", "configmaps");
    let cm = |i: usize, n: usize| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": format!("cm-{i}"), "namespace": "bench"},
               "data": {"n": n.to_string(), "filler": "x".repeat(400)}})
    };
    for i in 0..objects {
        let key = ObjectKey::new("bench", &format!("cm-{i}"));
        store.write(|st| Ok(st.put(&s, &key, cm(i, 0)))).unwrap();
    }
    store
        .write(|st| {
            st.wait_for_compaction();
            Ok(())
        })
        .unwrap();
    let mut segment = newest_segment(&dir);
    let mut run = Run {
        latencies: Vec::with_capacity(updates),
        switches: Vec::new(),
    };
    for u in 0..updates {
        let i = u % objects;
        let key = ObjectKey::new("bench", &format!("cm-{i}"));
        let started = Instant::now();
        store
            .write(|st| Ok(st.put(&s, &key, cm(i, u + 1))))
            .unwrap();
        let took = started.elapsed();
        run.latencies.push(took);
        let newest = newest_segment(&dir);
        if newest != segment {
            run.switches.push(took);
            segment = newest;
        }
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
    run.latencies.sort();
    run
}

fn compaction_pause() {
    const OBJECTS: usize = 10_000;
    const UPDATES: usize = 100_000;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let print = |label: &str, run: Run| {
        let l = &run.latencies;
        let at = |q: f64| ms(l[((l.len() - 1) as f64 * q) as usize]);
        println!(
            "  {label}: write p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
        if !run.switches.is_empty() {
            let each: Vec<String> = run
                .switches
                .iter()
                .map(|d| format!("{:.2}", ms(*d)))
                .collect();
            println!(
                "    {} compactions; the writes that started them took {} ms",
                run.switches.len(),
                each.join(", ")
            );
        }
    };
    println!("compaction pause ({OBJECTS} ConfigMaps of ~0.5 KiB, {UPDATES} updates, one writer):");
    // A snapshot of 10,000 such objects is ~7 MB; a segment compacts at 4x that.
    print("compacting", timed_updates(OBJECTS, UPDATES, 1 << 20));
    print("never     ", timed_updates(OBJECTS, UPDATES, u64::MAX));
}
