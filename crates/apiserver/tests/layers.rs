//! The crate's layers, as its crate doc draws them (`# Layers` in
//! `src/lib.rs`), hold in the code: every top-level module is on one line of
//! the picture and refers (`crate::<module>`) only to modules on lower
//! lines, outside its tests. So no import cycle between modules can come
//! back, and the picture stays true. The Kubernetes port crates do not
//! depend on the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The layers of the crate doc's picture, top first: the module names
/// before the description on each line of the `text` block under `# Layers`.
fn layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let section = doc
        .split("//! # Layers")
        .nth(1)
        .expect("a # Layers section");
    let block = section.split("//! ```").nth(1).expect("a picture");
    block
        .lines()
        .map(|l| l.trim_start_matches("//!"))
        .filter(|l| l.starts_with("  ") && !l.trim().starts_with('│') && !l.trim().is_empty())
        .map(|l| {
            let names = l.trim_start().split("   ").next().unwrap_or_default();
            names.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

/// Every `.rs` file of each top-level module (a file or a directory).
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            out.insert(name, rust_files(&path));
        } else if name != "lib" && name != "main" && path.extension().is_some_and(|e| e == "rs") {
            out.insert(name, vec![path]);
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level modules a file's code (not its `#[cfg(test)]` tests,
/// which come last) names as `crate::<module>` or in `use crate::{...}`.
fn referred(file: &Path, known: &BTreeSet<String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap_or_default())
                .collect(),
            None => vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or_default(),
            ],
        };
        out.extend(
            names
                .into_iter()
                .filter(|n| known.contains(*n))
                .map(str::to_owned),
        );
    }
    out
}

#[test]
fn every_module_refers_only_to_lower_layers() {
    let layers = layers();
    let layer_of: BTreeMap<String, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.clone(), i)))
        .collect();
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let unplaced: Vec<&String> = known
        .iter()
        .filter(|m| !layer_of.contains_key(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from the picture in lib.rs: {unplaced:?}"
    );
    let stale: Vec<&String> = layer_of.keys().filter(|m| !known.contains(*m)).collect();
    assert!(
        stale.is_empty(),
        "the picture names modules that do not exist: {stale:?}"
    );
    let mut upwards = Vec::new();
    for (module, files) in &modules {
        for file in files {
            for target in referred(file, &known) {
                if target != *module && layer_of[&target] <= layer_of[module] {
                    upwards.push(format!("{} -> crate::{target}", file.display()));
                }
            }
        }
    }
    assert!(
        upwards.is_empty(),
        "imports that are not downwards:\n{}",
        upwards.join("\n")
    );
}

#[test]
fn the_picture_has_every_layer() {
    let layers = layers();
    assert_eq!(layers.first().unwrap(), &["server"]);
    assert_eq!(
        layers.last().unwrap(),
        &["error", "meta", "user", "gobase64"]
    );
    assert!(layers.len() >= 10, "{layers:?}");
}

#[test]
fn the_port_crates_do_not_depend_on_the_server() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for port in [
        "gofmt",
        "query",
        "structural",
        "strategic-merge",
        "protobuf",
    ] {
        let manifest = std::fs::read_to_string(crates.join(port).join("Cargo.toml")).unwrap();
        assert!(
            !manifest.contains("operatorkit-apiserver"),
            "crates/{port} depends on the server"
        );
    }
}
