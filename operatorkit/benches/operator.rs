//! The greeter example operator against a bare kube-runtime `Controller`
//! doing the same work by hand, in the same run, on the embedded API server:
//! the time from the first create of 1000 Greetings until all 1000 are Ready,
//! and the API requests per object each one's client makes.
//!
//! Both contenders reconcile 4 objects at once, watch the Greetings labelled
//! for version "1" and own their ConfigMaps. One loop of each: add the
//! finalizer `operatorkit.dev/greeter-operator` if missing (merge patch with
//! the resourceVersion, re-read on 409), server-side-apply the ConfigMap
//! `<name>-greeting` (owner reference, `app.kubernetes.io/managed-by`), write
//! Ready=True/Reconciled and observedGeneration through `/status` unless it
//! already holds, and publish a Normal "Ready" Event on the transition. The
//! bare controller is written the way kube-runtime's own examples are: it
//! has no ConfigMap cache (so it applies on every loop), no predicate filter
//! (so its own status writes bring objects back), and it patches status
//! without a resourceVersion.
//!
//! Every measured iteration starts a fresh embedded API server (setup is not
//! timed), starts the contender, creates the 1000 Greetings 16 at a time from
//! the bench's own client and waits, with a watch, until all are Ready. It
//! panics if they are not within two minutes, or if a ConfigMap is missing.
//!
//! Run with `cargo xtask bench operator`.

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/greeter/operator.rs"]
mod operator;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, CustomResourceExt, Resource, ResourceExt};
use operatorkit::keys::MANAGED_BY_LABEL;
use operatorkit::testing::{RequestCounts, TestEnv, wait_for_count};
use serde_json::json;

use operator::{Greeting, GreetingSpec, NAME};

/// Greetings per run.
const OBJECTS: usize = 1000;
/// Creates in flight from the bench's client.
const CREATES_IN_FLIGHT: usize = 16;
/// Loops at once, for both contenders (operatorkit's default).
const CONCURRENCY: u16 = 4;
/// The version both contenders reconcile.
const VERSION: &str = "1";
/// A run that takes longer fails the bench.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// After all are Ready, how long loops still triggered may run before the
/// requests are counted (not timed).
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
enum Contender {
    Operatorkit,
    Bare,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Self::Operatorkit => "operatorkit",
            Self::Bare => "bare",
        }
    }
}

/// What one run measured.
struct Run {
    elapsed: Duration,
    /// From the first create until the last create was answered.
    created: Duration,
    /// Requests of the contender's client from the first create until the
    /// settle time was over, by verb.
    requests: BTreeMap<&'static str, u64>,
    reconciles: u64,
    status_conflicts: Option<u64>,
    /// "Ready" Events published more than once (as a series).
    repeated_events: usize,
}

impl Run {
    fn report(&self, contender: Contender) {
        let per = |n: u64| n as f64 / OBJECTS as f64;
        let total: u64 = self.requests.values().sum();
        let writes: u64 = ["create", "update", "patch", "delete"]
            .iter()
            .filter_map(|v| self.requests.get(v))
            .sum();
        let verbs: Vec<String> = self
            .requests
            .iter()
            .map(|(v, n)| format!("{v} {:.3}", per(*n)))
            .collect();
        let conflicts = self
            .status_conflicts
            .map(|c| format!(", status conflicts {c}"))
            .unwrap_or_default();
        eprintln!(
            "{}: {OBJECTS} objects created in {:.2} s, ready in {:.2} s; requests/object: total {:.3}, writes {:.3} ({}); reconciles/object {:.3}{conflicts}, repeated Ready events {}",
            contender.name(),
            self.created.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            per(total),
            per(writes),
            verbs.join(", "),
            per(self.reconciles),
            self.repeated_events,
        );
    }
}

fn greeting(i: usize) -> Greeting {
    let mut g = Greeting::new(
        &format!("g-{i:04}"),
        GreetingSpec {
            message: "Hello".into(),
            name: Some(format!("n{i}")),
        },
    );
    g.metadata.labels = Some([(NAME.version_label(), VERSION.to_owned())].into());
    g
}

