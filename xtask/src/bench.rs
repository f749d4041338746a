//! `cargo xtask bench [name]`: runs the criterion benchmarks (all, or one
//! crate's). Performance is measured here, never by timed assertions in tests.

use std::process::Command;

use anyhow::bail;

use crate::{cmd, workspace};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Which benchmark: `apiserver`, `operator` or `issue` (default: all).
    name: Option<String>,
}

/// A benchmark: its name, the crate that holds it, and the features of that
/// crate it needs.
struct Bench {
    name: &'static str,
    package: &'static str,
    features: &'static [&'static str],
}

/// The benchmarks.
const BENCHES: &[Bench] = &[
    Bench {
        name: "apiserver",
        package: "operatorkit-apiserver",
        features: &[],
    },
    Bench {
        name: "operator",
        package: "operatorkit",
        features: &["testing"],
    },
    Bench {
        name: "issue",
        package: "cert-operator",
        features: &[],
    },
];

/// Runs the benchmarks.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let selected: Vec<&Bench> = match &args.name {
        None => BENCHES.iter().collect(),
        Some(n) => match BENCHES.iter().find(|b| b.name == n) {
            Some(b) => vec![b],
            None => bail!(
                "unknown benchmark {n:?}; known: {}",
                BENCHES
                    .iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for bench in selected {
        let mut command = Command::new(&cargo);
        command.current_dir(workspace::root()).args([
            "bench",
            "--package",
            bench.package,
            "--bench",
            bench.name,
        ]);
        if !bench.features.is_empty() {
            command.args(["--features", &bench.features.join(",")]);
        }
        cmd::run(&format!("bench {}", bench.name), &mut command)?;
    }
    Ok(())
}
