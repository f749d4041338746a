//! The deployment manifests (`manifests/<operator>/`): rendering them with
//! `kubectl kustomize`, validating them with kubernetes-validate against the
//! Kubernetes version the workspace targets, and checking an operator's RBAC
//! against the requests it really makes ([`RecordingProxy`], [`ApiRequest`],
//! [`allows`]).
//!
//! The helpers panic, failing the test, when a tool is missing or fails: the
//! tools are part of the test environment (`cargo xtask tools` installs them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// The objects of a YAML stream, as JSON; empty documents are skipped.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("not a YAML object stream: {e}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A request to the API server as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiRequest {
    /// A request for a resource.
    Resource {
        /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
        /// `deletecollection`.
        verb: String,
        /// API group (`""` for the core group).
        group: String,
        /// Resource, with `/subresource` when there is one (`certconfigs/status`).
        resource: String,
        /// Namespace of a namespaced request.
        namespace: Option<String>,
        /// Name of the object, when the request names one.
        name: Option<String>,
    },
    /// A request for another path (discovery, `/version`).
    NonResource {
        /// `get`, `post`, ...
        verb: String,
        /// The path.
        path: String,
    },
}

impl ApiRequest {
    /// Classifies `method path?query` as kube-apiserver's RequestInfo does.
    pub fn parse(method: &str, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let rest = match segments.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => Some(("", rest)),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => Some((*group, rest)),
            _ => None,
        };
        let Some((group, rest)) = rest else {
            return Self::NonResource {
                verb: method.to_ascii_lowercase(),
                path: path.to_owned(),
            };
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
            _ => (None, rest),
        };
        let resource = match rest {
            [resource, _name, sub, ..] => format!("{resource}/{sub}"),
            [resource, ..] => (*resource).to_owned(),
            [] => String::new(),
        };
        let name = rest.get(1).map(|s| (*s).to_owned());
        let watching = query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1");
        let verb = match (method, name.is_some()) {
            ("GET", _) if watching => "watch",
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            (other, _) => other,
        };
        Self::Resource {
            verb: verb.to_ascii_lowercase(),
            group: group.to_owned(),
            resource,
            namespace,
            name,
        }
    }
}

impl std::fmt::Display for ApiRequest {
    /// `verb group/resource namespace/name`, as in an audit log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Resource {
                verb,
                group,
                resource,
                namespace,
                name,
            } => {
                let group = if group.is_empty() { "core" } else { group };
                write!(f, "{verb} {group}/{resource}")?;
                match (namespace, name) {
                    (Some(ns), Some(n)) => write!(f, " {ns}/{n}"),
                    (Some(ns), None) => write!(f, " in {ns}"),
                    (None, Some(n)) => write!(f, " {n}"),
                    (None, None) => write!(f, " (all namespaces)"),
                }
            }
            Self::NonResource { verb, path } => write!(f, "{verb} {path}"),
        }
    }
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

/// Whether RBAC `rules` (of a Role or ClusterRole, as JSON) allow `request`,
/// with RBAC's matching: `*` wildcards (and `*/<subresource>`), and
/// `resourceNames` never matching a request that names no object (create,
/// list, watch).
pub fn allows(rules: &Value, request: &ApiRequest) -> bool {
    let has = |list: &[String], want: &str| list.iter().any(|s| s == "*" || s == want);
    rules.as_array().into_iter().flatten().any(|rule| {
        let verbs = strings(&rule["verbs"]);
        match request {
            ApiRequest::Resource {
                verb,
                group,
                resource,
                name,
                ..
            } => {
                let names = strings(&rule["resourceNames"]);
                let sub = resource.split_once('/').map(|(_, sub)| sub);
                let resource_matches = strings(&rule["resources"]).iter().any(|r| {
                    r == "*"
                        || r == resource
                        || sub.is_some_and(|s| r.strip_prefix("*/") == Some(s))
                });
                has(&verbs, verb)
                    && has(&strings(&rule["apiGroups"]), group)
                    && resource_matches
                    && (names.is_empty() || name.as_ref().is_some_and(|n| names.contains(n)))
            }
            ApiRequest::NonResource { verb, path } => {
                has(&verbs, verb)
                    && strings(&rule["nonResourceURLs"]).iter().any(|u| {
                        u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                    })
            }
        }
    })
}