fn ready_condition(g: &Greeting) -> Option<&Condition> {
    g.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
}

fn is_ready(g: &Greeting) -> bool {
    ready_condition(g).is_some_and(|c| c.status == "True")
}

/// A started contender.
enum Started {
    Operatorkit(operatorkit::testing::OperatorRun),
    Bare {
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
        reconciles: Arc<AtomicU64>,
    },
}

impl Started {
    async fn start(contender: Contender, env: &TestEnv) -> (Self, RequestCounts) {
        match contender {
            Contender::Operatorkit => {
                let run = env
                    .run_operator(
                        operator::operator(VERSION),
                        operatorkit::Settings::default(),
                    )
                    .await
                    .unwrap();
                let requests = run.requests().clone();
                (Self::Operatorkit(run), requests)
            }
            Contender::Bare => {
                let (client, requests, _) = env.counted_client("bare").unwrap();
                let reconciles = Arc::new(AtomicU64::new(0));
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(bare::run(
                    client,
                    env.namespace().to_owned(),
                    reconciles.clone(),
                    async move {
                        let _ = stopped.await;
                    },
                ));
                let started = Self::Bare {
                    stop,
                    task,
                    reconciles,
                };
                (started, requests)
            }
        }
    }

    /// Stops the contender; returns its reconciles and status conflicts.
    async fn stop(self) -> (u64, Option<u64>) {
        match self {
            Self::Operatorkit(run) => {
                let text = run.metrics().encode().unwrap();
                let sum = |metric: &str| -> f64 {
                    text.lines()
                        .filter(|l| l.starts_with(metric))
                        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                        .sum()
                };
                let reconciles = sum("operatorkit_reconcile_total{") as u64;
                let conflicts = sum("operatorkit_status_conflicts_total") as u64;
                run.stop().await;
                (reconciles, Some(conflicts))
            }
            Self::Bare {
                stop,
                task,
                reconciles,
            } => {
                let _ = stop.send(());
                task.await.unwrap();
                (reconciles.load(Ordering::Relaxed), None)
            }
        }
    }
}

/// One run of `contender` on a fresh server: setup, the timed part, checks.
async fn run_once(contender: Contender) -> Run {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Greeting::crd()]).await.unwrap();
    let greetings: Api<Greeting> = env.api();

    let (listening, listened) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(wait_for_count(
        greetings.clone(),
        OBJECTS,
        is_ready,
        listening,
    ));
    listened.await.unwrap();

    let (started, requests) = Started::start(contender, &env).await;
    // Both have listed and are watching Greetings and ConfigMaps.
    tokio::time::timeout(Duration::from_secs(10), async {
        while requests.snapshot().get("watch").copied().unwrap_or(0) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the contender did not start watching");
    let before = requests.snapshot();

    let start = Instant::now();
    futures::stream::iter(0..OBJECTS)
        .map(|i| {
            let api = greetings.clone();
            async move { api.create(&PostParams::default(), &greeting(i)).await }
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
        .unwrap();
    let created = start.elapsed();
    let end = tokio::time::timeout(READY_TIMEOUT.saturating_sub(created), waiter)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{}: not all {OBJECTS} Greetings Ready within {READY_TIMEOUT:?}",
                contender.name()
            )
        })
        .unwrap()
        .unwrap();
    let elapsed = end - start;

    tokio::time::sleep(SETTLE).await;
    let requests = requests.since(&before);
    let (reconciles, status_conflicts) = started.stop().await;

    let configmaps: Api<ConfigMap> = env.api();
    let made = configmaps
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={NAME}")))
        .await
        .unwrap();
    assert_eq!(
        made.items.len(),
        OBJECTS,
        "{}: ConfigMaps",
        contender.name()
    );
    for cm in &made.items {
        let greeting = cm.data.as_ref().and_then(|d| d.get("greeting"));
        assert!(
            greeting.is_some_and(|g| g.starts_with("Hello, n")),
            "{}: ConfigMap {} holds {greeting:?}",
            contender.name(),
            cm.name_any()
        );
    }
    let events: Api<K8sEvent> = env.api();
    let events = events.list(&ListParams::default()).await.unwrap();
    let ready_events = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Ready"));
    assert_eq!(
        ready_events.clone().count(),
        OBJECTS,
        "{}: Ready events",
        contender.name()
    );
    let repeated_events = ready_events.filter(|e| e.series.is_some()).count();
    env.stop().await;
    Run {
        elapsed,
        created,
        requests,
        reconciles,
        status_conflicts,
        repeated_events,
    }
}

