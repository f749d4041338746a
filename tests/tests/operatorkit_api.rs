//! The operatorkit 0.2 API through `operatorkit::testing`: permanent errors,
//! the three outcomes, children declared in one call with drift that notices
//! removed keys, reads that see the operator's own writes, and objects no
//! version reconciles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::widget::{self, Behaviour, Journal, Op, WAIT, Widget};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use operatorkit::testing::wait_for;
use operatorkit::{Context, Operator, Outcome, Settings, Step, StepError, async_trait};
use serde_json::json;

fn calls(journal: &Journal, object: &str, step: &str) -> usize {
    journal
        .of(object)
        .iter()
        .filter(|e| e.resource == step && e.op == Op::Create)
        .count()
}

async fn events(env: &operatorkit::testing::TestEnv, name: &str, reason: &str) -> usize {
    let params = ListParams::default().fields(&format!("regarding.name={name}"));
    let list = env.api::<Event>().list(&params).await.unwrap();
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count.max(1) as usize))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_error_is_reported_once_and_not_retried_until_the_object_changes() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    // Resync 1 s: a retry or a resync would show within the 3 s watched below.
    let (op, first, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(1));
    first.set(Behaviour::FailPermanently("size 7 is not allowed".into()));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 7).await;

    let w = wait_for(&api, &name, WAIT, |w: Option<&Widget>| {
        w.and_then(|w| w.condition("Ready"))
            .is_some_and(|c| c.reason == "ReconcileRejected")
    })
    .await
    .unwrap()
    .unwrap();
    let ready = w.condition("Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("first") && ready.message.contains("size 7"),
        "{ready:?}"
    );
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "ReconcileRejected", WAIT).await;

    // The loops the first one triggered (its own finalizer) settle; then no
    // retry, no resync: the count stays put.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let settled = calls(&journal, &name, "first");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        calls(&journal, &name, "first"),
        settled,
        "{:?}",
        journal.of(&name)
    );
    assert!(
        settled <= 2,
        "a permanent error was retried: {settled} calls"
    );
    assert_eq!(events(&env, &name, "ReconcileRejected").await, 1);
    assert_eq!(
        widget::metric(
            &run,
            "operatorkit_reconcile_total",
            &["result=\"permanent\""]
        ) as usize,
        settled
    );
    assert!(
        widget::metric(
            &run,
            "operatorkit_step_errors_total",
            &["category=\"permanent\""]
        ) >= 1.0
    );
    assert_eq!(
        widget::metric(&run, "operatorkit_reconcile_total", &["result=\"error\""]),
        0.0
    );

    // A change of the object is a new chance: fixed, it converges.
    first.set(Behaviour::Return(Outcome::Done));
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 3}})),
    )
    .await
    .unwrap();
    widget::wait_ready(&api, &name).await;
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_stops_the_loop_and_comes_back_recheck_after_goes_on() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, first, second, _) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    first.set(Behaviour::Return(Outcome::Wait(Duration::from_millis(300))));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 1).await;

    // Waiting: not Ready, later steps never run, and it is looked at again.
    let w = wait_for(&api, &name, WAIT, |w: Option<&Widget>| {
        w.and_then(|w| w.condition("Ready"))
            .is_some_and(|c| c.reason == "InProgress")
    })
    .await
    .unwrap()
    .unwrap();
    assert!(w.condition("Ready").unwrap().message.contains("first"));
    for _ in 0..100 {
        if calls(&journal, &name, "first") >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        calls(&journal, &name, "first") >= 4,
        "no recheck: {:?}",
        journal.of(&name)
    );
    assert_eq!(calls(&journal, &name, "second"), 0);
    let cms: Api<ConfigMap> = env.api();
    assert!(
        cms.get_opt(&format!("{name}-size"))
            .await
            .unwrap()
            .is_none()
    );

    // RecheckAfter: the next steps run, the object is Ready, and the loop
    // comes back after the recheck although nothing changed (resync 5 min).
    first.set(Behaviour::Return(Outcome::RecheckAfter(
        Duration::from_millis(400),
    )));
    second.set(Behaviour::Return(Outcome::Done));
    widget::wait_ready(&api, &name).await;
    let before = calls(&journal, &name, "second");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        calls(&journal, &name, "second") >= before + 2,
        "{:?}",
        journal.of(&name)
    );

    // On deletion RecheckAfter is Done: the finalizer goes.
    api.delete(&name, &Default::default()).await.unwrap();
    wait_for(&api, &name, WAIT, |w: Option<&Widget>| w.is_none())
        .await
        .unwrap();
    run.stop().await;
    env.stop().await;
}

