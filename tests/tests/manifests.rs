//! `manifests/`: the one entry point that installs everything
//! (`kubectl apply -k manifests/`). Rendered with `kubectl kustomize`, it is
//! exactly the operatorkit-system Namespace, every CRD of `manifests/crds/`
//! and each operator's own `manifests/<operator>/` rendering, unchanged;
//! it validates against Kubernetes; and `kubectl apply --dry-run=server -k`
//! of it passes against the API server (here moved into the test's own
//! namespace by an overlay, so that it can run against any cluster).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use e2e::manifests::{self, documents, kustomize, manifests_dir};
use serde_json::Value;

/// The operators `manifests/` installs, each from `manifests/<name>/`.
const OPERATORS: [&str; 5] = [
    "cert-operator",
    "flannel-operator",
    "ingress-operator",
    "kvm-operator",
    "aws-operator",
];

/// Kustomizations under `manifests/` that are variants of an operator's
/// (installed instead of it, not beside it).
const VARIANTS: [&str; 1] = ["cert-operator-vault"];

/// Where every operator runs.
const NAMESPACE: &str = "operatorkit-system";

/// An object's identity: kind, namespace, name.
fn identity(o: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&o["kind"]),
        text(&o["metadata"]["namespace"]),
        text(&o["metadata"]["name"]),
    )
}

fn by_identity(objects: Vec<Value>) -> BTreeMap<(String, String, String), Value> {
    let mut map = BTreeMap::new();
    for o in objects {
        let id = identity(&o);
        assert!(map.insert(id.clone(), o).is_none(), "{id:?} twice");
    }
    map
}

/// The CRDs of `manifests/crds/`, as their files hold them.
fn crds() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests_dir("crds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// `v` with every whole-number float as an integer: kustomize writes the
/// CRD files' `65535.0` as `65535`, the same number.
fn normalized(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::from(f as i64)
            }
            _ => v.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalized(v))).collect())
        }
        _ => v.clone(),
    }
}

#[test]
fn the_whole_is_the_namespace_the_crds_and_each_operator_unchanged() {
    let whole = by_identity(documents(&kustomize(&manifests_dir(""))));
    let mut parts = vec![serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE},
    })];
    parts.extend(crds());
    for operator in OPERATORS {
        parts.extend(manifests::objects(operator));
    }
    let parts = by_identity(parts);
    assert_eq!(
        whole.keys().collect::<Vec<_>>(),
        parts.keys().collect::<Vec<_>>(),
        "manifests/ renders exactly the namespace, the CRDs and the operators"
    );
    for (id, object) in &whole {
        assert_eq!(
            normalized(object),
            normalized(&parts[id]),
            "{id:?} differs from its own rendering"
        );
    }
    assert_eq!(
        whole
            .keys()
            .filter(|(kind, ..)| kind == "Deployment")
            .count(),
        OPERATORS.len()
    );
}

#[test]
fn every_operator_directory_is_installed_or_a_known_variant() {
    for entry in std::fs::read_dir(manifests_dir("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !path.join("kustomization.yaml").is_file() {
            continue;
        }
        assert!(
            OPERATORS.contains(&name.as_str()) || VARIANTS.contains(&name.as_str()),
            "manifests/{name} is neither in manifests/kustomization.yaml's operators nor a variant"
        );
    }
}

#[test]
fn the_whole_validates() {
    manifests::assert_valid("manifests-all", &kustomize(&manifests_dir("")));
}

/// `to` relative to `from` (both absolute): kustomize takes only relative
/// paths to a base.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_side_dry_run_of_the_whole_passes() {
    let (env, kubectl) = e2e::kubectl::session().await;
    // An overlay moving everything into the test's namespace, as a platform
    // team would to install into another namespace.
    let overlay =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("manifests-{}", env.namespace()));
    std::fs::create_dir_all(&overlay).unwrap();
    let overlay = overlay.canonicalize().unwrap();
    let base = relative(&overlay, &manifests_dir("").canonicalize().unwrap());
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {}\nresources:\n  - {}\n",
            env.namespace(),
            base.display()
        ),
    )
    .unwrap();
    let out = kubectl.ok(&["apply", "--dry-run=server", "-k", overlay.to_str().unwrap()]);
    let applied: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with("(server dry run)"))
        .collect();
    let rendered = documents(&kustomize(&overlay));
    assert_eq!(applied.len(), rendered.len(), "{out}");
    for kind in [
        "customresourcedefinition",
        "deployment",
        "clusterrole",
        "serviceaccount",
    ] {
        assert!(
            applied
                .iter()
                .any(|l| l.starts_with(&format!("{kind}/")) || l.starts_with(&format!("{kind}."))),
            "no {kind} in:\n{out}"
        );
    }
    // Nothing was made.
    let deployments = kubectl.ok(&["get", "deployments", "-o", "name"]);
    assert!(deployments.trim().is_empty(), "{deployments}");
    std::fs::remove_dir_all(&overlay).unwrap();
    env.stop().await;
}