/// The greeter written on kube-runtime's `Controller` alone.
mod bare {
    use super::*;

    /// What the loops share.
    pub(super) struct Context {
        client: Client,
        recorder: Recorder,
        finalizer: String,
        reconciles: Arc<AtomicU64>,
    }

    /// Why a loop failed.
    #[derive(Debug, thiserror::Error)]
    pub(super) enum Error {
        #[error(transparent)]
        Kube(#[from] kube::Error),
        #[error("finalizer write still conflicting")]
        Conflicts,
    }

    /// Runs the controller until `stop` resolves and its loops have finished.
    pub(super) async fn run(
        client: Client,
        namespace: String,
        reconciles: Arc<AtomicU64>,
        stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    ) {
        let greetings: Api<Greeting> = Api::namespaced(client.clone(), &namespace);
        let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
        let selector = format!("{}={VERSION}", NAME.version_label());
        let reporter = Reporter {
            controller: format!("{NAME}-bare"),
            instance: Some(operatorkit::runtime::default_instance()),
        };
        let ctx = Arc::new(Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            finalizer: NAME.finalizer(),
            reconciles,
        });
        Controller::new(greetings, watcher::Config::default().labels(&selector))
            .owns(configmaps, watcher::Config::default())
            .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
            .graceful_shutdown_on(stop)
            .run(reconcile, error_policy, ctx)
            .for_each(|_| futures::future::ready(()))
            .await;
    }

    fn error_policy(_: Arc<Greeting>, error: &Error, _: Arc<Context>) -> Action {
        eprintln!("bare: reconcile failed: {error}");
        Action::requeue(Duration::from_secs(1))
    }

