//! How fast a strategic merge patch applies: `kubectl set image` on a
//! Deployment of 20 containers (a merge by name deep in a pod template), and
//! a patch with `$setElementOrder` and `$retainKeys` directives.
//!
//! Run with `cargo xtask bench strategic`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use operatorkit_strategic_merge::{apply, patch_meta};
use serde_json::{Value, json};

fn deployment() -> Value {
    let containers: Vec<Value> = (0..20)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": format!("img:{i}"),
            "ports": [{"containerPort": 8000 + i, "protocol": "TCP"}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]})
        })
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}}}})
}

fn benches(c: &mut Criterion) {
    let meta = patch_meta("apps", "Deployment").unwrap();
    let live = deployment();
    let set_image = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c7", "image": "img:new"}]}}}});
    let directives = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null},
        "template": {"spec": {
            "$setElementOrder/containers": (0..20).rev().map(|i| json!({"name": format!("c{i}")})).collect::<Vec<_>>(),
            "containers": [{"name": "c3", "env": [{"name": "C", "value": "3"}]}]}}}});
    let mut group = c.benchmark_group("strategic");
    group.bench_function("set image in a 20-container Deployment", |b| {
        b.iter(|| apply(&live, &set_image, meta).unwrap())
    });
    group.bench_function("$setElementOrder and $retainKeys", |b| {
        b.iter(|| apply(&live, &directives, meta).unwrap())
    });
    group.finish();
}

criterion_group!(strategic, benches);
criterion_main!(strategic);
