//! `--data-dir` durability of the `operatorkit-apiserver` binary: every acknowledged write
//! survives `kill -9`, resourceVersions stay monotonic after a restart, and
//! a second server on the same directory exits at once.
//! The test drives the real process; it reaches it through
//! `operatorkit::testing::TestEnv::connect` like any cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use operatorkit::testing::TestEnv;
use serde_json::json;

/// Starts the binary on a free port; returns it and the kubeconfig it wrote.
fn spawn(data_dir: &Path) -> (Child, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_operatorkit-apiserver"))
        .args(["--port", "0", "--http", "--log", "warn", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the apiserver binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    (child, PathBuf::from(line.trim()))
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let dir = std::env::temp_dir().join(format!("apiserver-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, kubeconfig) = spawn(&dir);
    let env = TestEnv::connect(&kubeconfig, None).await.unwrap();
    let namespace = env.namespace().to_owned();
    let api: Api<ConfigMap> = env.api();
    let mut last_rv = 0u64;
    for i in 0..50 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm-{i}")}, "data": {"i": i.to_string()}}),
        )
        .unwrap();
        let created = api.create(&PostParams::default(), &cm).await.unwrap();
        last_rv = created.metadata.resource_version.unwrap().parse().unwrap();
    }
    // kill -9: no chance to flush anything that was not already durable.
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, kubeconfig) = spawn(&dir);
    let env = TestEnv::connect(&kubeconfig, Some(&namespace))
        .await
        .unwrap();
    let api: Api<ConfigMap> = env.api();
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 50, "every acknowledged create survived");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "after-restart"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        rv > last_rv,
        "resourceVersion {rv} continues after {last_rv}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_dir_exits_at_once() {
    let dir = std::env::temp_dir().join(format!("apiserver-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut first, _) = spawn(&dir);

    let second = Command::new(env!("CARGO_BIN_EXE_operatorkit-apiserver"))
        .args(["--port", "0", "--http", "--log", "warn", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("the apiserver binary runs");
    assert!(!second.status.success(), "a second server started");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another server") && stderr.contains(&*dir.to_string_lossy()),
        "{stderr}"
    );
    assert!(second.stdout.is_empty(), "it printed a kubeconfig");

    // Once the first is gone (even by kill -9), the directory is free.
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut again, kubeconfig) = spawn(&dir);
    TestEnv::connect(&kubeconfig, None).await.unwrap();
    again.kill().unwrap();
    again.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
