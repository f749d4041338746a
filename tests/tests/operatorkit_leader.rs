//! operatorkit's leader election on a Lease, black-box: one leader among
//! candidates, release on shutdown, stepping down when the lease is taken, and
//! take-over only after a crashed leader's lease expired.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use operatorkit::leader::{LeaderElectionConfig, LeaderElector};
use operatorkit::testing::TestEnv;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(1500);
const RETRY: Duration = Duration::from_millis(200);

/// One running elector of a test.
struct Candidate {
    identity: String,
    rx: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn start(env: &TestEnv, lease: &str, identity: &str, durations: [Duration; 3]) -> Candidate {
    let mut config = LeaderElectionConfig::new(lease, env.namespace(), identity);
    [
        config.lease_duration,
        config.renew_deadline,
        config.retry_period,
    ] = durations;
    let elector = LeaderElector::new(env.client(), config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (rx, handle) = elector.spawn(async move {
        let _ = stopped.await;
    });
    Candidate {
        identity: identity.to_owned(),
        rx,
        stop: Some(stop),
        handle,
    }
}

/// Waits until one of `candidates` leads; returns its index.
async fn wait_for_leader(candidates: &[Candidate], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        if let Some(i) = candidates.iter().position(|c| *c.rx.borrow()) {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader within {within:?}");
        sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for(rx: &mut watch::Receiver<bool>, value: bool, within: Duration) -> bool {
    matches!(
        timeout(within, rx.wait_for(|v| *v == value)).await,
        Ok(Ok(_))
    )
}

async fn holder(api: &Api<Lease>, name: &str) -> Option<String> {
    api.get(name).await.unwrap().spec.unwrap().holder_identity
}

#[tokio::test]
async fn exactly_one_of_three_leads() -> TestResult {
    init_tracing();
    let env = TestEnv::start().await?;
    let lease = env.name("lease");
    // Staggered starts, so the candidates' attempts fall between each other's.
    let mut candidates = Vec::new();
    for i in 0..3 {
        candidates.push(start(
            &env,
            &lease,
            &format!("replica-{i}"),
            [LEASE, RENEW, RETRY],
        ));
        sleep(Duration::from_millis(70)).await;
    }
    wait_for_leader(&candidates, Duration::from_secs(10)).await;
    // Sample past a whole lease duration: never two leaders, and the same one.
    let mut leaders = std::collections::BTreeSet::new();
    let until = Instant::now() + LEASE + Duration::from_secs(1);
    while Instant::now() < until {
        let leading: Vec<&str> = candidates
            .iter()
            .filter(|c| *c.rx.borrow())
            .map(|c| c.identity.as_str())
            .collect();
        assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
        leaders.extend(leading.into_iter().map(str::to_owned));
        sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(leaders.len(), 1, "leadership moved: {leaders:?}");
    let leading: Vec<&Candidate> = candidates.iter().filter(|c| *c.rx.borrow()).collect();
    assert_eq!(leading.len(), 1);
    let api: Api<Lease> = env.api();
    assert_eq!(
        holder(&api, &lease).await.as_deref(),
        Some(leading[0].identity.as_str())
    );
    for c in candidates {
        c.handle.abort();
    }
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_releases_the_lease() -> TestResult {
    init_tracing();
    let env = TestEnv::start().await?;
    let lease = env.name("lease");
    // A long lease, so a take-over that waits for expiry cannot pass.
    let durations = [Duration::from_secs(6), Duration::from_secs(4), RETRY];
    let mut candidates = vec![
        start(&env, &lease, "replica-a", durations),
        start(&env, &lease, "replica-b", durations),
    ];
    let first = wait_for_leader(&candidates, Duration::from_secs(10)).await;
    // Let the standby observe a few renewals.
    sleep(RETRY * 3).await;
    let mut old = candidates.remove(first);
    let mut standby = candidates.remove(0);
    assert!(!*standby.rx.borrow());

    let stopped_at = Instant::now();
    old.stop.take().unwrap().send(()).unwrap();
    assert!(wait_for(&mut old.rx, false, Duration::from_secs(5)).await);
    timeout(Duration::from_secs(5), old.handle).await??;
    assert!(
        wait_for(&mut standby.rx, true, durations[0]).await,
        "standby did not take over within the lease duration"
    );
    let took = stopped_at.elapsed();
    assert!(took < durations[0], "take-over took {took:?}");
    let api: Api<Lease> = env.api();
    assert_eq!(holder(&api, &lease).await, Some(standby.identity.clone()));
    standby.handle.abort();
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn leader_steps_down_when_lease_is_taken() -> TestResult {
    init_tracing();
    let env = TestEnv::start().await?;
    let lease = env.name("lease");
    let mut c = start(&env, &lease, "replica-a", [LEASE, RENEW, RETRY]);
    assert!(wait_for(&mut c.rx, true, Duration::from_secs(10)).await);

    // Overwrite the holder; retry when the leader's renewal gets in between.
    let api: Api<Lease> = env.api();
    let mut attempts = 0;
    loop {
        let mut l = api.get(&lease).await?;
        let spec = l.spec.get_or_insert_default();
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        spec.lease_duration_seconds = Some(3600);
        match api.replace(&lease, &PostParams::default(), &l).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 20 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
    assert!(
        wait_for(&mut c.rx, false, RENEW + RETRY).await,
        "leader did not step down within renew_deadline + retry_period"
    );
    // It stays a candidate and leaves the intruder's unexpired lease alone.
    sleep(LEASE).await;
    assert!(!*c.rx.borrow());
    assert!(!c.handle.is_finished());
    assert_eq!(holder(&api, &lease).await.as_deref(), Some("intruder"));
    c.handle.abort();
    env.stop().await;
    Ok(())
}

#[tokio::test]
async fn killed_leader_is_replaced_after_expiry() -> TestResult {
    init_tracing();
    let env = TestEnv::start().await?;
    let lease = env.name("lease");
    let mut candidates = vec![
        start(&env, &lease, "replica-a", [LEASE, RENEW, RETRY]),
        start(&env, &lease, "replica-b", [LEASE, RENEW, RETRY]),
    ];
    let first = wait_for_leader(&candidates, Duration::from_secs(10)).await;
    sleep(RETRY * 3).await;
    let old = candidates.remove(first);
    let mut standby = candidates.remove(0);

    old.handle.abort();
    assert!(old.handle.await.unwrap_err().is_cancelled());
    let killed_at = Instant::now();
    sleep(Duration::from_millis(100)).await;
    let api: Api<Lease> = env.api();
    let before = api.get(&lease).await?.spec.unwrap();
    assert_eq!(
        before.holder_identity.as_deref(),
        Some(old.identity.as_str())
    );
    let last_renewal = before.renew_time.unwrap().0;

    // Not before the lease has expired (coarse: the last renewal may have come
    // up to a retry period and a request before the kill; exact check below)...
    let early = (killed_at + LEASE - RETRY * 3).saturating_duration_since(Instant::now());
    assert!(
        !wait_for(&mut standby.rx, true, early).await,
        "took over too early"
    );
    // ...but soon after.
    assert!(
        wait_for(&mut standby.rx, true, Duration::from_secs(10)).await,
        "standby never took over"
    );
    let waited = killed_at.elapsed();
    let after = api.get(&lease).await?.spec.unwrap();
    assert_eq!(
        after.holder_identity.as_deref(),
        Some(standby.identity.as_str())
    );
    assert_eq!(
        after.lease_transitions,
        Some(before.lease_transitions.unwrap_or(0) + 1)
    );
    // The take-over came a whole lease duration after the last renewal seen.
    let acquired = after.acquire_time.unwrap().0;
    let gap = acquired.duration_since(last_renewal);
    assert!(
        gap >= jiff::SignedDuration::try_from(LEASE)?,
        "taken over {gap:?} after the last renewal"
    );
    assert!(
        waited < LEASE + Duration::from_secs(5),
        "take-over took {waited:?}"
    );
    standby.handle.abort();
    env.stop().await;
    Ok(())
}