/// A plain-HTTP proxy in front of an API server that records the method and
/// target of every request passing through it, so a test can hold an
/// operator's real requests against its RBAC rules.
pub struct RecordingProxy {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Listens on loopback and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the recording proxy needs a plain HTTP server: {upstream}"))
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("upstream {upstream}: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the recording proxy: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("recording proxy address: {e}"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (r, e) = (requests.clone(), errors.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (r, e) = (r.clone(), e.clone());
                tokio::spawn(async move {
                    if let Err(err) = forward(client, upstream, &r).await {
                        e.lock().unwrap_or_else(PoisonError::into_inner).push(err);
                    }
                });
            }
        });
        Self {
            address,
            requests,
            errors,
            task,
        }
    }

    /// `http://<address>` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The requests so far, as `(method, target)`. Panics when the proxy could
    /// not follow a connection (it would have missed requests).
    pub fn requests(&self) -> Vec<(String, String)> {
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert!(errors.is_empty(), "recording proxy: {errors:?}");
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection: responses byte for byte; requests one at a time,
/// recording each request line (bodies need a Content-Length: a chunked one
/// is reported, not guessed at).
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    requests: &Mutex<Vec<(String, String)>>,
) -> Result<(), String> {
    let server = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connecting to {upstream}: {e}"))?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let responses = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let result = loop {
        // Forward every complete request in the buffer.
        let mut failure = None;
        while let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.lines();
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let (method, target) = (
                request_line.next().unwrap_or_default().to_owned(),
                request_line.next().unwrap_or_default().to_owned(),
            );
            let mut length = 0usize;
            for line in lines {
                let Some((key, value)) = line.split_once(':') else {
                    continue;
                };
                let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
                if key == "content-length" {
                    length = value.parse().unwrap_or(0);
                } else if key == "transfer-encoding" && !value.eq_ignore_ascii_case("identity") {
                    failure = Some(format!("{method} {target}: Transfer-Encoding {value}"));
                }
            }
            if failure.is_some() {
                break;
            }
            let total = head_end + 4 + length;
            if buf.len() < total {
                break;
            }
            requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((method, target));
            if let Err(e) = server_write.write_all(&buf[..total]).await {
                failure = Some(format!("writing to {upstream}: {e}"));
                break;
            }
            buf.drain(..total);
        }
        if let Some(f) = failure {
            break Err(f);
        }
        match client_read.read(&mut chunk).await {
            Ok(0) => break Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // The client went away (an aborted watch): nothing was missed.
            Err(_) => break Ok(()),
        }
    };
    let _ = server_write.shutdown().await;
    responses.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(
        verb: &str,
        group: &str,
        resource: &str,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> ApiRequest {
        ApiRequest::Resource {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: ns.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn requests_are_classified_like_the_api_server() {
        let p = ApiRequest::parse;
        assert_eq!(
            p(
                "GET",
                "/api/v1/secrets?labelSelector=a%3Db&watch=true&resourceVersion=5"
            ),
            resource("watch", "", "secrets", None, None)
        );
        assert_eq!(
            p("GET", "/api/v1/pods?labelSelector=x"),
            resource("list", "", "pods", None, None)
        );
        assert_eq!(
            p(
                "PATCH",
                "/apis/core.operatorkit.dev/v1alpha1/namespaces/n/certconfigs/a/status"
            ),
            resource(
                "patch",
                "core.operatorkit.dev",
                "certconfigs/status",
                Some("n"),
                Some("a")
            )
        );
        assert_eq!(
            p("POST", "/apis/events.k8s.io/v1/namespaces/n/events"),
            resource("create", "events.k8s.io", "events", Some("n"), None)
        );
        assert_eq!(
            p("PUT", "/apis/coordination.k8s.io/v1/namespaces/n/leases/l"),
            resource(
                "update",
                "coordination.k8s.io",
                "leases",
                Some("n"),
                Some("l")
            )
        );
        assert_eq!(
            p("DELETE", "/api/v1/namespaces/n/secrets"),
            resource("deletecollection", "", "secrets", Some("n"), None)
        );
        // The namespaces resource itself.
        assert_eq!(
            p("GET", "/api/v1/namespaces/n"),
            resource("get", "", "namespaces", None, Some("n"))
        );
        assert_eq!(
            p("GET", "/apis/core.operatorkit.dev/v1alpha1"),
            ApiRequest::NonResource {
                verb: "get".into(),
                path: "/apis/core.operatorkit.dev/v1alpha1".into()
            }
        );
    }

    #[test]
    fn rules_match_as_rbac_does() {
        let rules = json!([
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": ["l"], "verbs": ["get", "create"]},
            {"apiGroups": ["*"], "resources": ["*/scale", "widgets/*"], "verbs": ["*"]},
            {"nonResourceURLs": ["/version", "/apis/*"], "verbs": ["get"]}
        ]);
        let lease = |verb, name| resource(verb, "coordination.k8s.io", "leases", Some("n"), name);
        assert!(allows(
            &rules,
            &resource("get", "", "secrets", Some("n"), Some("s"))
        ));
        assert!(allows(&rules, &resource("list", "", "secrets", None, None)));
        assert!(!allows(
            &rules,
            &resource("watch", "", "secrets", None, None)
        ));
        assert!(!allows(
            &rules,
            &resource("get", "", "pods", Some("n"), Some("p"))
        ));
        assert!(!allows(
            &rules,
            &resource("get", "apps", "secrets", Some("n"), Some("s"))
        ));
        assert!(allows(&rules, &lease("get", Some("l"))));
        assert!(!allows(&rules, &lease("get", Some("other"))));
        // resourceNames cannot match a create: it names no object.
        assert!(!allows(&rules, &lease("create", None)));
        // "*/scale" is every scale subresource; "widgets/*" means nothing special.
        assert!(allows(
            &rules,
            &resource("patch", "x", "widgets/scale", Some("n"), Some("w"))
        ));
        assert!(!allows(
            &rules,
            &resource("get", "x", "widgets", Some("n"), Some("w"))
        ));
        assert!(!allows(
            &rules,
            &resource("patch", "x", "widgets/status", Some("n"), Some("w"))
        ));
        let get = |path: &str| ApiRequest::NonResource {
            verb: "get".into(),
            path: path.into(),
        };
        assert!(allows(&rules, &get("/version")));
        assert!(allows(&rules, &get("/apis/x")));
        assert!(!allows(&rules, &get("/metrics")));
    }
}
