//! `cargo xtask new-operator <name> --kind <Kind> --group <group> [--out <dir>]`:
//! writes a new operator on operatorkit, green on its first `cargo test`.
//!
//! Inside the workspace (no `--out`) the crate goes to `<name>/`, its
//! manifests to `manifests/<name>/`, and it is added to the workspace's
//! members; it uses the workspace's dependencies. With `--out` it is a
//! project of its own that depends on operatorkit by version.
//!
//! Every argument is checked before anything is written, and a failure while
//! writing removes what was written: bad arguments leave nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::workspace;

/// Arguments of `cargo xtask new-operator`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The operator's name: a DNS label such as `widget-operator` (also the
    /// crate, binary, finalizer and label prefix).
    pub name: String,
    /// The kind it reconciles, UpperCamelCase (`Widget`).
    #[arg(long)]
    pub kind: String,
    /// The API group of the kind, a DNS subdomain with a dot (`example.com`).
    #[arg(long)]
    pub group: String,
    /// Write a standalone project into this (new) directory instead of a
    /// crate of this workspace.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One file of the scaffold: where it goes and its template.
struct Template {
    /// Path relative to the crate, or to the manifests directory.
    path: &'static str,
    text: &'static str,
    manifest: bool,
}

macro_rules! template {
    ($path:literal, $file:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("../templates/operator/", $file)),
            manifest: false,
        }
    };
    (manifest $path:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("../templates/operator/manifests/", $path)),
            manifest: true,
        }
    };
}

/// Files of both layouts.
const COMMON: &[Template] = &[
    template!("README.md", "README.md"),
    template!("Dockerfile", "Dockerfile"),
    template!("src/lib.rs", "src/lib.rs"),
    template!("src/main.rs", "src/main.rs"),
    template!("src/crd.rs", "src/crd.rs"),
    template!("src/resource.rs", "src/resource.rs"),
    template!("tests/operator.rs", "tests/operator.rs"),
    template!("benches/operator.rs", "benches/operator.rs"),
    template!(manifest "kustomization.yaml"),
    template!(manifest "service-account.yaml"),
    template!(manifest "cluster-role.yaml"),
    template!(manifest "cluster-role-binding.yaml"),
    template!(manifest "leader-election-role.yaml"),
    template!(manifest "leader-election-role-binding.yaml"),
    template!(manifest "deployment.yaml"),
    template!(manifest "service.yaml"),
];

/// Files of a crate of this workspace only.
const WORKSPACE: &[Template] = &[template!("Cargo.toml", "Cargo.workspace.toml")];

/// Files of a standalone project only.
const STANDALONE: &[Template] = &[
    template!("Cargo.toml", "Cargo.standalone.toml"),
    template!("clippy.toml", "clippy.toml"),
    template!(".gitignore", "gitignore"),
    template!(".dockerignore", "dockerignore"),
];

/// Writes the operator `args` describes, into the workspace at `root` or
/// where `--out` says. Returns the directory of the new crate.
pub fn run(args: &Args, root: &Path) -> anyhow::Result<PathBuf> {
    let names = Names::new(&args.name, &args.kind, &args.group)?;
    let plan = Plan::new(&names, args.out.as_deref(), root)?;
    plan.write()
        .with_context(|| format!("writing {}; nothing was kept", args.name))?;
    plan.rustfmt();
    eprintln!("==> new-operator: wrote {}", plan.crate_dir.display());
    Ok(plan.crate_dir)
}

/// The checked names the templates are filled with.
#[derive(Debug)]
struct Names {
    vars: BTreeMap<&'static str, String>,
}

impl Names {
    fn new(name: &str, kind: &str, group: &str) -> anyhow::Result<Self> {
        check_name(name)?;
        check_kind(kind)?;
        check_group(group)?;
        let plural = plural(&kind.to_ascii_lowercase());
        let crd = format!("{plural}.{group}");
        if crd.len() > 253 {
            bail!("invalid group {group:?}: the CRD name {crd:?} would be longer than 253");
        }
        let vars = BTreeMap::from([
            ("name", name.to_owned()),
            ("crate", name.replace('-', "_")),
            ("Kind", kind.to_owned()),
            ("kind_lower", kind.to_ascii_lowercase()),
            ("kind_snake", snake_case(kind)),
            ("plural", plural),
            ("group", group.to_owned()),
        ]);
        Ok(Self { vars })
    }

