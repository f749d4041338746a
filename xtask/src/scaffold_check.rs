//! The scaffold's own check, run by `cargo xtask test`: an operator written
//! by `cargo xtask new-operator` must pass fmt, clippy and its tests with no
//! edit, both as a standalone project and as a crate of this workspace, and
//! its manifests must render with kustomize and validate against Kubernetes.
//!
//! Run here rather than as a `cargo test`: it runs cargo itself, sharing the
//! workspace's target directory (and its compiled dependencies), which a
//! test running inside `cargo test` cannot do without waiting on its lock.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::package::{CRATES, patch_table, shared_profile};
use crate::scaffold::{self, Args};
use crate::tools::Tools;
use crate::{cmd, test, workspace};

/// Scaffolds both layouts under the target directory and checks them.
pub fn check(root: &Path, tools: &Tools) -> anyhow::Result<()> {
    let base = workspace::target_dir().join("scaffold-check");
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
    }
    let project = standalone(root, &base.join("standalone"))?;
    validate_manifests(&project.join("manifests/widget-operator"), tools)?;
    in_workspace(root, &base.join("workspace"))?;
    std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))
}

/// `--out`: a project of its own, pointed at this checkout the way a user
/// would, with `[patch.crates-io]` in its Cargo.toml.
fn standalone(root: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let args = Args {
        name: "widget-operator".to_owned(),
        kind: "Widget".to_owned(),
        group: "example.com".to_owned(),
        out: Some(out.to_path_buf()),
    };
    let dir = scaffold::run(&args, root)?;
    let manifest = dir.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)?;
    text.push_str(&patch_table(root, CRATES));
    std::fs::write(&manifest, text)?;
    // The workspace's resolution: the same crate versions as the workspace
    // (so their compiled artifacts are reused), not whatever was released
    // since. A user's first build resolves afresh.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    build_and_test(&dir, None)?;
    Ok(dir)
}

/// `kubectl kustomize` of `dir`, validated strictly against the Kubernetes
/// version the workspace targets.
fn validate_manifests(dir: &Path, tools: &Tools) -> anyhow::Result<()> {
    let rendered = cmd::stdout(
        &format!("kubectl kustomize {}", dir.display()),
        Command::new("kubectl").arg("kustomize").arg(dir),
    )?;
    let file = dir.with_extension("rendered.yaml");
    std::fs::write(&file, rendered)?;
    cmd::run(
        "scaffold: kubernetes-validate manifests",
        test::kubernetes_validate(tools).arg(&file),
    )
}

/// No `--out`: a crate of a copy of this workspace.
fn in_workspace(root: &Path, copy: &Path) -> anyhow::Result<()> {
    copy_workspace(root, copy)?;
    let args = Args {
        name: "gadget-operator".to_owned(),
        kind: "Gadget".to_owned(),
        group: "example.com".to_owned(),
        out: None,
    };
    scaffold::run(&args, copy)?;
    build_and_test(copy, Some(&args.name))
}

/// fmt, clippy with warnings denied, and the tests, in `dir` (of `package`).
fn build_and_test(dir: &Path, package: Option<&str>) -> anyhow::Result<()> {
    let select: Vec<&str> = package.map_or_else(Vec::new, |p| vec!["-p", p]);
    let what = package.unwrap_or("standalone");
    cmd::run(
        &format!("scaffold {what}: format"),
        cmd::cargo()
            .current_dir(dir)
            .args(["fmt", "--all", "--check"]),
    )?;
    cmd::run(
        &format!("scaffold {what}: clippy"),
        shared(
            cmd::cargo()
                .current_dir(dir)
                .arg("clippy")
                .args(&select)
                .args(["--all-targets", "--", "-D", "warnings"]),
        ),
    )?;
    cmd::run(
        &format!("scaffold {what}: tests"),
        shared(cmd::cargo().current_dir(dir).arg("test").args(&select)),
    )
}

/// Builds in the workspace's target directory with its debug-info setting.
fn shared(command: &mut Command) -> &mut Command {
    shared_profile(command).env("CARGO_TARGET_DIR", workspace::target_dir())
}

/// Copies the files git knows of (tracked, or untracked and not ignored) from
/// `root` to `to`: the workspace as a fresh clone with local changes would be.
fn copy_workspace(root: &Path, to: &Path) -> anyhow::Result<()> {
    let listed = cmd::stdout(
        "git ls-files",
        Command::new("git").current_dir(root).args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ]),
    )?;
    let listed = String::from_utf8(listed).context("git ls-files: not UTF-8")?;
    for file in listed.split('\0').filter(|f| !f.is_empty()) {
        let from = root.join(file);
        // Listed but deleted in the working tree.
        if !from.is_file() {
            continue;
        }
        let dest: PathBuf = to.join(file);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &dest).with_context(|| format!("copying {file}"))?;
    }
    Ok(())
}
