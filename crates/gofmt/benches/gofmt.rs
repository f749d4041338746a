//! How fast Go's renderings are: `%q`, `%v` and `json.Marshal` of a
//! ConfigMap-sized map of 100 entries (what an error message or a table cell
//! over a big value costs).
//!
//! Run with `cargo xtask bench gofmt`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

fn data() -> Value {
    let mut m = Map::new();
    for i in 0..100 {
        m.insert(
            format!("key-{i}"),
            json!({"n": i, "f": i as f64 / 3.0, "s": "<tag> & \"quoted\"\n"}),
        );
    }
    Value::Object(m)
}

fn benches(c: &mut Criterion) {
    let v = data();
    let text = "a \"quoted\" line\twith é and \u{1}".repeat(20);
    let mut group = c.benchmark_group("gofmt");
    group.bench_function("%q of 600 chars", |b| {
        b.iter(|| operatorkit_gofmt::quote(&text))
    });
    group.bench_function("%v of a 100-entry map", |b| {
        b.iter(|| operatorkit_gofmt::sprint(&v))
    });
    group.bench_function("json.Marshal of a 100-entry map", |b| {
        b.iter(|| operatorkit_gofmt::json_marshal(&v))
    });
    group.bench_function("%#v of a 100-entry map", |b| {
        b.iter(|| operatorkit_gofmt::sharp_v(&v))
    });
    group.finish();
}

criterion_group!(gofmt, benches);
criterion_main!(gofmt);
