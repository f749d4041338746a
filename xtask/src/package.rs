//! The crates an operator outside this repository depends on: they must
//! package and their documentation must build without a warning, checked by
//! `cargo xtask test` so that neither can rot.
//!
//! Publishing stays off (`publish = false`) until the team decides. cargo's
//! workspace packaging resolves the local dependencies of *publishable*
//! crates only, so operatorkit is verified against the API server's directory
//! through a `[patch.crates-io]` given on the command line instead.

use std::path::Path;
use std::process::Command;

use crate::cmd;

/// The packaged crates, dependencies first: (package, directory).
pub const CRATES: &[(&str, &str)] = &[
    ("operatorkit-gofmt", "crates/gofmt"),
    ("operatorkit-query", "crates/query"),
    ("operatorkit-structural", "crates/structural"),
    ("operatorkit-strategic-merge", "crates/strategic-merge"),
    ("operatorkit-protobuf", "crates/protobuf"),
    ("operatorkit-apiserver", "crates/apiserver"),
    ("operatorkit-simulation", "crates/simulation"),
    ("operatorkit", "operatorkit"),
];

/// `cargo package` (with verification) of every crate in [`CRATES`].
pub fn check(root: &Path) -> anyhow::Result<()> {
    for (i, (name, _)) in CRATES.iter().enumerate() {
        let mut command = cmd::cargo();
        command
            .current_dir(root)
            .args(["package", "--allow-dirty", "--all-features", "-p", name]);
        // The crates before it: the ones it may depend on.
        for (dependency, dir) in &CRATES[..i] {
            command.args(["--config", &patch(root, dependency, dir)]);
        }
        cmd::run(&format!("package {name}"), shared_profile(&mut command))?;
    }
    Ok(())
}

/// `cargo doc --no-deps` of the workspace with every rustdoc warning an error.
pub fn docs(root: &Path) -> anyhow::Result<()> {
    cmd::run(
        "docs",
        cmd::cargo()
            .current_dir(root)
            .args(["doc", "--no-deps", "--workspace", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// A `--config` value pointing crates.io's `name` at this checkout.
pub fn patch(root: &Path, name: &str, dir: &str) -> String {
    format!("patch.crates-io.{name}.path={}", path_value(root, dir))
}

/// A `[patch.crates-io]` table pointing `crates` at this checkout, as a
/// user appends it to a project's Cargo.toml.
pub fn patch_table(root: &Path, crates: &[(&str, &str)]) -> String {
    let mut table = String::from("\n[patch.crates-io]\n");
    for (name, dir) in crates {
        table.push_str(&format!(
            "{name} = {{ path = {} }}\n",
            path_value(root, dir)
        ));
    }
    table
}

/// The checkout's directory `dir` as a TOML string.
fn path_value(root: &Path, dir: &str) -> String {
    toml_string(&root.join(dir).to_string_lossy())
}

/// Builds outside the workspace (a package's verification, a scaffolded
/// project) with the workspace's debug-info setting, so they reuse its
/// compiled dependencies instead of building them all again.
pub fn shared_profile(command: &mut Command) -> &mut Command {
    command.env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_toml() {
        let p = patch(Path::new("/a \"b\"\\c"), "operatorkit", "operatorkit");
        assert_eq!(
            p,
            r#"patch.crates-io.operatorkit.path="/a \"b\"\\c/operatorkit""#
        );
    }
}
