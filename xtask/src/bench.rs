//! `cargo xtask bench [name]`: runs the criterion benchmarks (all, or one by
//! name). Performance is measured here, never by timed assertions in tests.
//!
//! The benchmarks are the workspace's `[[bench]]` targets, found with
//! `cargo metadata`, so an operator added by `cargo xtask new-operator` is
//! benchmarked as `cargo xtask bench <its name>` with nothing to register.
//! `cargo xtask bench system` (the `e2e` package's `system` target) runs the
//! whole system, five operator processes included, with 20 KVM guest
//! clusters; its figures are in `docs/performance.md`.

use anyhow::bail;
use serde_json::Value;

use crate::{cmd, workspace};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Which benchmark, e.g. `apiserver`, `operator`, `issue` or `system`
    /// (the whole system: `tests/benches/system.rs`, figures in
    /// `docs/performance.md`) (default: all).
    name: Option<String>,
}

/// A benchmark: its name, the package that holds it, and the features of
/// that package it needs.
#[derive(Debug, PartialEq)]
struct Bench {
    name: String,
    package: String,
    features: Vec<String>,
}

/// Runs the benchmarks.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let benches = benches(&workspace::metadata(&workspace::root())?);
    let selected: Vec<&Bench> = match &args.name {
        None => benches.iter().collect(),
        Some(n) => match benches.iter().find(|b| &b.name == n) {
            Some(b) => vec![b],
            None => bail!(
                "unknown benchmark {n:?}; known: {}",
                benches
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    for bench in selected {
        let mut command = cmd::cargo();
        command.current_dir(workspace::root()).args([
            "bench",
            "--package",
            &bench.package,
            "--bench",
            &bench.name,
        ]);
        if !bench.features.is_empty() {
            command.args(["--features", &bench.features.join(",")]);
        }
        cmd::run(&format!("bench {}", bench.name), &mut command)?;
    }
    Ok(())
}

/// The bench targets listed in `metadata`, sorted by name.
fn benches(metadata: &Value) -> Vec<Bench> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let Some(package_name) = package["name"].as_str() else {
            continue;
        };
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bench = strings(&target["kind"]).iter().any(|k| k == "bench");
            if let (true, Some(name)) = (is_bench, target["name"].as_str()) {
                found.push(Bench {
                    name: name.to_owned(),
                    package: package_name.to_owned(),
                    features: strings(&target["required-features"]),
                });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_targets_are_found_with_their_features() {
        let metadata = serde_json::json!({"packages": [
            {"name": "operatorkit", "targets": [
                {"name": "operatorkit", "kind": ["lib"]},
                {"name": "operator", "kind": ["bench"], "required-features": ["testing"]}
            ]},
            {"name": "widget-operator", "targets": [
                {"name": "widget-operator", "kind": ["bench"]}
            ]}
        ]});
        assert_eq!(
            benches(&metadata),
            [
                Bench {
                    name: "operator".into(),
                    package: "operatorkit".into(),
                    features: vec!["testing".into()],
                },
                Bench {
                    name: "widget-operator".into(),
                    package: "widget-operator".into(),
                    features: vec![],
                },
            ]
        );
    }

    #[test]
    fn the_system_benchmark_is_found_in_the_workspace() -> anyhow::Result<()> {
        let found = benches(&workspace::metadata(&workspace::root())?);
        let system = found.iter().find(|b| b.name == "system");
        assert_eq!(
            system,
            Some(&Bench {
                name: "system".into(),
                package: "e2e".into(),
                features: vec![],
            })
        );
        Ok(())
    }
}
