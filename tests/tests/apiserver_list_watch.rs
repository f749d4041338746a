//! LIST and WATCH, black-box: selectors, pages, resourceVersion semantics,
//! watch events including selector transitions, bookmarks and expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::support::made_by_test;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use operatorkit::testing::TestEnv;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn label_and_field_selectors() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let pp = PostParams::default();
    api.create(&pp, &cm("a", json!({"tier": "web", "env": "prod"})))
        .await
        .unwrap();
    api.create(&pp, &cm("b", json!({"tier": "db", "env": "prod"})))
        .await
        .unwrap();
    api.create(&pp, &cm("c", json!({"tier": "web"})))
        .await
        .unwrap();
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        let mut n: Vec<String> = l
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| made_by_test(n))
            .collect();
        n.sort();
        n
    };
    let cases = [
        ("tier=web", vec!["a", "c"]),
        ("tier==web", vec!["a", "c"]),
        ("tier!=web", vec!["b"]),
        ("tier in (web,db),env", vec!["a", "b"]),
        ("tier notin (web)", vec!["b"]),
        ("!env", vec!["c"]),
        ("env,tier=db", vec!["b"]),
    ];
    for (selector, expected) in cases {
        let got = names(
            api.list(&ListParams::default().labels(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, expected, "labelSelector {selector}");
    }
    let got = names(
        api.list(&ListParams::default().fields("metadata.name=b"))
            .await
            .unwrap(),
    );
    assert_eq!(got, ["b"]);
    let got = names(
        api.list(&ListParams::default().fields("metadata.name!=b"))
            .await
            .unwrap(),
    );
    assert_eq!(got, ["a", "c"]);
    let err = api
        .list(&ListParams::default().labels("tier in ("))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    let err = api
        .list(&ListParams::default().fields("data.a=1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_consistent_snapshots() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("item-{i}"), json!({})))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let token = first.metadata.continue_.clone().unwrap();
    // Changes after the first page do not show in later pages.
    api.create(&PostParams::default(), &cm("item-99", json!({})))
        .await
        .unwrap();
    api.delete("item-5", &DeleteParams::default())
        .await
        .unwrap();
    let mut all: Vec<String> = first
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| made_by_test(n))
        .collect();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = api
            .list(&ListParams::default().limit(3).continue_token(&t))
            .await
            .unwrap();
        all.extend(
            page.items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .filter(|n| made_by_test(n)),
        );
        token = page.metadata.continue_.filter(|t| !t.is_empty());
    }
    let expected: Vec<String> = (0..7).map(|i| format!("item-{i}")).collect();
    assert_eq!(all, expected);
    env.stop().await;
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a watch event within 10s")
        .expect("the stream goes on")
        .expect("a valid event")
}

fn event_name(e: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(e) => panic!("watch error {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_from_a_resource_version_with_selector_transitions() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("watched=yes"), &start)
        .await
        .unwrap()
        .boxed();
    let pp = PostParams::default();
    api.create(&pp, &cm("w", json!({"watched": "yes"})))
        .await
        .unwrap();
    api.create(&pp, &cm("ignored", json!({"watched": "no"})))
        .await
        .unwrap();
    let merge = |v| Patch::Merge(v);
    api.patch(
        "w",
        &PatchParams::default(),
        &merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    // Stops matching: DELETED; starts matching again: ADDED.
    api.patch(
        "w",
        &PatchParams::default(),
        &merge(json!({"metadata": {"labels": {"watched": "no"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "ignored",
        &PatchParams::default(),
        &merge(json!({"metadata": {"labels": {"watched": "yes"}}})),
    )
    .await
    .unwrap();
    api.delete("ignored", &DeleteParams::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(event_name(&next_event(&mut stream).await));
    }
    let expected = [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
        ("ADDED", "ignored"),
        ("DELETED", "ignored"),
    ];
    let expected: Vec<(&str, String)> = expected
        .iter()
        .map(|(a, b)| (*a, (*b).to_owned()))
        .collect();
    assert_eq!(seen, expected);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_without_resource_version_starts_with_current_state() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    api.create(&PostParams::default(), &cm("existing", json!({})))
        .await
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        event_name(&next_event(&mut stream).await),
        ("ADDED", "existing".to_owned())
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_runtime_watcher_with_streaming_lists_and_bookmarks() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    api.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();
    let config = kube::runtime::watcher::Config::default().streaming_lists();
    let mut stream = kube::runtime::watcher(api.clone(), config).boxed();
    let mut init = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match e {
            kube::runtime::watcher::Event::Init => {}
            kube::runtime::watcher::Event::InitApply(o) => {
                let name = o.metadata.name.unwrap();
                if made_by_test(&name) {
                    init.push(name);
                }
            }
            kube::runtime::watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(init, ["before"]);
    api.create(&PostParams::default(), &cm("after", json!({})))
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(e, kube::runtime::watcher::Event::Apply(ref o) if o.metadata.name.as_deref() == Some("after")),
        "{e:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_timeout_seconds_ends_the_stream() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    env.stop().await;
}

/// A watch behind by more than one read of the log (512 events), all of
/// other resources, with its own event after them and no write after that:
/// it must still get its event. (It used to read one batch, find nothing of
/// its own, and wait for the next write, which may never come: the flannel
/// tests' simulated cluster stalled on exactly this.)
#[tokio::test(flavor = "multi_thread")]
async fn a_watch_behind_a_burst_of_other_resources_gets_its_event_without_a_further_write() {
    let env = TestEnv::start().await.unwrap();
    let configmaps: Api<ConfigMap> = env.api();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = env.api();
    let pp = PostParams::default();
    let from = configmaps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..600 {
        let secret =
            serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).unwrap();
        secrets.create(&pp, &secret).await.unwrap();
    }
    configmaps
        .create(&pp, &cm("after-the-burst", json!({})))
        .await
        .unwrap();
    let stream = configmaps
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    let mut stream = stream;
    let event = next_event(&mut stream).await;
    assert_eq!(event_name(&event), ("ADDED", "after-the-burst".to_owned()));
    env.stop().await;
}
