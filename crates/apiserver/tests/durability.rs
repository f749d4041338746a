//! `--data-dir` durability of the `operatorkit-apiserver` binary: every acknowledged write
//! survives `kill -9`, and resourceVersions stay monotonic after a restart.
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
