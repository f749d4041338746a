//! Encoding and decoding speed of `operatorkit-protobuf`: one Deployment, and
//! a list of 1,000 ConfigMaps of ~0.5 KiB (what a list answer costs the API
//! server per thousand objects), each beside `serde_json` on the same value.
//!
//! Run with `cargo xtask bench protobuf`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"},
            "creationTimestamp": "2026-12-05T10:00:00Z", "resourceVersion": "12", "uid": "u"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m"}}}]}}}})
}

fn configmaps(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"metadata": {"name": format!("cm-{i}"), "namespace": "default",
            "labels": {"app": "bench", "shard": (i % 10).to_string()}, "resourceVersion": i.to_string(),
            "uid": format!("uid-{i}"), "creationTimestamp": "2026-12-05T10:00:00Z"},
            "data": {"index": i.to_string(), "payload": "x".repeat(256)}}))
        .collect();
    json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "1"}, "items": items})
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("protobuf");
    for (label, value) in [
        ("Deployment", deployment()),
        ("1k ConfigMaps", configmaps(1_000)),
    ] {
        let body = operatorkit_protobuf::encode(&value).unwrap();
        let text = serde_json::to_vec(&value).unwrap();
        group.bench_function(format!("encode {label}"), |b| {
            b.iter(|| operatorkit_protobuf::encode(&value).unwrap());
        });
        group.bench_function(format!("decode {label}"), |b| {
            b.iter(|| operatorkit_protobuf::decode(&body, ("", "")).unwrap());
        });
        group.bench_function(format!("serde_json write {label}"), |b| {
            b.iter(|| serde_json::to_vec(&value).unwrap());
        });
        group.bench_function(format!("serde_json read {label}"), |b| {
            b.iter(|| serde_json::from_slice::<Value>(&text).unwrap());
        });
    }
    group.finish();
}

criterion_group!(protobuf_benches, benches);
criterion_main!(protobuf_benches);
