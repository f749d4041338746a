//! Throughput and latency of the embedded API server through `kube::Client`
//! over loopback HTTP: creates/s, updates/s, listing 10k objects, watch event
//! latency with 100 watchers, and memory per 10k ConfigMaps.
//!
//! Run with `cargo xtask bench apiserver`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn configmap(name: &str, i: usize) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "data": {"index": i.to_string(), "payload": "x".repeat(256)},
    }))
    .unwrap()
}

async fn server() -> (operatorkit_apiserver::Handle, Api<ConfigMap>) {
    let server = operatorkit_apiserver::start(operatorkit_apiserver::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(server.kube_config(None)).unwrap();
    (server, Api::namespaced(client, "default"))
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (srv, api) = rt.block_on(server());

    let mut group = c.benchmark_group("apiserver");
    group.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    group.bench_function("create", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let api = api.clone();
            let cm = configmap(&format!("create-{n}"), n);
            async move { api.create(&PostParams::default(), &cm).await.unwrap() }
        });
    });
    rt.block_on(api.create(&PostParams::default(), &configmap("updated", 0)))
        .unwrap();
    let mut i = 0usize;
    group.bench_function("update", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let api = api.clone();
            async move {
                let mut cm = api.get("updated").await.unwrap();
                cm.data = Some([("index".to_owned(), i.to_string())].into());
                api.replace("updated", &PostParams::default(), &cm)
                    .await
                    .unwrap()
            }
        });
    });
    group.finish();

    // A fresh server holding exactly 10k ConfigMaps.
    let (srv10k, api10k) = rt.block_on(server());
    let before = rss_bytes();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|w| {
                let api = api10k.clone();
                tokio::spawn(async move {
                    for i in (w..10_000).step_by(4) {
                        api.create(&PostParams::default(), &configmap(&format!("cm-{i}"), i))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let after = rss_bytes();
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "memory: {:.1} MiB resident for 10k ConfigMaps of ~0.5 KiB ({} bytes each, server and client in one process)",
            a.saturating_sub(b) as f64 / (1024.0 * 1024.0),
            a.saturating_sub(b) / 10_000
        );
    }
    let mut group = c.benchmark_group("apiserver-10k");
    group.sample_size(10);
    group.bench_function("list 10k", |b| {
        b.to_async(&rt).iter(|| {
            let api = api10k.clone();
            async move {
                let list = api.list(&ListParams::default()).await.unwrap();
                // The 10k, and the namespace's kube-root-ca.crt.
                assert_eq!(list.items.len(), 10_001);
            }
        });
    });
    // The same list as raw bytes, JSON beside protobuf (what client-go asks
    // for first): the server's encoding and the transfer, no client decoding.
    for (label, accept) in [
        ("JSON", "application/json"),
        ("protobuf", "application/vnd.kubernetes.protobuf"),
    ] {
        group.bench_function(format!("list 10k raw ({label})"), |b| {
            b.to_async(&rt).iter(|| {
                let client = api10k.clone().into_client();
                async move {
                    let req = http::Request::get("/api/v1/namespaces/default/configmaps")
                        .header("Accept", accept)
                        .body(kube::client::Body::empty())
                        .unwrap();
                    let res = client.send(req).await.unwrap();
                    assert!(res.status().is_success());
                    let bytes = res.into_body().collect_bytes().await.unwrap();
                    assert!(bytes.len() > 10_000 * 256);
                }
            });
        });
    }
    group.bench_function("list 1k of 10k by label", |b| {
        b.to_async(&rt).iter(|| {
            let api = api10k.clone();
            async move {
                let list = api
                    .list(&ListParams::default().labels("shard=3"))
                    .await
                    .unwrap();
                assert_eq!(list.items.len(), 1_000);
            }
        });
    });
    group.finish();

    // Latency from a write to its event reaching the last of 100 watchers.
    let mut group = c.benchmark_group("apiserver-watch");
    group.sample_size(20);
    group.bench_function("event to 100 watchers", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let api = api.clone();
            async move {
                let rv = api.list(&ListParams::default().limit(1)).await.unwrap().metadata.resource_version.unwrap();
                let mut streams = Vec::new();
                for _ in 0..100 {
                    let s = api.watch(&WatchParams::default().labels("app=latency"), &rv).await.unwrap();
                    streams.push(s.boxed());
                }
                let mut total = Duration::ZERO;
                for k in 0..iters {
                    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("lat-{}-{k}", uuid::Uuid::new_v4().simple()), "labels": {"app": "latency"}}})).unwrap();
                    let start = Instant::now();
                    api.create(&PostParams::default(), &cm).await.unwrap();
                    let waits = streams.iter_mut().map(|s| async move {
                        loop {
                            if let Some(Ok(WatchEvent::Added(_))) = s.next().await {
                                break;
                            }
                        }
                    });
                    futures::future::join_all(waits).await;
                    total += start.elapsed();
                }
                total
            }
        });
    });
    group.finish();
    rt.block_on(srv.shutdown());
    rt.block_on(srv10k.shutdown());
}

