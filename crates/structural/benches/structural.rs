//! How fast a custom resource goes through its schema on every write:
//! prune, default and validate of a Widget against a structural schema
//! with nested objects, a keyed list, formats, patterns and int-or-string,
//! and the structural check of the schema itself (done once per CRD write).
//!
//! Run with `cargo xtask bench structural`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn schema() -> Value {
    json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3},
            "owner": {"type": "string", "format": "email"},
            "port": {"x-kubernetes-int-or-string": true},
            "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "maxLength": 15},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "protocol": {"type": "string", "default": "TCP"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
}

fn widget() -> Value {
    let ports: Vec<Value> = (0..20)
        .map(|i| json!({"name": format!("p-{i}"), "port": 8000 + i}))
        .collect();
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "demo"},
        "spec": {"size": 5, "owner": "ivy@example.com", "port": "http", "ports": ports,
            "labels": {"a": "b", "c": "d"}, "unknown": {"dropped": true}},
        "status": {"anything": [1, 2, 3]}})
}

fn benches(c: &mut Criterion) {
    let s = schema();
    let obj = widget();
    let mut group = c.benchmark_group("structural");
    group.bench_function("prune, default and validate a Widget", |b| {
        b.iter(|| {
            let mut o = obj.clone();
            operatorkit_structural::prune(&s, &mut o);
            operatorkit_structural::default(&s, &mut o);
            let errors = operatorkit_structural::validate(&s, &o);
            assert!(errors.is_empty(), "{errors:?}");
        })
    });
    group.bench_function("check the schema is structural", |b| {
        b.iter(|| assert!(operatorkit_structural::check_structural(&s).is_empty()))
    });
    group.finish();
}

criterion_group!(structural, benches);
criterion_main!(structural);
