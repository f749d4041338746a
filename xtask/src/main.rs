//! `cargo xtask`: the project's tasks, run from the repository root through the
//! alias in `.cargo/config.toml`.

#![forbid(unsafe_code)]

mod bench;
mod chaos;
mod cmd;
mod crds;
mod dev;
mod diagrams;
mod package;
mod protobuf;
mod scaffold;
mod scaffold_check;
mod semver;
mod test;
mod tools;
mod workspace;

use clap::{Parser, Subcommand};

/// Project tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "operatorkit project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the criterion benchmarks (all, or one by name).
    Bench(bench::Args),
    /// The system's chaos test with 100 kills (or --kills), seeded (--seed).
    Chaos(chaos::Args),
    /// Write manifests/crds/ from the Rust types (or check it is up to date).
    Crds(crds::Args),
    /// Run the whole system on this machine against the embedded API server.
    Dev(dev::Args),
    /// Render docs/diagrams/*.dot to SVG with Graphviz (or check the SVGs
    /// are up to date).
    Diagrams(diagrams::Args),
    /// Write a new operator on operatorkit: into this workspace, or with
    /// `--out` as a project of its own.
    NewOperator(scaffold::Args),
    /// Regenerate crates/protobuf/schema/ from Kubernetes API checkouts.
    ProtobufSchema(protobuf::Args),
    /// Compare operatorkit's public API with its newest release tag
    /// (cargo-semver-checks; `test` runs it too).
    Semver,
    /// Install missing external tools, then run every check and test CI runs.
    Test(test::Args),
    /// Install missing external tools (Debian packages, Python venv under target/).
    Tools,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Bench(args) => bench::run(&args),
        Task::Chaos(args) => chaos::run(&args),
        Task::Crds(args) => crds::run(&args),
        Task::Dev(args) => dev::run(&args),
        Task::Diagrams(args) => diagrams::run(&args),
        Task::NewOperator(args) => scaffold::run(&args, &workspace::root()).map(|_| ()),
        Task::ProtobufSchema(args) => protobuf::run(&args, &workspace::root()),
        Task::Semver => semver::check(&workspace::root()),
        Task::Test(args) => test::run(&args),
        Task::Tools => tools::ensure().map(|_| ()),
    }
}
