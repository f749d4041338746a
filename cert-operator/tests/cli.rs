//! cert-operator's command line, run as the real binary: operatorkit's
//! standard `crd` subcommand, the one duration grammar, and logging that is
//! up before the operator's own setup can warn.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use apiextensions::CertConfig;
use kube::CustomResourceExt;

fn cert_operator(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cert-operator"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("VAULT_ADDR")
        .output()
        .unwrap_or_else(|e| panic!("running cert-operator: {e}"))
}

#[test]
fn crd_prints_the_certconfig_crd() {
    let out = cert_operator(&["crd"]);
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, serde_json::to_value(CertConfig::crd()).unwrap());
}

#[test]
fn durations_follow_go_and_a_bare_number_is_refused() {
    let out = cert_operator(&["--renew-before=1h30m", "--resync=30"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"30\"") && stderr.contains("missing unit"),
        "{stderr}"
    );
}

#[test]
fn the_operators_own_warnings_are_logged_in_the_chosen_format() {
    // --backend builtin ignores the Vault flags and says so while the
    // operator is built; then the missing kubeconfig ends the run.
    let out = cert_operator(&[
        "--log-format=json",
        "--vault-token-file=/nonexistent/token",
        "--kubeconfig=/nonexistent/kubeconfig",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let warned = lines.iter().any(|l| {
        l["level"] == "WARN"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("ignores --vault-token-file"))
    });
    assert!(warned, "no JSON warning in {stdout}");
    let failed = lines.iter().any(|l| {
        l["level"] == "ERROR"
            && l["fields"]["error"]
                .as_str()
                .is_some_and(|m| m.contains("/nonexistent/kubeconfig"))
    });
    assert!(failed, "no JSON error naming the kubeconfig in {stdout}");
}
