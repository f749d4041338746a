//! The operator lifecycle through operatorkit: creation (finalizer first,
//! resources in order, Ready, an Event, then no writes), deletion (resources
//! in reverse, finalizer last, keep-finalizer) and children recreated on
//! their own watch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use e2e::widget::{self, Behaviour, Journal, Op, WAIT, Widget};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use operatorkit::testing::wait_for;
use operatorkit::{Outcome, Settings};

#[tokio::test(flavor = "multi_thread")]
async fn create_runs_resources_in_order_then_steady_state_writes_nothing() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(1));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 3).await;

    let w = widget::wait_ready(&api, &name).await;
    assert!(
        w.finalizers()
            .contains(&"operatorkit.dev/widget-operator".to_owned())
    );
    let status = w.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, w.metadata.generation);
    let ready = w.condition("Ready").unwrap();
    assert_eq!(ready.reason, "Reconciled");
    assert_eq!(ready.observed_generation, w.metadata.generation);

    // Resources ran in order, each already seeing the finalizer.
    let calls = journal.of(&name);
    let order: Vec<_> = calls.iter().take(2).map(|e| e.resource.as_str()).collect();
    assert_eq!(order, ["first", "second"]);
    assert!(
        calls.iter().all(|e| e.op == Op::Create && e.had_finalizer),
        "{calls:?}"
    );
    // The child exists, owned by the widget.
    let cms: Api<ConfigMap> = env.api();
    let cm = wait_for(
        &cms,
        &format!("{name}-size"),
        WAIT,
        |c: Option<&ConfigMap>| c.is_some(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(cm.data.as_ref().unwrap()["size"], "3");
    assert_eq!(cm.owner_references()[0].uid, w.uid().unwrap());

    // A Normal event says it became ready.
    let ready_event = e2e::support::wait_for_event(&env.api::<Event>(), &name, "Ready", WAIT).await;
    assert_eq!(ready_event.type_.as_deref(), Some("Normal"));

    // Let the loops following our own writes settle, then: three resyncs, no writes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writes_before = run.requests().writes();
    let server_before = env
        .embedded()
        .map(|s| s.requests().by_user_agent(run.user_agent()));
    let loops_before = widget::metric(&run, "operatorkit_reconcile_total", &["result=\"success\""])
        + widget::metric(&run, "operatorkit_reconcile_total", &["result=\"requeue\""]);
    tokio::time::sleep(Duration::from_millis(3600)).await;
    let loops_after = widget::metric(&run, "operatorkit_reconcile_total", &["result=\"success\""])
        + widget::metric(&run, "operatorkit_reconcile_total", &["result=\"requeue\""]);
    assert!(
        loops_after >= loops_before + 3.0,
        "resync ran {loops_before} -> {loops_after}"
    );
    assert_eq!(
        run.requests().writes(),
        writes_before,
        "{:?}",
        run.requests().snapshot()
    );
    if let (Some(server), Some(before)) = (env.embedded(), server_before) {
        // The server saw the same: no create, update, patch or delete.
        let after = server.requests().by_user_agent(run.user_agent());
        for verb in ["create", "update", "patch", "delete"] {
            assert_eq!(
                after.get(verb),
                before.get(verb),
                "{verb}: {before:?} -> {after:?}"
            );
        }
    }
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_runs_steps_in_reverse_and_a_waiting_step_delays_removal() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, _, _, first_delete) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 1).await;
    widget::wait_ready(&api, &name).await;

    // `first` keeps the finalizer: the object stays, and is looked at again.
    first_delete.set(Behaviour::Return(Outcome::Wait(Duration::from_millis(200))));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    for _ in 0..100 {
        let deletes = journal
            .of(&name)
            .iter()
            .filter(|e| e.resource == "first" && e.op == Op::Delete)
            .count();
        if deletes >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = api.get(&name).await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(
        held.finalizers()
            .contains(&"operatorkit.dev/widget-operator".to_owned())
    );
    let deletes: Vec<_> = journal
        .of(&name)
        .into_iter()
        .filter(|e| e.op == Op::Delete)
        .collect();
    assert!(
        deletes.iter().filter(|e| e.resource == "first").count() >= 3,
        "{deletes:?}"
    );
    // The cause clears: the finalizer goes and the object with it.
    first_delete.set(Behaviour::Return(Outcome::Done));
    wait_for(&api, &name, WAIT, |w: Option<&Widget>| w.is_none())
        .await
        .unwrap();

    // Every deletion loop ran the resources in reverse: the ConfigMap resource
    // (not recorded) first, then second, then first.
    let deletes: Vec<_> = journal
        .of(&name)
        .into_iter()
        .filter(|e| e.op == Op::Delete)
        .map(|e| e.resource)
        .collect();
    for pair in deletes.chunks(2) {
        assert_eq!(pair, ["second", "first"], "{deletes:?}");
    }
    // The ConfigMap was deleted by its resource (the test server has no
    // garbage collector delay to hide behind: it is gone either way).
    let cms: Api<ConfigMap> = env.api();
    wait_for(
        &cms,
        &format!("{name}-size"),
        WAIT,
        |c: Option<&ConfigMap>| c.is_none(),
    )
    .await
    .unwrap();
    // Nothing ran for the object after its finalizer was removed.
    let last = journal.of(&name).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(journal.of(&name).len(), last);
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_deleted_behind_the_operators_back_comes_back_without_resync() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    // Resync an hour away: only the child's watch can bring it back.
    let (op, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(3600));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (_, name) = widget::create(&env, 5).await;
    let cms: Api<ConfigMap> = env.api();
    let cm_name = format!("{name}-size");
    let first = wait_for(&cms, &cm_name, WAIT, |c: Option<&ConfigMap>| c.is_some())
        .await
        .unwrap()
        .unwrap();
    cms.delete(&cm_name, &DeleteParams::default())
        .await
        .unwrap();
    let again = wait_for(&cms, &cm_name, WAIT, |c: Option<&ConfigMap>| {
        c.is_some_and(|c| c.uid() != first.uid())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(again.data.as_ref().unwrap()["size"], "5");

    // A change behind its back is reverted as well.
    let mut drifted = again.clone();
    drifted.data = Some([("size".to_owned(), "999".to_owned())].into());
    cms.replace(&cm_name, &PostParams::default(), &drifted)
        .await
        .unwrap();
    wait_for(&cms, &cm_name, WAIT, |c: Option<&ConfigMap>| {
        c.and_then(|c| c.data.as_ref())
            .is_some_and(|d| d["size"] == "5")
    })
    .await
    .unwrap();
    run.stop().await;
    env.stop().await;
}
