//! `--data-dir` durability of the `operatorkit-apiserver` binary: every
//! acknowledged write survives `kill -9` (also in the middle of a compaction),
//! resourceVersions stay monotonic after a restart, a damaged log refuses to
//! start and changes nothing until recovery is asked for, and a second server
//! on the same directory exits at once.
//! The test drives the real process; it reaches it through
//! `operatorkit::testing::TestEnv::connect` like any cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/crash.rs"]
mod crash;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use operatorkit::testing::TestEnv;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_operatorkit-apiserver");

fn spawn(data_dir: &Path) -> (Child, PathBuf) {
    crash::spawn(Path::new(BINARY), data_dir, &[])
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
    // Every namespace also has the server's kube-root-ca.crt.
    let created = list
        .items
        .iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"))
        .count();
    assert_eq!(created, 50, "every acknowledged create survived");
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

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_log_refuses_to_start_until_recovery_is_asked_for() {
    let dir = std::env::temp_dir().join(format!("apiserver-damage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, kubeconfig) = spawn(&dir);
    let env = TestEnv::connect(&kubeconfig, None).await.unwrap();
    let namespace = env.namespace().to_owned();
    let api: Api<ConfigMap> = env.api();
    for i in 0..50 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("cm-{i:02}")}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Five bytes overwritten in the record that created cm-25.
    let segment = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.windows(5).position(|w| w == b"cm-25").unwrap();
    bytes[at..at + 5].copy_from_slice(b"XXXXX");
    std::fs::write(&segment, bytes).unwrap();
    let before = contents(&dir);

    let refused = Command::new(BINARY)
        .args(["--port", "0", "--http", "--log", "warn", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a damaged log was served");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&*segment.to_string_lossy())
            && stderr.contains("is damaged at byte")
            && stderr.contains("--recover-data-dir"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "it printed a kubeconfig");
    assert_eq!(
        contents(&dir),
        before,
        "a refused start changed the data directory"
    );

    // Recovery keeps the ConfigMaps created before the damage, in order.
    let (mut child, kubeconfig) = crash::spawn(Path::new(BINARY), &dir, &["--recover-data-dir"]);
    let env = TestEnv::connect(&kubeconfig, Some(&namespace))
        .await
        .unwrap();
    let api: Api<ConfigMap> = env.api();
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|n| n.starts_with("cm-"))
        .collect();
    assert!(
        !names.is_empty() && names.len() < 50,
        "{} kept",
        names.len()
    );
    let prefix: Vec<String> = (0..names.len()).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(
        names, prefix,
        "recovery kept exactly the records before the damage"
    );
    let aside = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the damaged originals were set aside");
    assert_eq!(
        std::fs::read(aside.join(segment.file_name().unwrap())).unwrap(),
        before[&segment],
        "the damaged original is kept as it was"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Compaction runs every few dozen writes here, so the random kills land
/// before, during and after compactions.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_compactions_loses_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!("apiserver-crash-{}", std::process::id()));
    let plan = crash::Plan {
        binary: BINARY.into(),
        data_dir: dir.clone(),
        args: vec!["--compaction-min-bytes".into(), "16384".into()],
        rounds: 50,
        writers: 4,
        names_per_writer: 8,
        filler: 400,
        kill_after: Duration::from_millis(50)..Duration::from_millis(300),
    };
    let outcome = crash::run(&plan).await;
    eprintln!("{outcome:?}");
    assert!(outcome.acknowledged > 500, "{outcome:?}");
    assert_eq!(outcome.missing, 0, "{outcome:?}");
    assert_eq!(outcome.revision_went_back, 0, "{outcome:?}");
    assert!(dir.join("snapshot").exists(), "no compaction ran");
    std::fs::remove_dir_all(&dir).unwrap();
}