    fn name(&self) -> &str {
        &self.vars["name"]
    }
}

/// What will be written where.
struct Plan {
    crate_dir: PathBuf,
    manifests_dir: PathBuf,
    files: Vec<(PathBuf, String)>,
    /// The workspace manifest, when the crate joins it: path, old, new text.
    members: Option<(PathBuf, String, String)>,
}

impl Plan {
    fn new(names: &Names, out: Option<&Path>, root: &Path) -> anyhow::Result<Self> {
        let name = names.name();
        let mut vars = names.vars.clone();
        vars.insert("rust_version", rust_version(root)?);
        vars.insert("operatorkit_version", operatorkit_version(root)?);
        vars.insert("manifests_path", format!("manifests/{name}"));
        let (crate_dir, manifests_dir, members, layout) = match out {
            Some(dir) => {
                let dir = &std::path::absolute(dir)
                    .with_context(|| format!("resolving {}", dir.display()))?;
                vars.insert("namespace", name.to_owned());
                vars.insert("image", name.to_owned());
                vars.insert("bench_command", "cargo bench".to_owned());
                vars.insert(
                    "docker_context",
                    "The build context is this project.".to_owned(),
                );
                vars.insert("docker_build", format!("docker build -t {name}:0.1.0 ."));
                vars.insert("manifests_from_crate", format!("manifests/{name}"));
                (
                    dir.to_path_buf(),
                    dir.join("manifests").join(name),
                    None,
                    STANDALONE,
                )
            }
            None => {
                vars.insert("namespace", "operatorkit-system".to_owned());
                vars.insert("image", format!("ghcr.io/operatorkit/{name}"));
                vars.insert("bench_command", format!("cargo xtask bench {name}"));
                vars.insert(
                    "docker_context",
                    "The build context is the repository root (the Cargo workspace).".to_owned(),
                );
                vars.insert(
                    "docker_build",
                    format!(
                        "docker build -f {name}/Dockerfile -t ghcr.io/operatorkit/{name}:0.1.0 ."
                    ),
                );
                vars.insert("manifests_from_crate", format!("../manifests/{name}"));
                refuse_taken(root, name)?;
                let manifest = root.join("Cargo.toml");
                let old = std::fs::read_to_string(&manifest)
                    .with_context(|| format!("reading {}", manifest.display()))?;
                let new = add_member(&old, name)?;
                let dirs = (root.join(name), root.join("manifests").join(name));
                (dirs.0, dirs.1, Some((manifest, old, new)), WORKSPACE)
            }
        };
        for dir in [&crate_dir, &manifests_dir] {
            if dir.exists() {
                bail!(
                    "{} already exists; pick another name or directory",
                    dir.display()
                );
            }
        }
        let mut files = Vec::new();
        for t in COMMON.iter().chain(layout) {
            let base = if t.manifest {
                &manifests_dir
            } else {
                &crate_dir
            };
            files.push((base.join(t.path), render(t.text, &vars)?));
        }
        Ok(Self {
            crate_dir,
            manifests_dir,
            files,
            members,
        })
    }

    /// Writes every file, or, on the first failure, removes what it wrote
    /// (with the directories it made on the way).
    fn write(&self) -> anyhow::Result<()> {
        let made: Vec<PathBuf> = [&self.crate_dir, &self.manifests_dir]
            .into_iter()
            .filter_map(|d| first_missing(d))
            .collect();
        let result = self.try_write();
        if result.is_err() {
            for dir in &made {
                let _ = std::fs::remove_dir_all(dir);
            }
            if let Some((path, old, _)) = &self.members {
                let _ = std::fs::write(path, old);
            }
        }
        result
    }

