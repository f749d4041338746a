//! operatorkit's modules import in one direction only: the loop sits above
//! the steps, the steps above their helpers. This test reads the sources,
//! takes every `crate::<module>` a module's code names (comments and unit
//! tests left out), and fails on a cycle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> its code (the files of `src/<module>.rs` or
/// `src/<module>/**.rs`), without comments and `#[cfg(test)]` tails.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if name == "lib" {
            continue;
        }
        let mut code = String::new();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
            code.push_str(&without_tests_and_comments(&text));
        }
        modules
            .entry(name)
            .or_insert_with(String::new)
            .push_str(&code);
    }
    modules
}

fn rust_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{e}"))
            .flat_map(|e| rust_files(&e.unwrap_or_else(|e| panic!("{e}")).path()))
            .collect();
        files.sort();
        files
    } else if path.extension().is_some_and(|e| e == "rs") {
        vec![path.to_owned()]
    } else {
        Vec::new()
    }
}

fn without_tests_and_comments(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `code` names as `crate::<module>` (not `$crate::` in macros).
fn imports(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with('$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(&name) {
            found.insert(name);
        } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            panic!("`crate::{name}` names a re-export: import it from its module");
        }
        // `crate::{a, b}` groups.
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for part in group.split(',') {
                let head = part.trim().split("::").next().unwrap_or_default();
                if modules.contains(head) {
                    found.insert(head.to_owned());
                }
            }
        }
    }
    found
}

/// A cycle in `graph`, if any, as the modules along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut c = path[at..].to_vec();
            c.push(node.to_owned());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_import_in_one_direction_only() {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(m, code)| {
            let mut deps = imports(code, &names);
            deps.remove(m);
            (m.clone(), deps)
        })
        .collect();
    // The expected shape, so that the test cannot pass by reading nothing.
    assert!(graph["reconcile"].contains("step") && graph["reconcile"].contains("context"));
    assert!(graph["children"].contains("crud"));
    assert!(graph["crud"].contains("step"));
    if let Some(c) = cycle(&graph) {
        panic!(
            "import cycle between operatorkit's modules: {}",
            c.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["c".to_owned()].into()),
        ("c".to_owned(), ["a".to_owned()].into()),
    ]
    .into();
    assert_eq!(
        cycle(&graph).map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_owned())
    );
    let names: BTreeSet<String> = ["status".to_owned(), "step".to_owned()].into();
    let code = "use crate::status::X;\nuse crate::{step::Step, status};\n$crate::step::x";
    assert_eq!(imports(code, &names), names);
}
