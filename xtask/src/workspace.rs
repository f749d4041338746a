//! Where things are in the repository.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cmd;

/// The repository root (the parent of this crate's directory).
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// `manifests/crds/`.
pub fn crds_dir() -> PathBuf {
    root().join("manifests").join("crds")
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// `cargo metadata --no-deps` of the workspace at `root`: its packages and
/// their targets.
pub fn metadata(root: &Path) -> anyhow::Result<serde_json::Value> {
    let out = cmd::stdout(
        "cargo metadata",
        cmd::cargo().current_dir(root).args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ]),
    )?;
    serde_json::from_slice(&out).context("reading cargo metadata's output")
}