/// A server in `mode` where user `bench` (a token-file user) may create, get
/// and list ConfigMaps in `default` through a RoleBinding, among 50 other
/// users' bindings; returns it and the user's ConfigMaps.
async fn authorizing_server(
    mode: operatorkit_apiserver::authorization::Mode,
    tokens: &std::path::Path,
) -> (operatorkit_apiserver::Handle, Api<ConfigMap>) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let server = operatorkit_apiserver::start(operatorkit_apiserver::Config {
        authorization_mode: mode,
        token_file: Some(tokens.to_owned()),
        ..operatorkit_apiserver::Config::default()
    })
    .await
    .unwrap();
    let admin = kube::Client::try_from(server.kube_config(None)).unwrap();
    let roles: Api<Role> = Api::namespaced(admin.clone(), "default");
    let bindings: Api<RoleBinding> = Api::namespaced(admin, "default");
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "cm-writer"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list"]}]}))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    for user in (0..50)
        .map(|i| format!("someone-{i}"))
        .chain(["bench".to_owned()])
    {
        let binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": format!("writer-{user}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-writer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}))
        .unwrap();
        bindings
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
    }
    let mut config = server.kube_config(None);
    config.auth_info.token = Some("bench-token".to_owned().into());
    let client = kube::Client::try_from(config).unwrap();
    (server, Api::namespaced(client, "default"))
}

/// A list of 1,000 ConfigMaps and creates, as an ordinary user, under
/// AlwaysAllow and under RBAC, in one run.
fn authorization(c: &mut Criterion) {
    use operatorkit_apiserver::authorization::Mode;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokens =
        std::env::temp_dir().join(format!("apiserver-bench-tokens-{}", std::process::id()));
    std::fs::write(&tokens, "bench-token,bench,1000\n").unwrap();
    let mut group = c.benchmark_group("apiserver-authz");
    for (label, mode) in [("AlwaysAllow", Mode::AlwaysAllow), ("RBAC", Mode::Rbac)] {
        let (srv, api) = rt.block_on(authorizing_server(mode, &tokens));
        rt.block_on(async {
            for i in 0..1_000 {
                api.create(&PostParams::default(), &configmap(&format!("seed-{i}"), i))
                    .await
                    .unwrap();
            }
        });
        group.bench_function(format!("list 1k ({label})"), |b| {
            b.to_async(&rt).iter(|| {
                let api = api.clone();
                async move {
                    let list = api.list(&ListParams::default()).await.unwrap();
                    // The seeds, and the namespace's kube-root-ca.crt.
                    assert_eq!(list.items.len(), 1_001);
                }
            });
        });
        let mut n = 0usize;
        group.bench_function(format!("create ({label})"), |b| {
            b.to_async(&rt).iter(|| {
                n += 1;
                let api = api.clone();
                let cm = configmap(&format!("authz-{n}"), n);
                async move { api.create(&PostParams::default(), &cm).await.unwrap() }
            });
        });
        rt.block_on(srv.shutdown());
    }
    group.finish();
    let _ = std::fs::remove_file(&tokens);
}

criterion_group!(apiserver_benches, benches, authorization);
criterion_main!(apiserver_benches);
