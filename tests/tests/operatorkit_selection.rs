//! Which objects an operator touches: two versions side by side, each with
//! its own labelled objects, handing one over by relabelling; paused objects
//! left alone until unpaused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use e2e::widget::{self, Journal, Op, WAIT, Widget};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::Settings;
use operatorkit::keys::PAUSED_ANNOTATION;
use operatorkit::testing::wait_for;
use serde_json::json;

const FINALIZER: &str = "operatorkit.dev/widget-operator";

#[tokio::test(flavor = "multi_thread")]
async fn two_versions_reconcile_their_own_objects_and_hand_over_by_relabelling() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (v1, ..) = widget::operator("1.0.0", "v1", &journal, Duration::from_secs(300));
    let (v2, ..) = widget::operator("2.0.0", "v2", &journal, Duration::from_secs(300));
    let run1 = env.run_operator(v1, Settings::default()).await.unwrap();
    let run2 = env.run_operator(v2, Settings::default()).await.unwrap();
    let api: Api<Widget> = env.api();
    let old = env.name("old");
    let new = env.name("new");
    api.create(&PostParams::default(), &widget::widget(&old, "1.0.0", 1))
        .await
        .unwrap();
    api.create(&PostParams::default(), &widget::widget(&new, "2.0.0", 2))
        .await
        .unwrap();
    widget::wait_ready(&api, &old).await;
    widget::wait_ready(&api, &new).await;
    assert!(
        journal.of(&old).iter().all(|e| e.replica == "v1"),
        "{:?}",
        journal.of(&old)
    );
    assert!(
        journal.of(&new).iter().all(|e| e.replica == "v2"),
        "{:?}",
        journal.of(&new)
    );

    // Relabel the old one for v2: v2 takes it over, finalizer included.
    // First v1 finishes the loops that follow its first one (triggered by
    // its own finalizer and children): a loop in flight during the relabel
    // would rightly finish, and this checks that none starts after it.
    widget::wait_idle(&journal, &old, &run1).await;
    let before = journal.of(&old).len();
    api.patch(
        &old,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {widget::OPERATOR.version_label(): "2.0.0"}}})),
    )
    .await
    .unwrap();
    for _ in 0..200 {
        if journal.of(&old)[before..].iter().any(|e| e.replica == "v2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after: Vec<_> = journal.of(&old)[before..].to_vec();
    assert!(
        after.iter().any(|e| e.replica == "v2"),
        "v2 never took over: {after:?}"
    );
    assert!(
        after.iter().all(|e| e.replica == "v2"),
        "v1 still touched it: {after:?}"
    );
    let w = api.get(&old).await.unwrap();
    assert_eq!(w.finalizers(), [FINALIZER.to_owned()]);

    // Deleting it is now v2's duty.
    api.delete(&old, &DeleteParams::default()).await.unwrap();
    wait_for(&api, &old, WAIT, |w: Option<&Widget>| w.is_none())
        .await
        .unwrap();
    let deletes: Vec<_> = journal
        .of(&old)
        .into_iter()
        .filter(|e| e.op == Op::Delete)
        .collect();
    assert!(
        !deletes.is_empty() && deletes.iter().all(|e| e.replica == "v2"),
        "{deletes:?}"
    );
    run1.stop().await;
    run2.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_objects_are_untouched_until_unpaused() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let api: Api<Widget> = env.api();
    let paused = env.name("paused");
    let mut w = widget::widget(&paused, "1", 1);
    w.metadata.annotations = Some([(PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    // A sibling created after it becomes Ready: the operator has seen both.
    let sibling = env.name("sibling");
    api.create(&PostParams::default(), &widget::widget(&sibling, "1", 1))
        .await
        .unwrap();
    widget::wait_ready(&api, &sibling).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let untouched = api.get(&paused).await.unwrap();
    assert_eq!(untouched.resource_version(), created.resource_version());
    assert!(untouched.finalizers().is_empty());
    assert!(untouched.status.is_none());
    assert!(journal.of(&paused).is_empty());

    // Unpaused, it converges.
    api.patch(
        &paused,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}})),
    )
    .await
    .unwrap();
    let w = widget::wait_ready(&api, &paused).await;
    assert_eq!(w.finalizers(), [FINALIZER.to_owned()]);

    // Paused again, even deletion leaves it alone: the finalizer stays.
    api.patch(
        &paused,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}})),
    )
    .await
    .unwrap();
    api.delete(&paused, &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = api.get(&paused).await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), [FINALIZER.to_owned()]);
    assert!(journal.of(&paused).iter().all(|e| e.op == Op::Create));
    api.patch(
        &paused,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}})),
    )
    .await
    .unwrap();
    wait_for(&api, &paused, WAIT, |w: Option<&Widget>| w.is_none())
        .await
        .unwrap();
    run.stop().await;
    env.stop().await;
}
