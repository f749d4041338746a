//! ingress-operator test helpers: the ingress controller's objects as
//! ingress-nginx's chart makes them, IngressConfigs, and the operator under
//! test running as its ServiceAccount with the roles of
//! `manifests/ingress-operator/`.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use apiextensions::core::ingress_config::{
    GuestCluster, HostCluster, IngressController, Protocol, ProtocolPort,
};
use apiextensions::{IngressConfig, IngressConfigSpec, OperatorStatus};
use ingress_operator::settings::IngressArgs;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::PostParams;
use kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{OperatorRun, ServiceAccountIdentity, TestEnv, wait_for};
use serde_json::json;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";
/// ingress-nginx's TCP services ConfigMap (the name role.yaml grants).
pub const TCP: &str = "ingress-nginx-tcp-services";
/// ingress-nginx's UDP services ConfigMap.
pub const UDP: &str = "ingress-nginx-udp-services";
/// ingress-nginx's controller Service.
pub const SERVICE: &str = "ingress-nginx-controller";
/// An entry a person made by hand in the TCP ConfigMap.
pub const HAND_MADE: (&str, &str) = ("8080", "web/frontend:80");

/// A test environment with the IngressConfig CRD.
pub async fn env() -> TestEnv {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([IngressConfig::crd()]).await.unwrap();
    env
}

/// The ingress controller's objects in the environment's namespace, as its
/// chart makes them: both ConfigMaps (the TCP one with a hand-made entry, a
/// label and an annotation), and the Service with ports http and https.
pub async fn controller_objects(env: &TestEnv) {
    let pp = PostParams::default();
    let tcp: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": TCP, "labels": {"app.kubernetes.io/name": "ingress-nginx"},
                     "annotations": {"example.com/owner": "platform"}},
        "data": {HAND_MADE.0: HAND_MADE.1},
    }))
    .unwrap();
    env.api::<ConfigMap>().create(&pp, &tcp).await.unwrap();
    let udp: ConfigMap = serde_json::from_value(json!({"metadata": {"name": UDP}})).unwrap();
    env.api::<ConfigMap>().create(&pp, &udp).await.unwrap();
    env.api::<Service>()
        .create(&pp, &controller_service())
        .await
        .unwrap();
}

/// The controller Service with its http and https ports.
pub fn controller_service() -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": SERVICE},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": "ingress-nginx"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
            ]
        }
    }))
    .unwrap()
}

/// The flags of the operator under test: the environment's namespace is the
/// ingress controller's.
pub fn args(env: &TestEnv) -> IngressArgs {
    IngressArgs {
        controller_namespace: env.namespace().to_owned(),
    }
}

/// ingress-operator's ServiceAccount in `env`, bound to the roles of
/// `manifests/ingress-operator/` (its Roles bound in the environment's
/// namespace, which plays the ingress controller's).
pub async fn service_account(env: &TestEnv, name: &str) -> ServiceAccountIdentity {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("ingress-operator");
    env.service_account(&env.name(name), cluster_roles, roles)
        .await
        .unwrap()
}

/// Starts ingress-operator at `version` in-process as `identity`, with
/// leader election on its Lease in the environment's namespace when `elect`
/// is set (as the Deployment runs).
pub async fn start_as(
    env: &TestEnv,
    identity: &ServiceAccountIdentity,
    version: &str,
    elect: bool,
) -> OperatorRun {
    let op = ingress_operator::operator(version, &args(env));
    let settings =
        crate::support::operator_settings(env, identity, &ingress_operator::OPERATOR, elect);
    env.run_operator_as(identity, op, settings).await.unwrap()
}

/// Starts ingress-operator as its own ServiceAccount.
pub async fn start(env: &TestEnv) -> OperatorRun {
    let identity = service_account(env, "ingress-operator").await;
    start_as(env, &identity, VERSION, false).await
}

