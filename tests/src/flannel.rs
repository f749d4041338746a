//! flannel-operator test helpers: a real etcd per test, FlannelConfigs, the
//! operator under test running as its ServiceAccount with the roles of
//! `manifests/flannel-operator/`, and reads of what it wrote in etcd.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{FlannelConfig, OperatorStatus};
use etcd_client::{Client, GetOptions};
use flannel_operator::etcd::Etcd as EtcdClient;
use flannel_operator::settings::FlannelArgs;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::PostParams;
use kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{
    OperatorRun, ServiceAccountIdentity, SimulationOptions, TestEnv, wait_for,
};
use serde_json::json;

use crate::etcd::Etcd;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";
/// flannel's default etcd prefix, which the tests run with.
pub const PREFIX: &str = "/coreos.com/network";
/// The default claims prefix.
pub const CLAIMS: &str = "/flannel-operator.operatorkit.dev/claims";

/// A test environment with the FlannelConfig CRD and three simulated nodes
/// (the flanneld DaemonSets run there).
pub async fn env() -> TestEnv {
    if let Ok(filter) = std::env::var("FLANNEL_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let env = TestEnv::start().await.unwrap();
    env.install_crds([FlannelConfig::crd()]).await.unwrap();
    env.simulate(SimulationOptions::default()).await.unwrap();
    env
}

/// The flags of the operator under test: `etcd`'s endpoint and, when it
/// serves TLS, its client certificate; a one-second recheck, so that drift
/// in etcd is put back while the test waits.
pub fn args(etcd: &Etcd) -> FlannelArgs {
    FlannelArgs {
        etcd_endpoints: vec![etcd.endpoint()],
        etcd_ca: etcd.ca_file(),
        etcd_cert: etcd.client_cert_file(),
        etcd_key: etcd.client_key_file(),
        etcd_timeout: Duration::from_secs(2),
        recheck: Duration::from_secs(1),
        etcd_prefix: PREFIX.into(),
        claims_prefix: CLAIMS.into(),
        flanneld_etcd_tls_dir: "/etc/kubernetes/ssl/etcd".into(),
        flanneld_image: "ghcr.io/flannel-io/flannel:v0.26.7".into(),
        bridge_image: None,
        node_selector: Vec::new(),
    }
}

/// flannel-operator's ServiceAccount in `env`, bound to the roles of
/// `manifests/flannel-operator/`.
pub async fn service_account(env: &TestEnv, name: &str) -> ServiceAccountIdentity {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("flannel-operator");
    env.service_account(&env.name(name), cluster_roles, roles)
        .await
        .unwrap()
}

/// The operator under test and its etcd client (to count its requests).
pub struct Running {
    /// The operator.
    pub run: OperatorRun,
    /// Its etcd client.
    pub etcd: EtcdClient,
}

/// Starts flannel-operator at `version` in-process as `identity` with
/// `flags`, with leader election on its Lease when `elect` is set (as its
/// Deployment runs).
pub async fn start_as(
    env: &TestEnv,
    identity: &ServiceAccountIdentity,
    version: &str,
    flags: FlannelArgs,
    elect: bool,
) -> Running {
    let etcd = EtcdClient::new(&flags).unwrap();
    let op = flannel_operator::operator_with(version, flags, etcd.clone());
    let settings =
        crate::support::operator_settings(env, identity, &flannel_operator::OPERATOR, elect);
    let run = env.run_operator_as(identity, op, settings).await.unwrap();
    Running { run, etcd }
}

/// Starts flannel-operator as its own ServiceAccount against `etcd`.
pub async fn start(env: &TestEnv, etcd: &Etcd) -> Running {
    let identity = service_account(env, "flannel-operator").await;
    start_as(env, &identity, VERSION, args(etcd), false).await
}

/// A fresh environment ([`env()`]) with flannel-operator running as its
/// ServiceAccount against `etcd`.
pub async fn started(etcd: Etcd) -> (Etcd, TestEnv, Running) {
    let env = env().await;
    let running = start(&env, &etcd).await;
    (etcd, env, running)
}

/// Creates a FlannelConfig of a new guest cluster (ID from `prefix`) with
/// `network` and `vni`, labelled for [`VERSION`]; returns the cluster ID
/// and the FlannelConfig's name.
pub async fn created(env: &TestEnv, prefix: &str, network: &str, vni: i32) -> (String, String) {
    let cluster = cluster_id(env, prefix);
    let name = env.name("net");
    create(env, &flannel_config(&name, &cluster, network, vni, VERSION)).await;
    (cluster, name)
}

/// A FlannelConfig `name` of guest cluster `cluster` with `network` and
/// `vni`, labelled for `version`.
pub fn flannel_config(
    name: &str,
    cluster: &str,
    network: &str,
    vni: i32,
    version: &str,
) -> FlannelConfig {
    let mut config = FlannelConfig::new(
        name,
        serde_json::from_value(json!({
            "clusterID": cluster,
            "network": network,
            "subnetLen": 24,
            "vni": vni,
            "bridge": {
                "interface": "eth0",
                "dns": {"servers": ["10.0.0.10"]},
                "ntp": {"servers": ["ntp.example.com"]},
            },
        }))
        .unwrap(),
    );
    config.labels_mut().insert(
        flannel_operator::OPERATOR.version_label(),
        version.to_owned(),
    );
    config
}

/// Creates it.
pub async fn create(env: &TestEnv, config: &FlannelConfig) -> FlannelConfig {
    env.api::<FlannelConfig>()
        .create(&PostParams::default(), config)
        .await
        .unwrap()
}

/// The condition `type_` of `config`, if there is a config.
pub fn condition<'a>(config: Option<&'a FlannelConfig>, type_: &str) -> Option<&'a Condition> {
    config?.status.as_ref()?.condition(type_)
}

