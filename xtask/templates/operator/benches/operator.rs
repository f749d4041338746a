//! `cargo bench` (in the operatorkit workspace: `cargo xtask bench {{name}}`):
//! {{name}} reconciling 200 {{Kind}}s on the embedded API server.
//!
//! Each measured iteration starts a fresh server and the operator (not
//! timed), creates the {{Kind}}s and times until all are Ready, seen by a
//! watch. It then reports the API requests the operator made per object, and
//! the writes it made in a steady state: over a few resync periods in which
//! nothing changed, which should be none.

// A benchmark: a failed setup step or a missed deadline must abort it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use operatorkit::OperatorStatus;
use operatorkit::kube::api::{Api, PostParams};
use operatorkit::kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{TestEnv, wait_for_count};

use {{crate}}::{NAME, {{Kind}}, {{Kind}}Spec};

/// {{Kind}}s per iteration.
const OBJECTS: usize = 200;
/// The version the operator runs and the objects are labelled with.
const VERSION: &str = "bench";
/// The resync period of the run: the steady state spans several.
const RESYNC: Duration = Duration::from_millis(500);
/// How long the steady state is watched for writes.
const STEADY: Duration = Duration::from_secs(2);
/// An iteration that takes longer fails the benchmark.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One iteration: the time until all are Ready, requests per object and
/// writes in the steady state.
async fn iteration() -> (Duration, f64, u64) {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([{{Kind}}::crd()]).await.unwrap();
    let settings = operatorkit::Settings {
        resync: Some(RESYNC),
        ..operatorkit::Settings::default()
    };
    let run = env
        .run_operator({{crate}}::operator(VERSION), settings)
        .await
        .unwrap();
    let objects: Api<{{Kind}}> = env.api();
    let (listed, watching) = tokio::sync::oneshot::channel();
    let all_ready = tokio::spawn(wait_for_count(
        objects.clone(),
        OBJECTS,
        |o: &{{Kind}}| o.status.as_ref().is_some_and(|s| s.is_ready()),
        listed,
    ));
    watching.await.unwrap();

    let started = Instant::now();
    for i in 0..OBJECTS {
        let mut object = {{Kind}}::new(
            &format!("bench-{i}"),
            {{Kind}}Spec {
                message: format!("message {i}"),
            },
        );
        object
            .labels_mut()
            .insert(NAME.version_label(), VERSION.to_owned());
        objects.create(&PostParams::default(), &object).await.unwrap();
    }
    let done = tokio::time::timeout(READY_TIMEOUT, all_ready)
        .await
        .expect("not all Ready in time")
        .unwrap()
        .unwrap();
    let elapsed = done.duration_since(started);

    // Loops the last writes triggered settle; then nothing changes.
    tokio::time::sleep(RESYNC).await;
    let per_object = run.requests().total() as f64 / OBJECTS as f64;
    let before = run.requests().writes();
    tokio::time::sleep(STEADY).await;
    let steady_writes = run.requests().writes() - before;
    run.stop().await;
    env.stop().await;
    (elapsed, per_object, steady_writes)
}

fn reconcile(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("{{name}}");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.bench_function(format!("{OBJECTS} objects Ready"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (elapsed, per_object, steady_writes) = runtime.block_on(iteration());
                println!(
                    "{{name}}: {OBJECTS} Ready in {elapsed:.2?}, \
                     {per_object:.2} requests per object, \
                     {steady_writes} writes in a {STEADY:?} steady state"
                );
                total += elapsed;
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, reconcile);
criterion_main!(benches);
