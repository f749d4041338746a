//! Failures through operatorkit: per-object backoff that grows and resets,
//! panics contained to their object, errors in the Ready condition and in
//! Events, and status writes that survive a 409.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use e2e::widget::{self, Behaviour, Journal, Op, WAIT, Widget};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use operatorkit::{Context, Operator, Outcome, Settings, Step, StepError, async_trait};
use serde_json::json;

/// Gaps between consecutive `ensure_created` calls of `first` for `object`.
fn gaps(journal: &Journal, object: &str) -> Vec<Duration> {
    let calls: Vec<_> = journal
        .of(object)
        .into_iter()
        .filter(|e| e.resource == "first" && e.op == Op::Create)
        .collect();
    calls.windows(2).map(|w| w[1].at - w[0].at).collect()
}

async fn wait_calls(journal: &Journal, object: &str, n: usize) {
    for _ in 0..300 {
        if gaps(journal, object).len() + 1 >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} calls: {:?}", journal.of(object));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_resource_backs_off_with_growing_delays_and_resets_after_success() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, first, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    first.set(Behaviour::Fail("the backend is down".into()));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 1).await;

    // Backoff 200ms, doubling, no jitter: 200, 400, 800, 1600 ms.
    wait_calls(&journal, &name, 5).await;
    let g = gaps(&journal, &name);
    for w in g.windows(2).take(3) {
        assert!(w[1] > w[0], "delays must grow: {g:?}");
    }
    assert!(g[3] >= Duration::from_millis(1500), "{g:?}");
    // The error is visible: Ready False with the resource and message, and a
    // Warning Event.
    let w = api.get(&name).await.unwrap();
    let ready = w.condition("Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "ReconcileFailed");
    assert!(
        ready.message.contains("first") && ready.message.contains("the backend is down"),
        "{ready:?}"
    );
    let event =
        e2e::support::wait_for_event(&env.api::<Event>(), &name, "ReconcileFailed", WAIT).await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        widget::metric(
            &run,
            "operatorkit_step_errors_total",
            &["step=\"first\"", "category=\"transient\""]
        ) >= 5.0
    );

    // Recovery: the next attempt succeeds and the object becomes Ready.
    first.set(Behaviour::Return(Outcome::Done));
    widget::wait_ready(&api, &name).await;
    // Failing again starts from the first delay, not from where it stopped.
    let before = journal.of(&name).len();
    first.set(Behaviour::Fail("down again".into()));
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    for _ in 0..300 {
        let n = journal.of(&name)[before..]
            .iter()
            .filter(|e| e.resource == "first")
            .count();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again: Vec<_> = journal.of(&name)[before..]
        .iter()
        .filter(|e| e.resource == "first")
        .map(|e| e.at)
        .collect();
    assert!(again.len() >= 2, "{again:?}");
    let first_gap = again[1] - again[0];
    assert!(
        first_gap < Duration::from_millis(1000),
        "backoff was not reset: {first_gap:?}"
    );
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_resource_fails_its_object_only() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, _, second, _) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    let api: Api<Widget> = env.api();
    let bad = env.name("bad");
    let good = env.name("good");
    second.set_for(&bad, Behaviour::Panic);
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    api.create(&PostParams::default(), &widget::widget(&bad, "1", 1))
        .await
        .unwrap();
    wait_calls(&journal, &bad, 2).await;
    // The operator still serves other objects.
    api.create(&PostParams::default(), &widget::widget(&good, "1", 1))
        .await
        .unwrap();
    widget::wait_ready(&api, &good).await;
    let w = api.get(&bad).await.unwrap();
    let ready = w.condition("Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("second") && ready.message.contains("panicked"),
        "{ready:?}"
    );
    assert!(widget::metric(&run, "operatorkit_reconcile_total", &["result=\"panic\""]) >= 1.0);
    assert!(
        widget::metric(
            &run,
            "operatorkit_step_errors_total",
            &["step=\"second\"", "category=\"panic\""]
        ) >= 1.0
    );
    // Fixed, it converges.
    second.set(Behaviour::Return(Outcome::Done));
    widget::wait_ready(&api, &bad).await;
    run.stop().await;
    env.stop().await;
}

/// A resource that, the first time, writes a condition of its own into the
/// status behind the operator's back, so the operator's status write meets a
/// 409.
struct Interloper {
    client: kube::Client,
    done: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Step<Widget> for Interloper {
    fn name(&self) -> &str {
        "interloper"
    }
    async fn ensure_created(&self, request: &Context<Widget>) -> Result<Outcome, StepError> {
        request.set_condition(
            operatorkit::condition("Interloped")
                .is(true)
                .because("Tested")
                .message("set by the operator"),
        );
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let api: Api<Widget> = Api::namespaced(self.client.clone(), &request.namespace());
            let status = json!({"status": {"conditions": [{
                "type": "External", "status": "True", "reason": "SomeoneElse",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]}});
            api.patch_status(
                &request.name(),
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await?;
        }
        Ok(Outcome::Done)
    }
    async fn ensure_deleted(&self, _: &Context<Widget>) -> Result<Outcome, StepError> {
        Ok(Outcome::Done)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_409_on_the_status_write_is_retried_without_losing_either_update() {
    let env = widget::env().await;
    let op = Operator::<Widget>::new(widget::OPERATOR, "1").step(Interloper {
        client: env.client(),
        done: false.into(),
    });
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 1).await;
    let w = widget::wait_ready(&api, &name).await;
    // Both writers' conditions are there: nothing was lost.
    assert_eq!(w.condition("External").unwrap().reason, "SomeoneElse");
    assert_eq!(w.condition("Interloped").unwrap().status, "True");
    assert!(widget::metric(&run, "operatorkit_status_conflicts_total", &[]) >= 1.0);
    // And no error was counted: the conflict was retried inside the loop.
    assert_eq!(
        widget::metric(&run, "operatorkit_reconcile_total", &["result=\"error\""]),
        0.0
    );
    assert!(
        w.finalizers()
            .contains(&"operatorkit.dev/widget-operator".to_owned())
    );
    run.stop().await;
    env.stop().await;
}
