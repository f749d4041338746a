//! Running external commands with a visible step name and a clear error.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Runs `command`, echoing it first, and fails with the step name if it fails.
pub fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> {step}: {}", describe(command));
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("{step}: could not start {}", describe(command)))?;
    if !status.success() {
        bail!("{step} failed ({status}): {}", describe(command));
    }
    eprintln!("==> {step}: ok in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The cargo that runs this task (`$CARGO`), for the cargo commands it runs.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `command` quietly and returns its standard output, or fails with
/// `what` and its standard error.
pub fn stdout(what: &str, command: &mut Command) -> anyhow::Result<Vec<u8>> {
    let output = command
        .output()
        .with_context(|| format!("{what}: could not start {}", describe(command)))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// Whether `command` runs and exits 0, with its output discarded.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
