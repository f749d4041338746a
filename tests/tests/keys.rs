//! Every well-known key is spelled once: the string literal that defines it
//! appears exactly once in the non-test code of the repository, and no key
//! is written out whole anywhere (they are built from the one prefix).

use std::path::{Path, PathBuf};

use apiextensions::keys;

/// The repository's non-test Rust code: every `.rs` file outside `target/`,
/// test crates, `tests/` and `benches/` folders, cut at its unit tests, with
/// comments removed.
fn code() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (f, code)
        })
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | "tests" | "benches" | ".git") && !name.starts_with('.') {
                walk(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// Where `literal` (with its quotes) occurs.
fn occurrences(code: &[(PathBuf, String)], literal: &str) -> Vec<String> {
    let quoted = format!("\"{literal}\"");
    code.iter()
        .flat_map(|(f, c)| {
            c.lines()
                .filter(|l| l.contains(&quoted))
                // CRD printer columns are named in kube's derive attributes.
                .filter(|l| !l.trim_start().starts_with("name = \"Ready\""))
                // Kubernetes' own pod and node condition type, which the
                // printers show, the embedded API server reads (evictions)
                // and the simulated kubelet writes: defined once in the
                // query crate they all build on (none can depend on
                // operatorkit, which has its own).
                .filter(|l| {
                    !l.trim_start()
                        .starts_with("pub const READY: &str = \"Ready\";")
                        || !f.ends_with("crates/query/src/printers/mod.rs")
                })
                .map(move |l| format!("{}: {}", f.display(), l.trim()))
        })
        .collect()
}

#[test]
fn every_key_is_defined_by_one_literal() {
    let code = code();
    assert!(code.len() > 50, "found only {} files", code.len());
    for literal in [
        "operatorkit.dev",
        "app.kubernetes.io/managed-by",
        "paused",
        "cluster",
        "component",
        "Ready",
        "spec-hash",
        "certconfig",
        "ca",
    ] {
        let found = occurrences(&code, literal);
        // `certconfig` is also the singular name of the kind and a metric
        // label: only its use inside key! counts.
        let found: Vec<_> = match literal {
            "certconfig" | "ca" | "cluster" | "component" | "paused" | "spec-hash" => {
                found.into_iter().filter(|l| l.contains("key!(")).collect()
            }
            _ => found,
        };
        assert_eq!(
            found.len(),
            1,
            "{literal:?} is defined {} times: {found:#?}",
            found.len()
        );
    }
}

#[test]
fn no_key_is_written_out_whole() {
    let code = code();
    let mut keys: Vec<String> = vec![
        keys::PAUSED_ANNOTATION.to_owned(),
        keys::CLUSTER_LABEL.to_owned(),
        keys::COMPONENT_LABEL.to_owned(),
        cert_operator::CA_LABEL.to_owned(),
        cert_operator::HASH_ANNOTATION.to_owned(),
        cert_operator::CERTCONFIG_ANNOTATION.to_owned(),
        operatorkit::testing::TEST_LABEL.to_owned(),
    ];
    for op in keys::OPERATORS {
        keys.push(op.version_label());
        keys.push(op.finalizer());
    }
    for key in keys {
        let found = occurrences(&code, &key);
        assert!(found.is_empty(), "{key:?} is spelled out: {found:#?}");
    }
}
