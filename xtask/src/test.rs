//! `cargo xtask test`: everything CI checks, in the order that fails fastest.
//!
//! Installs missing tools, then: `cargo fmt --check`, clippy with warnings denied,
//! the documentation with rustdoc warnings denied, the CRD drift check, the
//! check that docs/diagrams' SVGs are fresh renderings of their Graphviz sources,
//! Kubernetes schema validation of the generated manifests, every test of the
//! workspace, `cargo package` of the crates outside operators depend on,
//! cargo-semver-checks against operatorkit's last release tag (once one
//! exists), and operators written by `cargo xtask new-operator` (both
//! layouts) built, linted and tested.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::{cmd, crds, diagrams, package, scaffold_check, semver, tools, workspace};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Extra arguments passed to `cargo test` (for example a test name filter).
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

/// Kubernetes version the manifests are validated against: the oldest one the
/// workspace's k8s-openapi feature targets.
const KUBERNETES_VERSION: &str = "1.33.0";

/// Runs every check.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let tools = tools::ensure()?;
    let root = workspace::root();

    cmd::run(
        "format",
        cmd::cargo()
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]),
    )?;
    cmd::run(
        "clippy",
        cmd::cargo().current_dir(&root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    package::docs(&root)?;
    eprintln!("==> crds --check");
    crds::run_check()?;
    eprintln!("==> diagrams --check");
    diagrams::run_check()?;

    let mut manifests: Vec<_> = std::fs::read_dir(workspace::crds_dir())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    cmd::run(
        "kubernetes-validate manifests",
        kubernetes_validate(&tools).args(&manifests),
    )?;

    let mut tests = cmd::cargo();
    tests
        .current_dir(&root)
        // Every test binary runs even after one fails: a failure must not
        // hide the ones after it (the tally counts them all).
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(&args.cargo_test_args)
        .env("PATH", tools::path_with(&tools.venv_bin)?);
    run_and_tally(&mut tests)?;
    package::check(&root)?;
    semver::check(&root)?;
    scaffold_check::check(&root, &tools)
}

/// kubernetes-validate, strict, against [`KUBERNETES_VERSION`]: add the
/// files to check.
pub fn kubernetes_validate(tools: &tools::Tools) -> Command {
    let mut command = Command::new(tools.venv_bin.join("kubernetes-validate"));
    command.args(["--strict", "--quiet", "-k", KUBERNETES_VERSION]);
    command
}

/// Runs `cargo test`, passing its output through, and closes with one line that
/// adds up every test binary's `test result:` line, so the last word on the run
/// is the whole workspace's count rather than the last doc-test crate's.
fn run_and_tally(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> tests: cargo test --workspace --no-fail-fast");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start cargo test")?;
    let mut tally = Tally::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test output")?;
            println!("{line}");
            tally.add_line(&line);
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!(
        "tests: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.ignored
    );
    if !status.success() {
        bail!("tests failed ({status})");
    }
    if tally.passed == 0 {
        bail!("cargo test ran no test");
    }
    Ok(())
}

/// Sum of `test result:` lines.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// Adds a line like `test result: ok. 5 passed; 0 failed; 1 ignored; ...`.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn tallies_cargo_test_result_lines() {
        let mut t = Tally::default();
        t.add_line("test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.03s");
        t.add_line("running 3 tests");
        t.add_line("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.49s");
        assert_eq!(
            t,
            Tally {
                passed: 7,
                failed: 1,
                ignored: 1
            }
        );
    }
}