/// An IngressConfig `name` of guest cluster `cluster` (its Service `worker`
/// in namespace `cluster`) mapping `(lbPort, ingressPort, protocol)`s on the
/// environment's controller, labelled for `version`.
pub fn ingress_config(
    env: &TestEnv,
    name: &str,
    cluster: &str,
    ports: &[(i32, i32, Protocol)],
    version: &str,
) -> IngressConfig {
    let mut config = IngressConfig::new(
        name,
        IngressConfigSpec {
            guest_cluster: GuestCluster {
                id: cluster.into(),
                namespace: cluster.into(),
                service: "worker".into(),
            },
            host_cluster: HostCluster {
                ingress_controller: IngressController {
                    config_map: TCP.into(),
                    namespace: env.namespace().into(),
                    service: SERVICE.into(),
                },
            },
            protocol_ports: ports
                .iter()
                .map(|&(lb_port, ingress_port, protocol)| ProtocolPort {
                    ingress_port,
                    lb_port,
                    protocol,
                })
                .collect(),
        },
    );
    config.labels_mut().insert(
        ingress_operator::OPERATOR.version_label(),
        version.to_owned(),
    );
    config
}

/// Creates it.
pub async fn create(env: &TestEnv, config: &IngressConfig) -> IngressConfig {
    env.api::<IngressConfig>()
        .create(&PostParams::default(), config)
        .await
        .unwrap()
}

/// The condition `type_` of `config`.
pub fn condition<'a>(config: &'a IngressConfig, type_: &str) -> Option<&'a Condition> {
    config.status.as_ref()?.condition(type_)
}

/// Whether `config` has a status for `generation` whose Ready has `reason`.
pub fn settled(config: Option<&IngressConfig>, generation: i64, reason: &str) -> bool {
    config.and_then(|c| c.status.as_ref()).is_some_and(|s| {
        s.observed_generation == Some(generation)
            && s.condition(operatorkit::status::READY)
                .is_some_and(|c| c.reason == reason)
    })
}

/// Waits until `name` settled at `generation` with Ready reason `reason`.
pub async fn wait_settled(
    env: &TestEnv,
    name: &str,
    generation: i64,
    reason: &str,
) -> IngressConfig {
    wait_for(&env.api::<IngressConfig>(), name, WAIT, |c| {
        settled(c, generation, reason)
    })
    .await
    .unwrap_or_else(|e| panic!("{name} never settled with {reason}: {e}"))
    .unwrap()
}

/// The TCP (or UDP) ConfigMap's data.
pub async fn entries(env: &TestEnv, name: &str) -> BTreeMap<String, String> {
    env.api::<ConfigMap>()
        .get(name)
        .await
        .unwrap()
        .data
        .unwrap_or_default()
}

/// The controller Service's ports as `(name, port, targetPort, protocol)`.
pub async fn service_ports(env: &TestEnv) -> Vec<(String, i32, String, String)> {
    let service = env.api::<Service>().get(SERVICE).await.unwrap();
    service
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let target = match p.target_port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => {
                    i.to_string()
                }
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s,
                None => String::new(),
            };
            (
                p.name.unwrap_or_default(),
                p.port,
                target,
                p.protocol.unwrap_or_default(),
            )
        })
        .collect()
}

/// The Service port an IngressConfig's `port`/`protocol` gets.
pub fn port(port: i32, protocol: &str) -> (String, i32, String, String) {
    (
        format!("{}-{port}", protocol.to_lowercase()),
        port,
        port.to_string(),
        protocol.to_owned(),
    )
}

/// The chart's own ports of the controller Service.
pub fn chart_ports() -> Vec<(String, i32, String, String)> {
    vec![
        ("http".into(), 80, "http".into(), "TCP".into()),
        ("https".into(), 443, "https".into(), "TCP".into()),
    ]
}

/// The name of `config` (for messages).
pub fn name_of(config: &IngressConfig) -> String {
    config.name_any()
}

/// The condition `type_` of `config`, if there is a config.
pub fn condition_of<'a>(config: Option<&'a IngressConfig>, type_: &str) -> Option<&'a Condition> {
    condition(config?, type_)
}

/// An environment with the ingress controller's objects and ingress-operator
/// running as its ServiceAccount.
pub async fn started() -> (TestEnv, OperatorRun) {
    let env = env().await;
    controller_objects(&env).await;
    let run = start(&env).await;
    (env, run)
}

/// Creates IngressConfig `name` of `cluster` for [`VERSION`] and waits until
/// it is Ready with reason `reason`.
pub async fn created(
    env: &TestEnv,
    name: &str,
    cluster: &str,
    ports: &[(i32, i32, Protocol)],
    reason: &str,
) -> IngressConfig {
    create(env, &ingress_config(env, name, cluster, ports, VERSION)).await;
    wait_settled(env, name, 1, reason).await
}
