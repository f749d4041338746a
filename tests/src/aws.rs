//! aws-operator test helpers: an environment with the AWSConfig CRD and a
//! moto server, credentials Secrets, AWSConfigs from the example, the
//! operator under test running as its ServiceAccount with the roles of
//! `manifests/aws-operator/`, and an account of moto to look at what the
//! operator made.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{AWSConfig, OperatorStatus};
use aws_operator::aws::{Account, Connector};
use aws_operator::credentials::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResourceExt;
use kube::api::PostParams;
use operatorkit::testing::{OperatorRun, ServiceAccountIdentity, TestEnv, wait_for};
use serde_json::json;

use crate::moto::Moto;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";
/// The region of the test clusters (the example's).
pub const REGION: &str = "eu-central-1";

/// A test environment with the AWSConfig CRD, and a moto server.
pub async fn env() -> (TestEnv, Moto) {
    if let Ok(filter) = std::env::var("AWS_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let moto = Moto::start().await.unwrap();
    let env = TestEnv::start().await.unwrap();
    env.install_crds([AWSConfig::crd()]).await.unwrap();
    (env, moto)
}

/// Starts aws-operator against `moto` as its own ServiceAccount under the
/// roles of `manifests/aws-operator/`.
pub async fn start(env: &TestEnv, moto: &Moto) -> OperatorRun {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("aws-operator");
    let identity = env
        .service_account(&env.name("aws-operator"), cluster_roles, roles)
        .await
        .unwrap();
    start_as(env, moto, &identity, false).await
}

/// Starts aws-operator against `moto` as `identity`, with leader election
/// on its Lease when `elect` is set (as its Deployment will run).
pub async fn start_as(
    env: &TestEnv,
    moto: &Moto,
    identity: &ServiceAccountIdentity,
    elect: bool,
) -> OperatorRun {
    let endpoint = format!("--endpoint-url={}", moto.endpoint());
    let flags = aws_operator::settings::parse(&["aws-operator", &endpoint]).unwrap();
    let op = aws_operator::operator(VERSION, flags);
    let settings = crate::support::operator_settings(env, identity, &aws_operator::OPERATOR, elect);
    env.run_operator_as(identity, op, settings).await.unwrap()
}

/// Creates credentials Secret `name` in the test namespace with `pairs`.
pub async fn credentials(env: &TestEnv, name: &str, pairs: &[(&str, &str)]) {
    let data: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// moto's test credentials (any are accepted).
pub fn moto_credentials() -> [(&'static str, &'static str); 2] {
    [(ACCESS_KEY_ID, "testing"), (SECRET_ACCESS_KEY, "testing")]
}

/// A guest cluster ID no other test uses.
pub fn cluster_id(env: &TestEnv, prefix: &str) -> String {
    let name = env.name(prefix);
    let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    id.to_lowercase()
}

/// The example AWSConfig as `name` of cluster `cluster` in the test
/// namespace, its credentials in Secret `secret` there.
pub fn aws_config(env: &TestEnv, name: &str, cluster: &str, secret: &str) -> AWSConfig {
    let path = crate::examples::examples_dir().join("awsconfig.yaml");
    let mut config: AWSConfig =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config.metadata.name = Some(name.to_owned());
    config.metadata.namespace = Some(env.namespace().to_owned());
    let labels = config.metadata.labels.get_or_insert_default();
    labels.insert(
        apiextensions::keys::CLUSTER_LABEL.to_owned(),
        cluster.to_owned(),
    );
    labels.insert(aws_operator::OPERATOR.version_label(), VERSION.to_owned());
    config.spec.cluster.id = cluster.to_owned();
    config.spec.credential_secret.name = secret.to_owned();
    config.spec.credential_secret.namespace = env.namespace().to_owned();
    config
}

/// Creates `config`.
pub async fn create(env: &TestEnv, config: &AWSConfig) {
    env.api::<AWSConfig>()
        .create(&PostParams::default(), config)
        .await
        .unwrap();
}

/// The condition `type_` of `config`, if any.
pub fn condition<'a>(config: Option<&'a AWSConfig>, type_: &str) -> Option<&'a Condition> {
    config?.status.as_ref()?.condition(type_)
}

/// Waits until AWSConfig `name`'s condition `type_` has `reason`.
pub async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> AWSConfig {
    wait_condition(env, name, type_, reason, |c| c.reason == reason).await
}

/// Waits until AWSConfig `name`'s condition `type_` says `text`.
pub async fn wait_message(env: &TestEnv, name: &str, type_: &str, text: &str) -> AWSConfig {
    let what = format!("saying {text:?}");
    wait_condition(env, name, type_, &what, |c| c.message.contains(text)).await
}

/// Waits until AWSConfig `name`'s condition `type_` is `what` (`done`);
/// panics with the last status otherwise.
async fn wait_condition(
    env: &TestEnv,
    name: &str,
    type_: &str,
    what: &str,
    done: impl Fn(&Condition) -> bool,
) -> AWSConfig {
    let api = env.api::<AWSConfig>();
    let found = wait_for(&api, name, WAIT, |c| condition(c, type_).is_some_and(&done)).await;
    match found {
        Ok(Some(c)) => c,
        other => {
            let last = api.get_opt(name).await.ok().flatten();
            panic!(
                "{name}: {type_} never {what}: {:?}; status: {:#?}",
                other.err(),
                last.and_then(|c| c.status)
            )
        }
    }
}

/// Waits until AWSConfig `name` is gone.
pub async fn wait_gone(env: &TestEnv, name: &str) {
    let api = env.api::<AWSConfig>();
    wait_for(&api, name, WAIT, |c| c.is_none())
        .await
        .unwrap_or_else(|e| panic!("{name} never deleted: {e}"));
}

/// moto's account, to look at what the operator made.
pub async fn account(moto: &Moto) -> Account {
    let connector = Connector::new(Some(moto.endpoint()), Duration::from_secs(10));
    let [(_, id), (_, secret)] = moto_credentials();
    let creds = aws_credential_types::Credentials::new(id, secret, None, None, "test");
    connector.account(creds, REGION).await.unwrap()
}
