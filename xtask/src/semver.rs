//! Semver discipline for operatorkit: a release is tagged
//! `operatorkit-v<version>` (and has its section in CHANGELOG.md); once such
//! a tag exists, `cargo xtask test` compares the public API with the newest
//! one using cargo-semver-checks, so a breaking change cannot go out under a
//! version that promises compatibility.
//!
//! cargo-semver-checks (crates.io, pinned below) is installed under
//! `target/tools/cargo` the first time it is needed, not before: until the
//! first release there is nothing to compare with.

use std::path::Path;
use std::process::Command;

use crate::{cmd, tools, workspace};

/// The prefix of operatorkit's release tags.
pub const TAG_PREFIX: &str = "operatorkit-v";
/// The cargo-semver-checks release used.
const SEMVER_CHECKS_VERSION: &str = "0.51.0";

/// Runs cargo-semver-checks against the newest release tag, if there is one.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let tags = git_tags(root)?;
    let Some(tag) = newest_release(&tags) else {
        eprintln!("==> semver: no release tag {TAG_PREFIX}* yet; nothing to compare with");
        return Ok(());
    };
    let bin = ensure_installed()?;
    cmd::run(
        &format!("semver against {tag}"),
        cmd::cargo()
            .current_dir(root)
            .args(["semver-checks", "check-release", "-p", "operatorkit"])
            .args(["--baseline-rev", &tag])
            .env("PATH", tools::path_with(&bin)?),
    )
}

/// The repository's tags.
fn git_tags(root: &Path) -> anyhow::Result<Vec<String>> {
    let listed = cmd::stdout(
        "git tag",
        Command::new("git")
            .current_dir(root)
            .args(["tag", "--list", &format!("{TAG_PREFIX}*")]),
    )?;
    Ok(String::from_utf8_lossy(&listed)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// The tag of the highest released version among `tags` (pre-releases and
/// tags that are not `operatorkit-v<major>.<minor>.<patch>` do not count).
fn newest_release(tags: &[String]) -> Option<String> {
    tags.iter()
        .filter_map(|t| {
            let version = t.strip_prefix(TAG_PREFIX)?;
            let parts: Vec<u64> = version
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            (parts.len() == 3).then_some((parts, t))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.clone())
}

/// The directory holding `cargo-semver-checks`, installed if missing.
fn ensure_installed() -> anyhow::Result<std::path::PathBuf> {
    let root = workspace::target_dir().join("tools").join("cargo");
    let bin = root.join("bin");
    let installed = Command::new(bin.join("cargo-semver-checks"))
        .args(["semver-checks", "--version"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(SEMVER_CHECKS_VERSION)
        });
    if !installed {
        cmd::run(
            "install cargo-semver-checks",
            cmd::cargo()
                .args(["install", "--locked", "cargo-semver-checks"])
                .args(["--version", SEMVER_CHECKS_VERSION, "--root"])
                .arg(&root),
        )?;
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_release_tag_wins_by_version_not_by_text() {
        let tags: Vec<String> = [
            "operatorkit-v0.2.0",
            "operatorkit-v0.10.1",
            "operatorkit-v0.9.9",
            "operatorkit-v1.0.0-rc.1",
            "operatorkit-vnext",
            "other-v9.0.0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            newest_release(&tags).as_deref(),
            Some("operatorkit-v0.10.1")
        );
        assert_eq!(newest_release(&[]), None);
    }
}
