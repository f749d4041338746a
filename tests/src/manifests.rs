//! The deployment manifests (`manifests/<operator>/`): rendering them with
//! `kubectl kustomize`, validating them with kubernetes-validate against the
//! Kubernetes version the workspace targets ([`assert_valid`]), and reading
//! their RBAC roles ([`rbac_roles`]) to bind to an operator's ServiceAccount.
//! What the rendered objects must say is checked by [`crate::deployment`].
//!
//! The helpers panic, failing the test, when a tool is missing or fails: the
//! tools are part of the test environment (`cargo xtask tools` installs them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;
use serde_json::Value;

use crate::examples::repo_root;

/// Kubernetes version the manifests are validated against: the oldest the
/// workspace's k8s-openapi feature targets (as `cargo xtask test`).
pub const KUBERNETES_VERSION: &str = "1.33.0";

/// kubectl: `$KUBECTL`, else `/usr/bin/kubectl`.
pub fn kubectl() -> PathBuf {
    std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("/usr/bin/kubectl"), PathBuf::from)
}

/// `manifests/<name>/`.
pub fn manifests_dir(name: &str) -> PathBuf {
    repo_root().join("manifests").join(name)
}

/// The ClusterRoles and Roles of `manifests/<name>/`, rendered, as a test
/// binds them to the operator's ServiceAccount.
pub fn rbac_roles(
    name: &str,
) -> (
    Vec<k8s_openapi::api::rbac::v1::ClusterRole>,
    Vec<k8s_openapi::api::rbac::v1::Role>,
) {
    let objects = documents(&kustomize(&manifests_dir(name)));
    let of = |kind: &str| -> Vec<Value> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect()
    };
    let parse = |v: Value| serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        of("ClusterRole").into_iter().map(parse).collect(),
        of("Role")
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect(),
    )
}

/// `manifests/<name>/` rendered ([`kustomize`] runs once per name and test
/// binary).
pub fn rendered(name: &str) -> &'static str {
    static RENDERED: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());
    // A test that panicked while rendering left nothing behind.
    let mut cache = RENDERED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(yaml) = cache.get(name) {
        return yaml;
    }
    // Leaked: one string a directory, for the rest of the test binary.
    let yaml: &'static str = Box::leak(kustomize(&manifests_dir(name)).into_boxed_str());
    cache.insert(name.to_owned(), yaml);
    yaml
}

/// The objects of `manifests/<name>/`, rendered ([`rendered`]).
pub fn objects(name: &str) -> Vec<Value> {
    documents(rendered(name))
}

/// `kubectl kustomize <dir>`: the rendered YAML stream.
pub fn kustomize(dir: &Path) -> String {
    let kubectl = kubectl();
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} not runnable ({e}): install kubectl or set KUBECTL",
                kubectl.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`kubectl kustomize {}` failed ({}):\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.trim().is_empty(),
        "`kubectl kustomize {}` rendered nothing",
        dir.display()
    );
    stdout
}

/// The kubernetes-validate of `cargo xtask tools`: in the venv under the
/// target directory, else on `PATH` (as `cargo xtask test` runs the tests).
pub fn kubernetes_validate_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let venv = target
        .join("tools")
        .join("venv")
        .join("bin")
        .join("kubernetes-validate");
    if venv.is_file() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "kubernetes-validate not found ({} nor on PATH): run `cargo xtask tools`",
            venv.display()
        )
    })
}

/// What kubernetes-validate said about a YAML stream.
#[derive(Debug)]
pub struct Validation {
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout and stderr.
    pub output: String,
}

impl Validation {
    /// Objects it validated against a schema and passed (an object of a kind
    /// it has no schema for is only warned about).
    pub fn passed(&self) -> usize {
        self.output
            .lines()
            .filter(|l| l.starts_with("INFO ") && l.contains(" passed for resource "))
            .count()
    }

    /// Lines other than `passed` ones: warnings and errors.
    pub fn complaints(&self) -> Vec<&str> {
        self.output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !(l.starts_with("INFO ") && l.contains(" passed for resource ")))
            .collect()
    }
}

/// `kubernetes-validate --strict -k <KUBERNETES_VERSION>` on `yaml` (written
/// to a temporary file named after `name`).
pub fn kubernetes_validate(name: &str, yaml: &str) -> Validation {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let file = std::env::temp_dir().join(format!(
        "e2e-manifests-{}-{}-{name}.yaml",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, yaml).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
    let bin = kubernetes_validate_bin();
    let out = Command::new(&bin)
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} not runnable ({e}): run `cargo xtask tools`",
                bin.display()
            )
        });
    // Best effort: a leftover file in the temp dir fails nothing.
    let _ = std::fs::remove_file(&file);
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Validation {
        success: out.status.success(),
        output,
    }
}

/// Asserts that kubernetes-validate ([`kubernetes_validate`], the temporary
/// file named after `name`) passes `yaml`: it exits 0, validates every object
/// against a schema, and complains about nothing.
pub fn assert_valid(name: &str, yaml: &str) {
    let validation = kubernetes_validate(name, yaml);
    println!("{}", validation.output);
    assert!(
        validation.success,
        "kubernetes-validate failed:\n{}",
        validation.output
    );
    assert_eq!(
        validation.passed(),
        documents(yaml).len(),
        "every object is validated against a schema:\n{}",
        validation.output
    );
    assert!(
        validation.complaints().is_empty(),
        "kubernetes-validate complained: {:?}",
        validation.complaints()
    );
}

/// The objects of a YAML stream, as JSON; empty documents are skipped.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("not a YAML object stream: {e}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The strings of a JSON array (none for anything else).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
