//! How fast the queries an API server runs per list or watch are: a label
//! selector and a field selector over 10,000 objects, a JSONPath printer
//! column over 1,000, and the Table of 1,000 pods from kube-apiserver's
//! printers.
//!
//! Run with `cargo xtask bench query`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use operatorkit_query::{fields, jsonpath, labels, table};
use serde_json::{Value, json};

fn pod(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i}"), "namespace": "demo", "uid": format!("u{i}"),
            "resourceVersion": i.to_string(), "creationTimestamp": "2026-12-05T10:00:00Z",
            "labels": {"app": "web", "shard": (i % 10).to_string()}},
        "spec": {"nodeName": format!("node-{}", i % 20),
            "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250),
            "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": i % 3,
                "state": {"running": {"startedAt": "2026-12-05T10:00:05Z"}}}],
            "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn benches(c: &mut Criterion) {
    let pods: Vec<Value> = (0..10_000).map(pod).collect();
    let label_sets: Vec<BTreeMap<String, String>> = pods
        .iter()
        .map(|p| serde_json::from_value(p["metadata"]["labels"].clone()).unwrap())
        .collect();
    let mut group = c.benchmark_group("query");
    let selector = labels::parse("app=web,shard in (1,2,3),!canary").unwrap();
    group.bench_function("label selector over 10k label sets", |b| {
        b.iter(|| label_sets.iter().filter(|l| selector.matches(l)).count())
    });
    group.bench_function("parse a label selector", |b| {
        b.iter(|| labels::parse("app=web,shard in (1,2,3),!canary").unwrap())
    });
    let by_node = fields::parse("spec.nodeName=node-3,status.phase!=Failed").unwrap();
    group.bench_function("field selector over 10k pods", |b| {
        b.iter(|| {
            pods.iter()
                .filter(|p| by_node.matches_builtin("", "Pod", p))
                .count()
        })
    });
    let column = jsonpath::parse(".status.containerStatuses[*].restartCount").unwrap();
    group.bench_function("JSONPath column over 1k pods", |b| {
        b.iter(|| {
            pods[..1_000]
                .iter()
                .map(|p| column.eval(p).len())
                .sum::<usize>()
        })
    });
    let opts = table::TableOptions::default();
    let meta = json!({"resourceVersion": "1"});
    group.bench_function("Table of 1k pods (kube-apiserver's printer)", |b| {
        b.iter(|| table::builtin_table("Pod", "", &pods[..1_000], &meta, &opts).unwrap())
    });
    group.finish();
}

criterion_group!(query, benches);
criterion_main!(query);
