//! Tests against the project's real CRDs and example objects.
//!
//! This module owns the end-to-end checks on `manifests/crds/*.yaml`,
//! `manifests/examples/*.yaml` (valid after prune + default) and
//! `manifests/examples/invalid/*.yaml` (each file's second line is
//! `# expect: <fragment>`; fragments that are not CEL rule messages must be
//! produced by [`super::validate`]). The manifests directory is taken from
//! the repository's `manifests/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{check_structural, default, prune, validate};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

fn load(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap();
    serde_yaml::from_str::<Value>(&text).unwrap()
}

struct Crd {
    schema: Value,
    cel_messages: Vec<String>,
}

fn collect_cel_messages(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(rules)) = m.get("x-kubernetes-validations") {
                for r in rules {
                    if let Some(msg) = r.get("message").and_then(Value::as_str) {
                        out.push(msg.to_string());
                    }
                }
            }
            for e in m.values() {
                collect_cel_messages(e, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|e| collect_cel_messages(e, out)),
        _ => {}
    }
}

fn crds() -> BTreeMap<String, Crd> {
    let mut out = BTreeMap::new();
    for f in yaml_files(&manifests_dir().join("crds")) {
        let crd = load(&f);
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
        assert!(schema.is_object(), "{f:?} has no schema");
        let mut cel_messages = Vec::new();
        collect_cel_messages(&schema, &mut cel_messages);
        out.insert(
            kind,
            Crd {
                schema,
                cel_messages,
            },
        );
    }
    assert!(!out.is_empty());
    out
}

fn process(crd: &Crd, obj: &mut Value) -> (Vec<String>, Vec<String>) {
    let pruned = prune(&crd.schema, obj);
    default(&crd.schema, obj);
    let errs = validate(&crd.schema, obj)
        .iter()
        .map(ToString::to_string)
        .collect();
    (pruned, errs)
}

#[test]
fn crd_schemas_are_structural() {
    for (kind, crd) in crds() {
        let errs: Vec<String> = check_structural(&crd.schema)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(errs.is_empty(), "{kind}: {errs:#?}");
    }
}

#[test]
fn examples_are_valid_after_defaulting() {
    let crds = crds();
    let files = yaml_files(&manifests_dir().join("examples"));
    assert!(!files.is_empty());
    for f in files {
        let mut obj = load(&f);
        let kind = obj["kind"].as_str().unwrap().to_string();
        let crd = &crds[&kind];
        let (pruned, errs) = process(crd, &mut obj);
        assert!(pruned.is_empty(), "{f:?}: pruned {pruned:?}");
        assert!(errs.is_empty(), "{f:?}: {errs:#?}");
    }
}

#[test]
fn examples_get_their_defaults() {
    let crds = crds();
    let mut obj = load(&manifests_dir().join("examples/certconfig-worker.yaml"));
    let (_, errs) = process(&crds["CertConfig"], &mut obj);
    assert!(errs.is_empty());
    assert_eq!(obj["spec"]["ttl"], "2160h");
    assert_eq!(obj["spec"]["allowBareDomains"], false);
    assert_eq!(obj["spec"]["altNames"], serde_json::json!([]));
    let mut obj = load(&manifests_dir().join("examples/awsconfig.yaml"));
    let (_, errs) = process(&crds["AWSConfig"], &mut obj);
    assert!(errs.is_empty());
    assert_eq!(obj["spec"]["cluster"]["etcd"]["port"], 2379);
    assert_eq!(obj["spec"]["cluster"]["kubernetes"]["dnsIP"], "172.31.0.10");
    assert_eq!(obj["spec"]["masters"][0]["dockerVolumeSize"], "50Gi");
}

#[test]
fn invalid_examples_report_the_expected_error() {
    let crds = crds();
    let files = yaml_files(&manifests_dir().join("examples/invalid"));
    assert!(!files.is_empty());
    let mut checked = 0;
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let second = text.lines().nth(1).unwrap();
        let fragment = second
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{f:?}: no expectation line"))
            .trim();
        let mut obj = load(&f);
        let kind = obj["kind"].as_str().unwrap().to_string();
        let crd = &crds[&kind];
        let (_, errs) = process(crd, &mut obj);
        if crd.cel_messages.iter().any(|m| m.contains(fragment)) {
            // a CEL rule's message: the schema must let the object through,
            // otherwise the CEL rule would never run.
            assert!(
                super::cel_blocking_error(&validate(&crd.schema, &obj)).is_none(),
                "{f:?}: schema errors block CEL: {errs:#?}"
            );
            continue;
        }
        assert!(
            errs.iter().any(|e| e.contains(fragment)),
            "{f:?}: expected {fragment:?} in {errs:#?}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} non-CEL expectations checked");
}
