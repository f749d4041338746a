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

/// A command of the cargo that runs this task (`$CARGO`), without the
/// variables cargo set for this task as the process of package `xtask`
/// ([`is_package_var`]).
///
/// Cargo compares a build script's `rerun-if-env-changed` variables with
/// its own environment, and some build scripts (ring's) name
/// `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`: passed on, xtask's values
/// made every `cargo xtask` build rerun them and rebuild everything above,
/// and the next plain `cargo` rebuild it all again.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_package_var) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether cargo sets variable `name` for a process it runs (`cargo run`,
/// a test) to describe that process's package, rather than configuring a
/// build (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_INCREMENTAL`, ...).
fn is_package_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_vars_are_dropped_build_settings_kept() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "OUT_DIR",
        ] {
            assert!(is_package_var(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "PATH",
        ] {
            assert!(!is_package_var(name), "{name}");
        }
        let command = cargo();
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert!(removed.iter().all(|n| is_package_var(n)), "{removed:?}");
        // `cargo test` runs this as package xtask: its variables go.
        assert!(removed.iter().any(|n| n == "CARGO_PKG_NAME"), "{removed:?}");
    }
}