    async fn reconcile(object: Arc<Greeting>, ctx: Arc<Context>) -> Result<Action, Error> {
        ctx.reconciles.fetch_add(1, Ordering::Relaxed);
        let api: Api<Greeting> =
            Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
        if object.meta().deletion_timestamp.is_some() {
            // Not exercised here; the ConfigMap goes with its owner.
            if object.finalizers().contains(&ctx.finalizer) {
                let rest: Vec<&String> = object
                    .finalizers()
                    .iter()
                    .filter(|f| **f != ctx.finalizer)
                    .collect();
                let patch = json!({"metadata": {
                    "resourceVersion": object.resource_version(),
                    "finalizers": rest,
                }});
                api.patch(
                    &object.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            }
            return Ok(Action::await_change());
        }
        let Some(object) = add_finalizer(&api, object.as_ref(), &ctx.finalizer).await? else {
            return Ok(Action::await_change());
        };

        let configmaps: Api<ConfigMap> =
            Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
        let cm = configmap(&object);
        configmaps
            .patch(
                &cm.name_any(),
                &PatchParams::apply(NAME.as_str()).force(),
                &Patch::Apply(&cm),
            )
            .await?;

        let was_ready = is_ready(&object);
        let generation = object.meta().generation;
        let current = ready_condition(&object);
        let holds = current.is_some_and(|c| {
            c.status == "True" && c.reason == "Reconciled" && c.observed_generation == generation
        }) && object.status.as_ref().and_then(|s| s.observed_generation) == generation;
        if !holds {
            let since = current.filter(|c| c.status == "True").map_or_else(
                || Time(jiff::Timestamp::now()),
                |c| c.last_transition_time.clone(),
            );
            let mut conditions: Vec<Condition> = object
                .status
                .iter()
                .flat_map(|s| s.conditions.iter())
                .filter(|c| c.type_ != "Ready")
                .cloned()
                .collect();
            conditions.push(Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "Reconciled".into(),
                message: String::new(),
                observed_generation: generation,
                last_transition_time: since,
            });
            let patch = json!({"status": {
                "conditions": conditions,
                "observedGeneration": generation,
            }});
            api.patch_status(
                &object.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        if !was_ready {
            let event = Event {
                type_: EventType::Normal,
                reason: "Ready".into(),
                note: Some("all resources reconciled".into()),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
                eprintln!("bare: event: {e}");
            }
        }
        Ok(Action::requeue(Duration::from_secs(300)))
    }

    /// Adds `finalizer` unless present, re-reading on 409; `None`: the object
    /// is gone or being deleted.
    async fn add_finalizer(
        api: &Api<Greeting>,
        object: &Greeting,
        finalizer: &str,
    ) -> Result<Option<Greeting>, Error> {
        let mut current = object.clone();
        for _ in 0..5 {
            if current.meta().deletion_timestamp.is_some() {
                return Ok(None);
            }
            if current.finalizers().iter().any(|f| f == finalizer) {
                return Ok(Some(current));
            }
            let mut finalizers = current.finalizers().to_vec();
            finalizers.push(finalizer.to_owned());
            let patch = json!({"metadata": {
                "resourceVersion": current.resource_version(),
                "finalizers": finalizers,
            }});
            match api
                .patch(
                    &current.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(written) => return Ok(Some(written)),
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    match api.get_opt(&current.name_any()).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(None),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflicts)
    }

    /// The ConfigMap of `greeting`, as the example's `desired_configmap`
    /// plus what `Children` adds (namespace, managed-by, owner).
    fn configmap(greeting: &Greeting) -> ConfigMap {
        let who = greeting.spec.name.as_deref().unwrap_or("world");
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("{}-greeting", greeting.name_any())),
                namespace: greeting.namespace(),
                labels: Some([(MANAGED_BY_LABEL.to_owned(), NAME.to_string())].into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: Greeting::api_version(&()).into_owned(),
                    kind: Greeting::kind(&()).into_owned(),
                    name: greeting.name_any(),
                    uid: greeting.uid().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            data: Some(
                [(
                    "greeting".to_owned(),
                    format!("{}, {who}!", greeting.spec.message),
                )]
                .into(),
            ),
            ..Default::default()
        }
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("operator");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(60));
    for contender in [Contender::Operatorkit, Contender::Bare] {
        let runs: RefCell<Vec<Run>> = RefCell::default();
        group.bench_function(
            format!("{} {OBJECTS} objects to Ready", contender.name()),
            |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let runs = &runs;
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let run = run_once(contender).await;
                            if runs.borrow().is_empty() {
                                run.report(contender);
                            }
                            total += run.elapsed;
                            runs.borrow_mut().push(run);
                        }
                        total
                    }
                });
            },
        );
        summarize(contender, &runs.borrow());
    }
    group.finish();
}

/// Requests per object over all runs of `contender`: min, mean and max.
fn summarize(contender: Contender, runs: &[Run]) {
    if runs.is_empty() {
        return;
    }
    let per = |r: &Run, verbs: &[&str]| {
        let n: u64 = r
            .requests
            .iter()
            .filter(|(v, _)| verbs.is_empty() || verbs.contains(v))
            .map(|(_, n)| n)
            .sum();
        n as f64 / OBJECTS as f64
    };
    let stats = |f: &dyn Fn(&Run) -> f64| {
        let xs: Vec<f64> = runs.iter().map(f).collect();
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        format!("{min:.3}/{mean:.3}/{max:.3}")
    };
    eprintln!(
        "{}: over {} runs (min/mean/max): seconds to create {}, to Ready {}; per object: requests {}, writes {}, reconciles {}",
        contender.name(),
        runs.len(),
        stats(&|r| r.created.as_secs_f64()),
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| per(r, &[])),
        stats(&|r| per(r, &["create", "update", "patch", "delete"])),
        stats(&|r| r.reconciles as f64 / OBJECTS as f64),
    );
}

criterion_group!(operator_benches, benches);
criterion_main!(operator_benches);
