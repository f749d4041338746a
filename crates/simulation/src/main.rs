//! `operatorkit-simulation`: runs the simulated cluster against the API
//! server a kubeconfig names, until Ctrl-C.

use std::io::IsTerminal;

use clap::Parser;

/// Fake nodes, a scheduler, kubelets and workload controllers for a Kubernetes
/// API server (tests and local development only).
#[derive(Parser)]
#[command(version)]
struct Flags {
    /// Fake nodes to create.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Seconds from binding to a running pod.
    #[arg(long, default_value_t = 1)]
    start_seconds: i64,
    /// Seconds a pod takes to stop once deleted (at most its grace period).
    #[arg(long, default_value_t = 1)]
    stop_seconds: i64,
    /// Bring up a guest cluster's API server once its master VM pod is
    /// Ready (kvm-operator's pods), with a Node per Ready VM.
    #[arg(long)]
    guest_clusters: bool,
    /// Log filter.
    #[arg(long, default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_env_filter(flags.log.as_str())
        // Colour only on a terminal, and not with NO_COLOR set: a log file
        // gets plain lines.
        .with_ansi(
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let client = kube::Client::try_default().await?;
    let options = operatorkit_simulation::Options {
        nodes: flags.nodes,
        start_seconds: flags.start_seconds,
        stop_seconds: flags.stop_seconds,
        guest_clusters: flags.guest_clusters,
        ..Default::default()
    };
    let simulation = operatorkit_simulation::Simulation::start(client, options).await?;
    tracing::info!(nodes = flags.nodes, "simulating; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    simulation.stop();
    Ok(())
}