    /// Formats the new crate's Rust files (the templates are formatted for
    /// typical names; long ones may wrap differently). Without rustfmt the
    /// files stay as rendered.
    fn rustfmt(&self) {
        let sources = self
            .files
            .iter()
            .map(|(path, _)| path)
            .filter(|p| p.extension().is_some_and(|e| e == "rs"));
        let formatted = Command::new("rustfmt")
            .args(["--edition", "2024"])
            .args(sources)
            .status();
        if !formatted.is_ok_and(|s| s.success()) {
            eprintln!("==> new-operator: rustfmt did not run; run `cargo fmt` in the new crate");
        }
    }

    fn try_write(&self) -> anyhow::Result<()> {
        for (path, text) in &self.files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        if let Some((path, _, new)) = &self.members {
            std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// The outermost directory of `dir` (itself included) that does not exist yet.
fn first_missing(dir: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || ancestor.exists() {
            break;
        }
        missing = Some(ancestor.to_path_buf());
    }
    missing
}

/// `text` with every `{{var}}` replaced; an unknown one is an error.
fn render(text: &str, vars: &BTreeMap<&'static str, String>) -> anyhow::Result<String> {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    if let Some(at) = out.find("{{") {
        let rest: String = out[at..].chars().take(30).collect();
        bail!("template placeholder without a value: {rest:?}");
    }
    Ok(out)
}

/// The longest name: `<name>-metrics` (the Service) must be a DNS label.
const MAX_NAME: usize = 63 - "-metrics".len();

/// The longest kind: its list kind, lowercased, must be a DNS label.
const MAX_KIND: usize = 63 - "List".len();

/// Rust keywords and names the crate cannot take.
const RESERVED_NAMES: &[&str] = &[
    "as",
    "async",
    "await",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "abstract",
    "become",
    "do",
    "final",
    "override",
    "std",
    "core",
    "alloc",
    "proc-macro",
    "test",
    "operatorkit",
    "operatorkit-apiserver",
    "serde",
    "serde-json",
    "tokio",
    "tracing",
    "criterion",
    "xtask",
    "tests",
    "manifests",
    "crates",
    "docs",
    "target",
    "build",
    "deps",
    "incremental",
    "examples",
];

/// Kinds the generated code cannot use: names it imports or defines, and
/// the prelude's (kube-derive's code says `Default::default()` unqualified).
/// A unit test checks every name the templates import is here.
const RESERVED_KINDS: &[&str] = &[
    "Self",
    "Condition",
    "ConfigMap",
    "Context",
    "CustomResource",
    "CustomResourceExt",
    "Deserialize",
    "Event",
    "JsonSchema",
    "Message",
    "ObjectMeta",
    "Operator",
    "OperatorName",
    "OperatorStatus",
    "Outcome",
    "ResourceExt",
    "Serialize",
    "Step",
    "StepError",
    "Api",
    "Patch",
    "PatchParams",
    "PostParams",
    "ListParams",
    "TestEnv",
    "OperatorRun",
    "ServiceAccountIdentity",
    "ClusterRole",
    "Role",
    "Criterion",
    "SamplingMode",
    "Duration",
    "Instant",
    "Default",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "Iterator",
    "IntoIterator",
    "Extend",
    "ToString",
    "ToOwned",
    "Into",
    "From",
    "TryFrom",
    "TryInto",
    "AsRef",
    "AsMut",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "Vec",
    "Box",
];

fn check_name(name: &str) -> anyhow::Result<()> {
    if !is_dns_label(name) {
        bail!(
            "invalid name {name:?}: must be a DNS label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most 63 characters), \
             e.g. widget-operator"
        );
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("invalid name {name:?}: a crate name cannot start with a digit");
    }
    if name.contains("--") {
        bail!(
            "invalid name {name:?}: no \"--\" (the crate name would hold \"__\", which is not snake case)"
        );
    }
    if name.len() > MAX_NAME {
        bail!(
            "invalid name {name:?}: at most {MAX_NAME} characters, so that the Service \
             `<name>-metrics` is a valid name (63)"
        );
    }
    if RESERVED_NAMES.contains(&name) {
        bail!(
            "invalid name {name:?}: reserved (a Rust keyword, a crate it depends on, or a directory of this repository)"
        );
    }
    Ok(())
}

fn check_kind(kind: &str) -> anyhow::Result<()> {
    let mut chars = kind.chars();
    let camel = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && kind.chars().any(|c| c.is_ascii_lowercase());
    if !camel || kind.len() > MAX_KIND {
        bail!(
            "invalid kind {kind:?}: must be UpperCamelCase (an uppercase ASCII letter, then \
             letters and digits, at most {MAX_KIND}: `<kind>list` must be a DNS label), \
             e.g. Widget or DnsRecord"
        );
    }
    if RESERVED_KINDS.contains(&kind) {
        bail!("invalid kind {kind:?}: the generated code uses that name for something else");
    }
    Ok(())
}

fn check_group(group: &str) -> anyhow::Result<()> {
    let subdomain = group.len() <= 253 && group.split('.').all(is_dns_label);
    if !subdomain || !group.contains('.') {
        bail!(
            "invalid group {group:?}: must be a DNS subdomain with at least one dot \
             (lowercase letters, digits, '-' and '.'), e.g. example.com"
        );
    }
    if group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io")
    {
        bail!("invalid group {group:?}: *.k8s.io and *.kubernetes.io are reserved for Kubernetes");
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// `DnsRecord` → `dns_record`.
fn snake_case(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The resource name of a lowercase kind, by the English rules kubectl and
/// kube's derive use for regular nouns (`policy` → `policies`).
fn plural(kind: &str) -> String {
    let consonant_y = kind.ends_with('y')
        && !kind
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c));
    if consonant_y {
        format!("{}ies", &kind[..kind.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| kind.ends_with(e))
    {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    }
}

/// Refuses `name` when a package or bench target of the workspace at `root`
/// has it already (`e2e` lives in `tests/`, the bench `issue` in
/// cert-operator): two packages of one name break every cargo command, and
/// `cargo xtask bench <name>` must say one thing.
fn refuse_taken(root: &Path, name: &str) -> anyhow::Result<()> {
    let metadata = workspace::metadata(root)?;
    for package in metadata["packages"].as_array().into_iter().flatten() {
        if package["name"] == name {
            bail!("invalid name {name:?}: a package of the workspace is called that already");
        }
        for target in package["targets"].as_array().into_iter().flatten() {
            if target["name"] == name {
                bail!(
                    "invalid name {name:?}: a target of package {} is called that already",
                    package["name"]
                );
            }
        }
    }
    Ok(())
}

/// The workspace manifest `text` with `name` added to its members.
fn add_member(text: &str, name: &str) -> anyhow::Result<String> {
    let open = text
        .find("members = [")
        .context("the workspace Cargo.toml has no `members = [` list")?
        + "members = [".len();
    let close = open
        + text[open..]
            .find(']')
            .context("the workspace members list is not closed")?;
    let quoted = format!("\"{name}\"");
    let inner = &text[open..close];
    if inner.contains(&quoted) {
        bail!("{name} is already a member of the workspace");
    }
    let listed = inner.trim_end();
    let new_inner = if inner.contains('\n') {
        // One member per line: after the last one, comma included.
        let comma = if listed.ends_with(',') || listed.is_empty() {
            ""
        } else {
            ","
        };
        format!("{listed}{comma}\n    {quoted},\n")
    } else if listed.trim().is_empty() {
        quoted
    } else {
        let listed = listed.trim_end_matches(',');
        format!("{listed}, {quoted}")
    };
    Ok(format!("{}{new_inner}{}", &text[..open], &text[close..]))
}

/// The workspace's `rust-version`.
fn rust_version(root: &Path) -> anyhow::Result<String> {
    manifest_value(&root.join("Cargo.toml"), "rust-version")
}

/// operatorkit's version, as the standalone project asks for it.
fn operatorkit_version(root: &Path) -> anyhow::Result<String> {
    manifest_value(&root.join("operatorkit").join("Cargo.toml"), "version")
}

/// The first `key = "value"` line of the TOML file at `path`.
fn manifest_value(path: &Path, key: &str) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .with_context(|| format!("no {key} in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch workspace: a root manifest with members, and operatorkit's.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "xtask-scaffold-{tag}-{}-{}",
                std::process::id(),
                unique_suffix()
            ));
            std::fs::create_dir_all(dir.join("operatorkit")).unwrap();
            std::fs::create_dir_all(dir.join("a/src")).unwrap();
            std::fs::write(
                dir.join("a/Cargo.toml"),
                "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[[bench]]\nname = \"speed\"\nharness = false\n",
            )
            .unwrap();
            std::fs::write(dir.join("a/src/lib.rs"), "").unwrap();
            std::fs::create_dir_all(dir.join("a/benches")).unwrap();
            std::fs::write(dir.join("a/benches/speed.rs"), "fn main() {}\n").unwrap();
            std::fs::write(
                dir.join("Cargo.toml"),
                "[workspace]\nmembers = [\n    \"a\",\n]\n\n[workspace.package]\nrust-version = \"1.95\"\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("operatorkit/Cargo.toml"),
                "[package]\nname = \"operatorkit\"\nversion = \"0.2.0\"\n",
            )
            .unwrap();
            Self(dir)
        }

        /// Every path under the scratch root, and the root manifest's text.
        fn snapshot(&self) -> (Vec<PathBuf>, String) {
            fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
                for e in std::fs::read_dir(dir).unwrap() {
                    let p = e.unwrap().path();
                    out.push(p.clone());
                    if p.is_dir() {
                        walk(&p, out);
                    }
                }
            }
            let mut paths = Vec::new();
            walk(&self.0, &mut paths);
            paths.sort();
            let manifest = std::fs::read_to_string(self.0.join("Cargo.toml")).unwrap();
            (paths, manifest)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn unique_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }

    fn args(name: &str, kind: &str, group: &str, out: Option<PathBuf>) -> Args {
        Args {
            name: name.into(),
            kind: kind.into(),
            group: group.into(),
            out,
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(Names::new("widget-operator", "Widget", "example.com").is_ok());
        assert!(Names::new("w2", "DnsRecord2", "apps.example.io").is_ok());
        let long = "a".repeat(56);
        assert!(Names::new(&"a".repeat(55), "Widget", "example.com").is_ok());
        for bad in [
            "Widget", "-widget", "widget-", "wid_get", "1widget", "test", "", &long,
        ] {
            let e = Names::new(bad, "Widget", "example.com").unwrap_err();
            assert!(e.to_string().contains("invalid name"), "{bad}: {e}");
        }
        for bad in ["widget", "Wid-get", "WIDGET", "Self", "ConfigMap", ""] {
            let e = Names::new("w", bad, "example.com").unwrap_err();
            assert!(e.to_string().contains("invalid kind"), "{bad}: {e}");
        }
        for bad in [
            "example",
            "Example.com",
            "a..b",
            "-a.b",
            "foo.k8s.io",
            "kubernetes.io",
        ] {
            let e = Names::new("w", "Widget", bad).unwrap_err();
            assert!(e.to_string().contains("invalid group"), "{bad}: {e}");
        }
    }

    #[test]
    fn derived_names() {
        for (kind, plural_form) in [
            ("widget", "widgets"),
            ("policy", "policies"),
            ("gateway", "gateways"),
            ("box", "boxes"),
            ("class", "classes"),
            ("match", "matches"),
        ] {
            assert_eq!(plural(kind), plural_form);
        }
        assert_eq!(snake_case("DnsRecord"), "dns_record");
        assert_eq!(snake_case("Widget"), "widget");
    }

    #[test]
    fn members_gain_the_crate_once() {
        let text = "[workspace]\nmembers = [\n    \"a\",\n]\n";
        let added = add_member(text, "b").unwrap();
        assert_eq!(
            added,
            "[workspace]\nmembers = [\n    \"a\",\n    \"b\",\n]\n"
        );
        assert!(add_member(&added, "b").is_err());
        assert!(add_member("[package]\n", "b").is_err());
    }

    #[test]
    fn templates_have_no_unknown_placeholder() {
        let names = Names::new("widget-operator", "Widget", "example.com").unwrap();
        let scratch = Scratch::new("render");
        let plan = Plan::new(&names, None, &scratch.0).unwrap();
        assert_eq!(plan.files.len(), COMMON.len() + WORKSPACE.len());
        assert!(plan.files.iter().all(|(_, text)| !text.contains("{{")));
        assert!(render("{{nope}}", &names.vars).is_err());
    }

    #[test]
    fn bad_arguments_leave_nothing_behind() {
        let scratch = Scratch::new("bad");
        let before = scratch.snapshot();
        for a in [
            args("Bad", "Widget", "example.com", None),
            args("w", "widget", "example.com", None),
            args("w", "Widget", "example", None),
            args("a", "Widget", "example.com", None),
            args("speed", "Widget", "example.com", None),
            args("w--x", "Widget", "example.com", None),
            args("w", &format!("W{}", "x".repeat(59)), "example.com", None),
            args("w", "Default", "example.com", None),
        ] {
            assert!(run(&a, &scratch.0).is_err(), "{a:?}");
            assert_eq!(scratch.snapshot(), before, "{a:?}");
        }
        // An existing directory, in the workspace or with --out.
        std::fs::create_dir_all(scratch.0.join("taken")).unwrap();
        std::fs::write(scratch.0.join("taken/keep"), "mine").unwrap();
        let before = scratch.snapshot();
        let e = run(&args("taken", "Widget", "example.com", None), &scratch.0).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        let out = Some(scratch.0.join("taken"));
        assert!(run(&args("w", "Widget", "example.com", out), &scratch.0).is_err());
        assert_eq!(scratch.snapshot(), before);
    }

    #[test]
    fn every_name_the_templates_import_is_a_reserved_kind() {
        for t in COMMON {
            if !t.path.ends_with(".rs") {
                continue;
            }
            // Placeholders (the kind itself) are not imports of the template.
            let mut text = t.text.to_owned();
            while let Some(a) = text.find("{{") {
                let b = text[a..].find("}}").map_or(text.len(), |b| a + b + 2);
                text.replace_range(a..b, "x");
            }
            let mut text = text.as_str();
            while let Some(at) = text.find("\nuse ") {
                let statement = &text[at..];
                let end = statement.find(';').unwrap_or(statement.len());
                for word in statement[..end].split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                {
                    let camel = word.starts_with(|c: char| c.is_ascii_uppercase())
                        && word.chars().any(|c| c.is_ascii_lowercase());
                    if camel {
                        assert!(RESERVED_KINDS.contains(&word), "{word} ({})", t.path);
                    }
                }
                text = &statement[end..];
            }
        }
    }

    #[test]
    fn a_failed_write_is_undone() {
        let scratch = Scratch::new("undo");
        // `manifests` is a file: the crate is written, its manifests cannot be.
        std::fs::write(scratch.0.join("manifests"), "not a directory").unwrap();
        let before = scratch.snapshot();
        let e = run(&args("w", "Widget", "example.com", None), &scratch.0).unwrap_err();
        assert!(e.to_string().contains("nothing was kept"), "{e}");
        assert_eq!(scratch.snapshot(), before);
        // --out below directories that do not exist: the outermost one
        // made is what a failure removes.
        let deep = scratch.0.join("new/deeper/w/manifests/w");
        assert_eq!(first_missing(&deep), Some(scratch.0.join("new")));
        assert_eq!(first_missing(&scratch.0), None);
    }

    #[test]
    fn a_good_scaffold_joins_the_workspace() {
        let scratch = Scratch::new("good");
        let dir = run(&args("w", "Widget", "example.com", None), &scratch.0).unwrap();
        assert_eq!(dir, scratch.0.join("w"));
        assert!(dir.join("src/crd.rs").is_file());
        assert!(scratch.0.join("manifests/w/cluster-role.yaml").is_file());
        let manifest = std::fs::read_to_string(scratch.0.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("    \"w\",\n]"), "{manifest}");
        let role =
            std::fs::read_to_string(scratch.0.join("manifests/w/cluster-role.yaml")).unwrap();
        assert!(role.contains("resources: [\"widgets\"]"), "{role}");
    }
}