/// Whether condition `type_` of `config` has `reason`, for the current generation.
pub fn has(config: Option<&FlannelConfig>, type_: &str, reason: &str) -> bool {
    let generation = config.and_then(|c| c.metadata.generation);
    condition(config, type_).is_some_and(|c| c.reason == reason)
        && config
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.observed_generation)
            == generation
}

/// Waits until `name`'s condition `type_` has `reason`.
pub async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> FlannelConfig {
    let api = env.api::<FlannelConfig>();
    match wait_for(&api, name, WAIT, |c| has(c, type_, reason)).await {
        Ok(found) => found.unwrap(),
        Err(e) => {
            let last = api.get_opt(name).await.ok().flatten();
            let conditions = last.and_then(|c| c.status).map(|s| s.conditions);
            panic!("{name}: {type_} never became {reason}: {e}; conditions: {conditions:#?}")
        }
    }
}

/// Waits until FlannelConfig `name` is gone (its deletion finished); on a
/// timeout, fails saying what its status said it waited for.
pub async fn wait_gone(env: &TestEnv, name: &str) {
    let api = env.api::<FlannelConfig>();
    if let Err(e) = wait_for(&api, name, WAIT, |c| c.is_none()).await {
        let last = api.get_opt(name).await.ok().flatten();
        let conditions = last.and_then(|c| c.status).map(|s| s.conditions);
        panic!("{name} was not deleted: {e}; conditions: {conditions:#?}")
    }
}

/// Waits until `name` is Ready.
pub async fn wait_ready(env: &TestEnv, name: &str) -> FlannelConfig {
    wait_reason(
        env,
        name,
        operatorkit::status::READY,
        operatorkit::status::reasons::RECONCILED,
    )
    .await
}

/// A client of `etcd`, as a person with etcdctl would use it.
pub async fn client(etcd: &Etcd) -> Client {
    let mut options = etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(5));
    if let (Some(ca), Some(cert), Some(key)) = (
        etcd.ca_file(),
        etcd.client_cert_file(),
        etcd.client_key_file(),
    ) {
        let read = |p| std::fs::read(p).unwrap();
        options = options.with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(read(ca)))
                .identity(etcd_client::Identity::from_pem(read(cert), read(key))),
        );
    }
    Client::connect([etcd.endpoint()], Some(options))
        .await
        .unwrap()
}

/// The value of `key` and its mod revision.
pub async fn get(client: &mut Client, key: &str) -> Option<(String, i64)> {
    let response = client.get(key, None).await.unwrap();
    response.kvs().first().map(|kv| {
        (
            String::from_utf8_lossy(kv.value()).into_owned(),
            kv.mod_revision(),
        )
    })
}

/// Every key under `prefix`.
pub async fn keys(client: &mut Client, prefix: &str) -> Vec<String> {
    let response = client
        .get(
            prefix,
            Some(GetOptions::new().with_prefix().with_keys_only()),
        )
        .await
        .unwrap();
    response
        .kvs()
        .iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect()
}

/// The config key of `cluster`.
pub fn config_key(cluster: &str) -> String {
    flannel_operator::network::config_key(PREFIX, cluster)
}

/// A guest cluster ID unique to this test: `<prefix><random>`, a DNS label
/// of at most 12 characters (so that its bridge is `br-<id>`).
pub fn cluster_id(env: &TestEnv, prefix: &str) -> String {
    let name = env.name(prefix);
    let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    id.chars().take(12).collect::<String>().to_lowercase()
}
