//! Small helpers the black-box tests share.

use std::time::Duration;

use operatorkit::keys::OperatorName;

/// A namespaced kind the tests read and write in their namespace: what
/// `Api::namespaced`, `wait_for` and a JSON dump of it need.
pub trait NamespacedKind:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> NamespacedKind for K where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}
use operatorkit::testing::{ServiceAccountIdentity, TestEnv};

/// The settings an operator runs with in a test as `identity`: leader
/// election on the Lease `<operator>-leader` in the environment's namespace
/// when `elect` is set (as its Deployment runs), and a short shutdown
/// timeout.
pub fn operator_settings(
    env: &TestEnv,
    identity: &ServiceAccountIdentity,
    operator: &OperatorName,
    elect: bool,
) -> operatorkit::Settings {
    let leader_election = elect.then(|| {
        operatorkit::leader::LeaderElectionConfig::new(
            format!("{}-leader", operator.as_str()),
            env.namespace(),
            identity.user(),
        )
    });
    operatorkit::Settings {
        leader_election,
        // With a child watch refused (a test removing a rule on purpose),
        // loops in flight wait on that cache, and a stop gives them the whole
        // shutdown timeout to finish, as it should: keep it short here.
        shutdown_timeout: Duration::from_secs(3),
        ..operatorkit::Settings::default()
    }
}

/// The Kubernetes Status of a failed request; panics (failing the test) when
/// the error is not an API error.
pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// `GET url` (plain HTTP/1.1, as a probe or Prometheus would); returns the
/// status code and body. Panics (failing the test) when the server cannot be
/// reached.
pub async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connecting to {host}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("writing to {host}: {e}"));
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .unwrap_or_else(|e| panic!("reading from {host}: {e}"));
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Runs `promtool check metrics` on `text`; returns its exit success and
/// output. Panics when promtool is missing (`cargo xtask tools` installs it).
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool not runnable ({e}): run `cargo xtask tools`"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("feeding promtool: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for promtool: {e}"));
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), output)
}

/// [`operatorkit::testing::wait_for_event`], panicking with what was awaited.
pub async fn wait_for_event(
    events: &kube::Api<k8s_openapi::api::events::v1::Event>,
    name: &str,
    reason: &str,
    timeout: std::time::Duration,
) -> k8s_openapi::api::events::v1::Event {
    operatorkit::testing::wait_for_event(events, name, reason, timeout)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Starts a VM of guest cluster `cluster` as kvm-operator runs one: a
/// Deployment `name` of one pod labelled with the cluster, which the
/// simulated cluster schedules and starts and which takes 3 s to stop; waits
/// until it is available. Deleting the Deployment stops the VM.
pub async fn guest_vm(env: &operatorkit::testing::TestEnv, name: &str, cluster: &str) {
    use k8s_openapi::api::apps::v1::Deployment;
    use operatorkit::testing::simulation_keys;
    let deployments: kube::Api<Deployment> = env.api();
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name, apiextensions::keys::CLUSTER_LABEL: cluster},
                    "annotations": {simulation_keys::POD_STOP_SECONDS: "3"},
                },
                "spec": {
                    "containers": [{"name": "vm", "image": "example/vm:1"}],
                    "tolerations": [{"key": simulation_keys::KWOK_NODE, "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }))
    .unwrap_or_else(|e| panic!("the VM Deployment: {e}"));
    deployments
        .create(&kube::api::PostParams::default(), &deployment)
        .await
        .unwrap_or_else(|e| panic!("creating VM {name}: {e}"));
    operatorkit::testing::wait_for(
        &deployments,
        name,
        Duration::from_secs(60),
        |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.available_replicas)
                == Some(1)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("VM {name} never became available: {e}"));
}

/// Whether `path` is a regular file.
pub fn is_file(path: &std::path::Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}

/// `name` in the first directory of `PATH` that holds it.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_file(p))
    })
}

/// The binary the environment variable `var` names: `None` when it is
/// unset, an error naming it (and `instead`, what is used without it) when
/// it names no file.
pub fn binary_from_env(var: &str, instead: &str) -> std::io::Result<Option<std::path::PathBuf>> {
    let Some(path) = std::env::var_os(var).map(std::path::PathBuf::from) else {
        return Ok(None);
    };
    if is_file(&path) {
        return Ok(Some(path));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "${var} names {}, which does not exist (unset it to use {instead})",
            path.display()
        ),
    ))
}

/// A tool `cargo xtask tools` installs: the file `$var` names, else
/// `<target>/<relative>` of `$CARGO_TARGET_DIR` or of the workspace, else
/// `name` on `PATH`; an error naming where it looked otherwise.
pub fn find_tool(var: &str, relative: &str, name: &str) -> std::io::Result<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    if let Some(path) = binary_from_env(var, &format!("the {name} `cargo xtask tools` installs"))? {
        return Ok(path);
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join(relative));
    }
    // Every ancestor holding a Cargo.lock: the workspace root (and the crate,
    // for a crate outside any workspace).
    for dir in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors() {
        if dir.join("Cargo.lock").is_file() {
            candidates.push(dir.join("target").join(relative));
        }
    }
    if let Some(found) = candidates.iter().find(|p| is_file(p)) {
        return Ok(found.clone());
    }
    if let Some(found) = on_path(name) {
        return Ok(found);
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "`{name}` not found (${var} unset; not at {}; not on PATH): run `cargo xtask tools`",
            looked.join(", ")
        ),
    ))
}

/// A port free on 127.0.0.1 right now (the OS picks; small race until the
/// server started on it binds it).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// `obj` as two copies of one object made apart should agree: each
/// `(from, to)` replaced in its text (names that must differ), its uid made
/// `UID` (a Job's selector repeats it), and without what differs by place and
/// time: uid, resourceVersion, creationTimestamp, namespace, managedFields,
/// and a Service's allocated cluster IPs and node ports.
///
/// # Panics
/// If `obj` has no `metadata` object.
pub fn comparable_object(obj: &serde_json::Value, replace: &[(&str, &str)]) -> serde_json::Value {
    use serde_json::Value;
    let mut text = obj.to_string();
    if let Some(uid) = obj["metadata"]["uid"].as_str() {
        text = text.replace(uid, "UID");
    }
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    let mut obj: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let meta = obj["metadata"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("an object with metadata: {text}"));
    for key in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "namespace",
        "managedFields",
    ] {
        meta.remove(key);
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
        for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
    obj
}

/// The ConfigMap every namespace of a cluster has (kube-controller-manager's
/// root CA publisher; the embedded server publishes it too): tests that list
/// a namespace's ConfigMaps leave it out.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// Whether a ConfigMap name is one a test made (not [`ROOT_CA_CONFIGMAP`]).
pub fn made_by_test(name: &str) -> bool {
    name != ROOT_CA_CONFIGMAP
}
