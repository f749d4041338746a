//! cert-operator test helpers: CertConfigs, the operator under test, and
//! the checks a consumer of its Secrets would make (including `openssl
//! verify`).

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{CertConfig, OperatorStatus};
use cert_operator::pki::{CertInfo, PkiError, verify_bundle};
use cert_operator::settings::{BackendKind, CertArgs, KeyAlgorithmArg};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use kube::{CustomResourceExt, ResourceExt};
use operatorkit::Settings;
use operatorkit::status::READY;
use operatorkit::testing::{OperatorRun, ServiceAccountIdentity, TestEnv, wait_for};
use serde_json::json;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";

/// Flags of the operator under test: built-in CA, ECDSA P-256, `renew_before`.
pub fn args(renew_before: &str) -> CertArgs {
    CertArgs {
        backend: BackendKind::Builtin,
        key_algorithm: KeyAlgorithmArg::EcdsaP256,
        renew_before: operatorkit::duration::parse(renew_before).unwrap(),
        secret_namespace: None,
        vault_address: None,
        vault_token_file: None,
        vault_ca_file: None,
    }
}

/// Starts cert-operator in-process with `args`, serving its health endpoints,
/// as its ServiceAccount with the roles of `manifests/cert-operator/`.
pub async fn start(env: &TestEnv, args: &CertArgs) -> OperatorRun {
    let op = cert_operator::operator(VERSION, args.backend().unwrap(), args.settings()).unwrap();
    let settings = Settings {
        health_address: Some(([127, 0, 0, 1], 0).into()),
        ..Settings::default()
    };
    let identity = service_account(env).await;
    env.run_operator_as(&identity, op, settings).await.unwrap()
}

/// Starts cert-operator as `identity`, with leader election on its Lease in
/// the environment's namespace when `elect` is set (as the Deployment runs).
pub async fn start_as(
    env: &TestEnv,
    identity: &ServiceAccountIdentity,
    args: &CertArgs,
    elect: bool,
) -> OperatorRun {
    let op = cert_operator::operator(VERSION, args.backend().unwrap(), args.settings()).unwrap();
    let settings =
        crate::support::operator_settings(env, identity, &cert_operator::OPERATOR, elect);
    env.run_operator_as(identity, op, settings).await.unwrap()
}

/// cert-operator's ServiceAccount in `env`, bound to the roles of
/// `manifests/cert-operator/`.
pub async fn service_account(env: &TestEnv) -> ServiceAccountIdentity {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("cert-operator");
    env.service_account(&env.name("cert-operator"), cluster_roles, roles)
        .await
        .unwrap()
}

/// A test environment with the CertConfig CRD.
pub async fn env() -> TestEnv {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([CertConfig::crd()]).await.unwrap();
    env
}

/// A CertConfig of `cluster`/`component` labelled for [`VERSION`], with `extra` spec fields.
pub fn certconfig(
    name: &str,
    cluster: &str,
    component: &str,
    extra: serde_json::Value,
) -> CertConfig {
    let mut spec = json!({
        "clusterID": cluster,
        "clusterComponent": component,
        "commonName": format!("{component}.{cluster}.k8s.example.com"),
        "altNames": ["kubernetes", "kubernetes.default.svc"],
        "ipSans": ["172.31.0.1", "127.0.0.1"],
        "organizations": ["system:masters", "operators"],
        "ttl": "48h"
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "core.operatorkit.dev/v1alpha1",
        "kind": "CertConfig",
        "metadata": {
            "name": name,
            "labels": {
                "operatorkit.dev/cluster": cluster,
                "cert-operator.operatorkit.dev/version": VERSION
            }
        },
        "spec": spec
    }))
    .unwrap()
}

/// Whether the CertConfig is Ready.
pub fn ready(c: Option<&CertConfig>) -> bool {
    c.and_then(|c| c.status.as_ref())
        .is_some_and(OperatorStatus::is_ready)
}

/// The Ready condition of a CertConfig; fails the test when there is none.
pub fn ready_condition(c: &CertConfig) -> Condition {
    c.status
        .as_ref()
        .and_then(|s| s.condition(READY))
        .cloned()
        .unwrap_or_else(|| panic!("CertConfig {} has no Ready condition", c.name_any()))
}

/// Waits until CertConfig `name` has Ready with `reason`, and returns it.
pub async fn wait_for_ready_reason(api: &Api<CertConfig>, name: &str, reason: &str) -> CertConfig {
    wait_for(api, name, WAIT, |c: Option<&CertConfig>| {
        c.and_then(|c| c.status.as_ref())
            .and_then(|s| s.condition(READY))
            .is_some_and(|r| r.reason == reason)
    })
    .await
    .unwrap_or_else(|e| panic!("CertConfig {name} never Ready with reason {reason}: {e}"))
    .unwrap_or_else(|| panic!("CertConfig {name} is gone"))
}

/// A key of a Secret, as text.
pub fn field(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// What the Secret's bundle holds, after every check a consumer relies on.
pub fn bundle(secret: &Secret) -> Result<CertInfo, PkiError> {
    verify_bundle(
        &field(secret, "ca.crt"),
        &field(secret, "tls.crt"),
        &field(secret, "tls.key"),
        now(),
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `openssl verify -CAfile ca.crt tls.crt`, as a consumer of the Secret would.
pub fn openssl_verify(secret: &Secret) {
    let dir = std::env::temp_dir().join(format!("okt-openssl-{}", secret.uid().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.crt"), field(secret, "ca.crt")).unwrap();
    std::fs::write(dir.join("tls.crt"), field(secret, "tls.crt")).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(dir.join("tls.crt"))
        .output()
        .unwrap_or_else(|e| panic!("openssl not runnable ({e}): run `cargo xtask tools`"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(": OK"),
        "openssl verify: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}