/// A failing `ensure_deleted` keeps the finalizer and says so: Ready False
/// with `DeletionRejected` (permanent: not retried until the object changes)
/// or `DeletionFailed` (transient: retried), a Warning Event with the same
/// reason; once the step succeeds the object goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_deletion_keeps_the_finalizer_and_names_its_category() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, .., on_delete) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    on_delete.set(Behaviour::FailPermanently("the backend refuses".into()));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let (api, name) = widget::create(&env, 1).await;
    widget::wait_ready(&api, &name).await;
    api.delete(&name, &Default::default()).await.unwrap();

    let reason_is = |reason: &'static str| {
        move |w: Option<&Widget>| {
            w.and_then(|w| w.condition("Ready"))
                .is_some_and(|c| c.status == "False" && c.reason == reason)
        }
    };
    let w = wait_for(&api, &name, WAIT, reason_is("DeletionRejected"))
        .await
        .unwrap()
        .unwrap();
    assert!(w.metadata.deletion_timestamp.is_some());
    assert!(!w.finalizers().is_empty(), "{:?}", w.metadata);
    let message = &w.condition("Ready").unwrap().message;
    assert!(message.contains("backend refuses"), "{message}");
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "DeletionRejected", WAIT).await;

    // Transient: retried with backoff without any change of the object.
    on_delete.set(Behaviour::Fail("the backend is down".into()));
    let poke = json!({"metadata": {"annotations": {"test.operatorkit.dev/poke": "1"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&poke))
        .await
        .unwrap();
    wait_for(&api, &name, WAIT, reason_is("DeletionFailed"))
        .await
        .unwrap();
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "DeletionFailed", WAIT).await;
    let deletions = |journal: &Journal| {
        journal
            .of(&name)
            .iter()
            .filter(|e| e.op == Op::Delete)
            .count()
    };
    let before = deletions(&journal);
    for _ in 0..100 {
        if deletions(&journal) >= before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(deletions(&journal) >= before + 2, "not retried");
    assert!(api.get_opt(&name).await.unwrap().is_some());

    // Succeeding: the finalizer goes, and the object with it.
    on_delete.set(Behaviour::Return(Outcome::Done));
    wait_for(&api, &name, WAIT, |w: Option<&Widget>| w.is_none())
        .await
        .unwrap();
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "CleanedUp", WAIT).await;
    run.stop().await;
    env.stop().await;
}

/// The ConfigMap of a widget: its size, plus `extra` while the widget carries
/// the annotation `test.operatorkit.dev/extra`.
fn configmap_with_extra(cx: &Context<Widget>) -> Result<Vec<ConfigMap>, StepError> {
    let mut data = std::collections::BTreeMap::new();
    data.insert("size".to_owned(), cx.object().spec.size.to_string());
    if let Some(extra) = cx.object().annotations().get("test.operatorkit.dev/extra") {
        data.insert("extra".to_owned(), extra.clone());
    }
    Ok(vec![ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{}-cm", cx.name())),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }])
}

#[tokio::test(flavor = "multi_thread")]
async fn children_in_one_call_notice_a_key_removed_from_the_desired_object() {
    let env = widget::env().await;
    // `children` alone: no `owns` call; the watch comes with it.
    let op =
        Operator::<Widget>::new(widget::OPERATOR, "1").children("configmap", configmap_with_extra);
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let api: Api<Widget> = env.api();
    let cms: Api<ConfigMap> = env.api();
    let name = env.name("w");
    let mut w = widget::widget(&name, "1", 2);
    w.metadata.annotations =
        Some([("test.operatorkit.dev/extra".to_owned(), "x".to_owned())].into());
    api.create(&PostParams::default(), &w).await.unwrap();
    widget::wait_ready(&api, &name).await;
    let cm_name = format!("{name}-cm");
    let cm = cms.get(&cm_name).await.unwrap();
    assert_eq!(cm.data.unwrap().get("extra").map(String::as_str), Some("x"));

    // The child is watched: deleted behind the operator's back, it returns.
    cms.delete(&cm_name, &Default::default()).await.unwrap();
    wait_for(&cms, &cm_name, WAIT, |c: Option<&ConfigMap>| c.is_some())
        .await
        .unwrap();

    // The desired child loses a key; every other field is as it was.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"test.operatorkit.dev/extra": null}}})),
    )
    .await
    .unwrap();
    let cm = wait_for(&cms, &cm_name, WAIT, |c: Option<&ConfigMap>| {
        c.and_then(|c| c.data.as_ref())
            .is_some_and(|d| !d.contains_key("extra"))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(cm.data.unwrap()["size"], "2");

    // And a steady state writes nothing.
    let before = run.requests().writes();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(run.requests().writes(), before);
    run.stop().await;
    env.stop().await;
}

/// Writes a ConfigMap through the context; counts what it wrote.
struct Writer {
    creates: Arc<AtomicUsize>,
}

#[async_trait]
impl Step<Widget> for Writer {
    fn name(&self) -> &str {
        "writer"
    }
    async fn ensure_created(&self, cx: &Context<Widget>) -> Result<Outcome, StepError> {
        let name = format!("{}-written", cx.name());
        let generation = cx.object().metadata.generation.unwrap_or(0).to_string();
        let current = cx.get::<ConfigMap>(&cx.namespace(), &name).await?;
        let up_to_date = current
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .is_some_and(|d| d.get("generation") == Some(&generation));
        if !up_to_date {
            // Only when the read shows no such ConfigMap yet: a lagging
            // cache would make this happen twice.
            if current.is_none() {
                self.creates.fetch_add(1, Ordering::SeqCst);
            }
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name),
                    owner_references: Some(vec![cx.owner_reference()]),
                    ..Default::default()
                },
                data: Some([("generation".to_owned(), generation)].into()),
                ..Default::default()
            };
            cx.apply(&cm).await?;
        }
        Ok(Outcome::Done)
    }
    async fn ensure_deleted(&self, _: &Context<Widget>) -> Result<Outcome, StepError> {
        Ok(Outcome::Done)
    }
}

