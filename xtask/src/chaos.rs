//! `cargo xtask chaos`: the system's chaos test at full strength.
//!
//! `cargo xtask test` runs `tests/tests/system.rs`'s chaos test with a
//! reduced number of kills and guest clusters; this runs the same test
//! with 100 kills (or `--kills N`) while 10 guest clusters (or
//! `--clusters N`) come and go, seeded by `--seed` to replay a failure
//! (else a fresh seed, printed by the test), with its report shown. It
//! runs in release, as the benchmarks do: the operators as they ship.

use crate::{cmd, tools, workspace};

/// Arguments of `cargo xtask chaos`.
#[derive(clap::Args)]
pub struct Args {
    /// Processes killed (kill -9; an operator's, or the API server's one
    /// time in six) while the guest clusters come and go.
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// Guest clusters created and deleted meanwhile (every fifth on AWS).
    #[arg(long, default_value_t = 10)]
    clusters: usize,
    /// Seed of the kills and pauses (default: a fresh one, printed).
    #[arg(long)]
    seed: Option<u64>,
}

/// The chaos test of `tests/tests/system.rs`.
const TEST: &str =
    "guest_clusters_come_and_go_while_operators_and_the_api_server_are_killed_at_random";

/// Runs the chaos test with `args`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let tools = tools::ensure()?;
    let mut test = cmd::cargo();
    test.current_dir(workspace::root())
        .args([
            "test",
            "--release",
            // The workspace's features, as the test's own build of the
            // operator binaries (`cargo build --release --workspace
            // --bins`) selects them: `--package e2e` would build every
            // shared dependency a second time with other features.
            "--workspace",
            "--test",
            "system",
            "--",
            "--exact",
        ])
        .args([TEST, "--nocapture"])
        .env("CHAOS_KILLS", args.kills.to_string())
        .env("CHAOS_CLUSTERS", args.clusters.to_string())
        .env("PATH", tools::path_with(&tools.venv_bin)?);
    if let Some(seed) = args.seed {
        test.env("CHAOS_SEED", seed.to_string());
    }
    cmd::run("chaos", &mut test)
}
