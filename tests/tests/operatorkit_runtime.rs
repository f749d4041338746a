//! The operator process through operatorkit: `/metrics` (clean under
//! `promtool check metrics`), `/healthz` and `/readyz` (false until the caches
//! are synced), leader election between two replicas, and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::support::{http_get, promtool_check_metrics};
use e2e::widget::{self, Journal, WAIT, Widget};
use kube::CustomResourceExt;
use kube::api::{Api, PostParams};
use operatorkit::leader::LeaderElectionConfig;
use operatorkit::testing::{OperatorRun, TestEnv, wait_for};
use operatorkit::{Context, Operator, Outcome, Settings, Step, StepError, async_trait};

fn local_health() -> Settings {
    Settings {
        health_address: Some(([127, 0, 0, 1], 0).into()),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_waits_for_the_caches_and_metrics_pass_promtool() {
    // The CRD is not installed yet: the watch cannot list, so not ready.
    let env = TestEnv::start().await.unwrap();
    let journal = Arc::new(Journal::default());
    let (op, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    let run = env.run_operator(op, local_health()).await.unwrap();
    let url = run.health_url().unwrap();
    assert_eq!(http_get(&format!("{url}/healthz")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, body) = http_get(&format!("{url}/readyz")).await;
    assert_eq!(code, 503, "{body}");

    env.install_crds([Widget::crd()]).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while http_get(&format!("{url}/readyz")).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (api, name) = widget::create(&env, 1).await;
    widget::wait_ready(&api, &name).await;

    let (code, text) = http_get(&format!("{url}/metrics")).await;
    assert_eq!(code, 200);
    for metric in [
        "operatorkit_reconcile_total{",
        "operatorkit_reconcile_duration_seconds_bucket{",
        "operatorkit_step_duration_seconds_bucket{",
        "operatorkit_watched_objects{controller=\"widget-operator\"} 1",
        "operatorkit_last_success_timestamp_seconds{",
        "operatorkit_active_reconciles{",
        "operatorkit_queue_depth{",
        "operatorkit_leader{controller=\"widget-operator\"} 1",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    let (ok, output) = promtool_check_metrics(&text);
    assert!(ok && output.trim().is_empty(), "promtool: {output}");
    run.stop().await;
    env.stop().await;
}

fn leader_settings(lease: &str, namespace: &str, identity: &str) -> Settings {
    let mut config = LeaderElectionConfig::new(lease, namespace, identity);
    config.lease_duration = Duration::from_secs(4);
    config.renew_deadline = Duration::from_secs(3);
    config.retry_period = Duration::from_millis(300);
    Settings {
        leader_election: Some(config),
        instance: identity.to_owned(),
        ..Settings::default()
    }
}

fn is_leader(run: &OperatorRun) -> bool {
    run.metrics()
        .encode()
        .unwrap()
        .lines()
        .any(|l| l.starts_with("operatorkit_leader{") && l.ends_with(" 1"))
}

async fn wait_leader(runs: &[&OperatorRun]) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let leaders: Vec<_> = (0..runs.len()).filter(|&i| is_leader(runs[i])).collect();
        assert!(leaders.len() <= 1, "two leaders at once");
        if let [one] = leaders[..] {
            return one;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_leader_election_exactly_one_replica_reconciles_and_the_other_takes_over() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Widget::crd()]).await.unwrap();
    let journal = Arc::new(Journal::default());
    let lease = env.name("lease");
    let mut runs = Vec::new();
    for replica in ["a", "b"] {
        let (op, ..) = widget::operator("1", replica, &journal, Duration::from_secs(300));
        let settings = leader_settings(&lease, env.namespace(), replica);
        runs.push(env.run_operator(op, settings).await.unwrap());
    }
    let leader = wait_leader(&[&runs[0], &runs[1]]).await;
    let standby = 1 - leader;
    let (leader_name, standby_name) = (["a", "b"][leader], ["a", "b"][standby]);
    // A standby replica is ready (and idle): its campaign task sets that as
    // it starts, which may be just after the leader was elected.
    let deadline = Instant::now() + WAIT;
    while !runs[standby].is_ready() {
        assert!(Instant::now() < deadline, "the standby never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let api: Api<Widget> = env.api();
    let first = env.name("w");
    api.create(&PostParams::default(), &widget::widget(&first, "1", 1))
        .await
        .unwrap();
    widget::wait_ready(&api, &first).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replicas: Vec<_> = journal.entries().into_iter().map(|e| e.replica).collect();
    assert!(
        !replicas.is_empty() && replicas.iter().all(|r| r == leader_name),
        "{replicas:?}"
    );
    // The standby wrote nothing but its lease attempts (it made no patch of widgets).
    assert_eq!(
        runs[standby].requests().snapshot().get("patch"),
        None,
        "{:?}",
        runs[standby].requests().snapshot()
    );

    // Stop the leader: it releases the lease, the standby takes over well
    // within the lease duration.
    let old = runs.remove(leader);
    let stopped = Instant::now();
    old.stop().await;
    let new = &runs[0];
    while !is_leader(new) {
        assert!(
            stopped.elapsed() < Duration::from_secs(4),
            "no take-over within the lease duration"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = env.name("w");
    api.create(&PostParams::default(), &widget::widget(&second, "1", 2))
        .await
        .unwrap();
    widget::wait_ready(&api, &second).await;
    assert!(
        journal
            .of(&second)
            .iter()
            .all(|e| e.replica == standby_name)
    );
    runs.remove(0).stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_leader_is_replaced_once_its_lease_expires() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Widget::crd()]).await.unwrap();
    let journal = Arc::new(Journal::default());
    let lease = env.name("lease");
    let (op, ..) = widget::operator("1", "a", &journal, Duration::from_secs(300));
    let a = env
        .run_operator(op, leader_settings(&lease, env.namespace(), "a"))
        .await
        .unwrap();
    wait_leader(&[&a]).await;
    let (op, ..) = widget::operator("1", "b", &journal, Duration::from_secs(300));
    let b = env
        .run_operator(op, leader_settings(&lease, env.namespace(), "b"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!is_leader(&b));
    let crashed = Instant::now();
    a.kill();
    while !is_leader(&b) {
        assert!(
            crashed.elapsed() < Duration::from_secs(12),
            "no take-over after the lease expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not before the lease (4s) could have expired.
    assert!(
        crashed.elapsed() >= Duration::from_secs(3),
        "{:?}",
        crashed.elapsed()
    );
    b.stop().await;
    env.stop().await;
}

/// A resource that takes its time.
struct Slow(Duration);

#[async_trait]
impl Step<Widget> for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    async fn ensure_created(&self, _: &Context<Widget>) -> Result<Outcome, StepError> {
        tokio::time::sleep(self.0).await;
        Ok(Outcome::Done)
    }
    async fn ensure_deleted(&self, _: &Context<Widget>) -> Result<Outcome, StepError> {
        Ok(Outcome::Done)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_in_flight_loops_finish_up_to_the_deadline() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Widget::crd()]).await.unwrap();
    let api: Api<Widget> = env.api();

    // In time: the loop in flight finishes, so the object ends Ready.
    let op = Operator::<Widget>::new(widget::OPERATOR, "1").step(Slow(Duration::from_secs(1)));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let name = env.name("w");
    api.create(&PostParams::default(), &widget::widget(&name, "1", 1))
        .await
        .unwrap();
    wait_for(&api, &name, WAIT, |w: Option<&Widget>| {
        w.is_some_and(|w| !w.metadata.finalizers.clone().unwrap_or_default().is_empty())
    })
    .await
    .unwrap();
    run.stop().await;
    assert!(
        api.get(&name).await.unwrap().is_ready(),
        "the in-flight loop was cut short"
    );

    // Past the deadline: the stop does not wait for the slow loop.
    let op = Operator::<Widget>::new(widget::OPERATOR, "1").step(Slow(Duration::from_secs(60)));
    let settings = Settings {
        shutdown_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let run = env.run_operator(op, settings).await.unwrap();
    let other = env.name("w");
    api.create(&PostParams::default(), &widget::widget(&other, "1", 1))
        .await
        .unwrap();
    wait_for(&api, &other, WAIT, |w: Option<&Widget>| {
        w.is_some_and(|w| !w.metadata.finalizers.clone().unwrap_or_default().is_empty())
    })
    .await
    .unwrap();
    let stopping = Instant::now();
    run.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "{:?}",
        stopping.elapsed()
    );
    assert!(!api.get(&other).await.unwrap().is_ready());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_that_loses_its_lease_stops_reconciling() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::ResourceExt;
    use kube::api::{Patch, PatchParams};

    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let lease = env.name("lease");
    let (op, ..) = widget::operator("1", "a", &journal, Duration::from_secs(300));
    let run = env
        .run_operator(op, leader_settings(&lease, env.namespace(), "a"))
        .await
        .unwrap();
    wait_leader(&[&run]).await;

    // Someone else takes the lease (as after a network partition).
    let leases: Api<Lease> = env.api();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now());
    let taken = serde_json::json!({"spec": {
        "holderIdentity": "intruder", "leaseDurationSeconds": 3600, "renewTime": now
    }});
    leases
        .patch(&lease, &PatchParams::default(), &Patch::Merge(taken))
        .await
        .unwrap();
    let lost = Instant::now();
    while is_leader(&run) {
        // renew deadline (3s) plus a retry period: well within the lease (4s).
        assert!(lost.elapsed() < Duration::from_secs(4), "still leading");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It no longer reconciles.
    let (api, name) = widget::create(&env, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(api.get(&name).await.unwrap().finalizers().is_empty());
    assert!(journal.of(&name).is_empty());
    assert_eq!(
        leases
            .get(&lease)
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("intruder")
    );
    run.stop().await;
    env.stop().await;
}
