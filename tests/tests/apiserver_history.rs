//! Watch history and the less common verbs, black-box: a watch from a
//! resourceVersion older than the retained history gets 410 Expired, bookmarks
//! arrive when asked for, `sendInitialEvents` ends its initial events with the
//! annotated bookmark, dry runs change nothing, and deletecollection honours
//! selectors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::support::made_by_test;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use operatorkit::testing::{ServerConfig, TestEnv};
use serde_json::{Value, json};

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"a": "1"}}),
    )
    .unwrap()
}

/// A small history and frequent bookmarks; a real cluster keeps its own.
fn config() -> ServerConfig {
    ServerConfig {
        watch_history: 16,
        bookmark_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_older_than_the_history_is_expired() {
    let env = TestEnv::start_with(config()).await.unwrap();
    let api: Api<ConfigMap> = env.api();
    for i in 0..40 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), json!({})))
            .await
            .unwrap();
    }
    // Revision 1 is long gone from the history (compacted, on a real cluster).
    let mut stream = api
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap();
    match first {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"), "{e:?}")
        }
        Some(Err(kube::Error::Api(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bookmarks_arrive_when_asked_for() {
    let env = TestEnv::start_with(config()).await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    // A real cluster sends one about every minute.
    let deadline = Duration::from_secs(90);
    let bookmark = tokio::time::timeout(deadline, async {
        loop {
            if let Some(Ok(WatchEvent::Bookmark(b))) = stream.next().await {
                return b;
            }
        }
    })
    .await
    .unwrap();
    let at: u64 = bookmark.metadata.resource_version.parse().unwrap();
    assert!(at >= rv.parse::<u64>().unwrap());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_initial_events_ends_with_the_annotated_bookmark() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    for name in ["x", "y"] {
        api.create(&PostParams::default(), &cm(name, json!({})))
            .await
            .unwrap();
    }
    let ns = env.namespace();
    let req = http::Request::get(format!(
        "/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5"
    ))
    .body(Vec::new())
    .unwrap();
    let mut stream = env
        .client()
        .request_events::<ConfigMap>(req)
        .await
        .unwrap()
        .boxed();
    let mut added = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match e {
            WatchEvent::Added(o) => {
                let name = o.metadata.name.unwrap();
                if made_by_test(&name) {
                    added.push(name);
                }
            }
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    added.sort();
    assert_eq!(added, ["x", "y"]);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_runs_change_nothing() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let created = api
        .create(&PostParams::default(), &cm("d", json!({})))
        .await
        .unwrap();
    let pp = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let patched = api
        .patch("d", &pp, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    assert_eq!(
        patched.data.unwrap()["a"],
        "2",
        "the dry run answers with the result"
    );
    let mut changed = created.clone();
    changed.data = Some([("a".to_owned(), "3".to_owned())].into());
    api.replace(
        "d",
        &PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        &changed,
    )
    .await
    .unwrap();
    api.delete(
        "d",
        &DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let stored = api.get("d").await.unwrap();
    assert_eq!(stored.data.unwrap()["a"], "1");
    assert_eq!(
        stored.metadata.resource_version,
        created.metadata.resource_version
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_collection_honours_selectors() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    api.create(&PostParams::default(), &cm("keep", json!({"tier": "db"})))
        .await
        .unwrap();
    api.create(
        &PostParams::default(),
        &cm("drop-1", json!({"tier": "web"})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &cm("drop-2", json!({"tier": "web"})),
    )
    .await
    .unwrap();
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| made_by_test(n))
        .collect();
    assert_eq!(left, ["keep"]);
    env.stop().await;
}