/// Reads the ConfigMap right after `Writer` wrote it, in the same loop.
struct Reader {
    stale: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Step<Widget> for Reader {
    fn name(&self) -> &str {
        "reader"
    }
    async fn ensure_created(&self, cx: &Context<Widget>) -> Result<Outcome, StepError> {
        let name = format!("{}-written", cx.name());
        let generation = cx.object().metadata.generation.unwrap_or(0).to_string();
        let seen = cx.get::<ConfigMap>(&cx.namespace(), &name).await?;
        let fresh = seen
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .is_some_and(|d| d.get("generation") == Some(&generation));
        let owned = cx.owned::<ConfigMap>().iter().any(|c| c.name_any() == name);
        if !fresh || !owned {
            self.stale
                .lock()
                .unwrap()
                .push(format!("{name}@{generation}"));
        }
        Ok(Outcome::Done)
    }
    async fn ensure_deleted(&self, _: &Context<Widget>) -> Result<Outcome, StepError> {
        Ok(Outcome::Done)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_never_acts_on_a_cache_that_does_not_show_its_own_write() {
    let env = widget::env().await;
    let creates = Arc::new(AtomicUsize::new(0));
    let stale = Arc::new(Mutex::new(Vec::new()));
    let op = Operator::<Widget>::new(widget::OPERATOR, "1")
        .owns::<ConfigMap>()
        .step(Writer {
            creates: creates.clone(),
        })
        .step(Reader {
            stale: stale.clone(),
        });
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let api: Api<Widget> = env.api();
    let names: Vec<String> = (0..20).map(|i| env.name(&format!("w{i}"))).collect();
    for name in &names {
        api.create(&PostParams::default(), &widget::widget(name, "1", 1))
            .await
            .unwrap();
    }
    for name in &names {
        widget::wait_ready(&api, name).await;
    }
    // Three spec changes each, written and read back at once.
    for size in 2..5 {
        for name in &names {
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"size": size}})),
            )
            .await
            .unwrap();
        }
    }
    for name in &names {
        wait_for(&api, name, WAIT, |w: Option<&Widget>| {
            w.is_some_and(|w| {
                w.is_ready() && w.status.as_ref().and_then(|s| s.observed_generation) == Some(4)
            })
        })
        .await
        .unwrap();
    }
    // Every loop's read saw the write before it, and every ConfigMap was
    // created once: the loop the finalizer's own event starts right after
    // the first one did not see a stale cache.
    assert_eq!(stale.lock().unwrap().as_slice(), &[] as &[String]);
    assert_eq!(creates.load(Ordering::SeqCst), names.len());
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_no_version_reconciles_is_reported_not_ignored() {
    let env = widget::env().await;
    let journal = Arc::new(Journal::default());
    let (op, ..) = widget::operator("1", "r1", &journal, Duration::from_secs(300));
    let run = env.run_operator(op, Settings::default()).await.unwrap();
    let api: Api<Widget> = env.api();
    let name = env.name("unlabelled");
    let mut w = widget::widget(&name, "1", 1);
    w.metadata.labels = None;
    api.create(&PostParams::default(), &w).await.unwrap();

    let event = e2e::support::wait_for_event(
        &env.api::<Event>(),
        &name,
        operatorkit::NOT_RECONCILED,
        WAIT,
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    assert!(note.contains(&widget::OPERATOR.version_label()), "{note}");
    assert_eq!(
        widget::metric(&run, "operatorkit_unselected_objects", &[]),
        1.0
    );
    assert!(journal.of(&name).is_empty());

    // Labelled, it is reconciled and no longer counted.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {widget::OPERATOR.version_label(): "1"}}})),
    )
    .await
    .unwrap();
    widget::wait_ready(&api, &name).await;
    for _ in 0..100 {
        if widget::metric(&run, "operatorkit_unselected_objects", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        widget::metric(&run, "operatorkit_unselected_objects", &[]),
        0.0
    );
    assert_eq!(events(&env, &name, operatorkit::NOT_RECONCILED).await, 1);
    run.stop().await;
    env.stop().await;
}
