//! kvm-operator test helpers: an environment with the four CRDs it touches
//! and the simulated cluster, KVMConfigs, the operator under test running
//! as its ServiceAccount with the roles of `manifests/kvm-operator/`, and
//! the other operators' answers where a test does not run them (a
//! FlannelConfig or IngressConfig marked Ready, as flannel-operator and
//! ingress-operator would).

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{CertConfig, FlannelConfig, IngressConfig, KVMConfig, OperatorStatus};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt, Resource, ResourceExt};
use kvm_operator::settings::KvmArgs;
use operatorkit::testing::{
    OperatorRun, ServiceAccountIdentity, SimulationOptions, TestEnv, wait_for,
};
use serde::de::DeserializeOwned;
use serde_json::json;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(90);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";

/// A test environment with the KVMConfig, CertConfig, FlannelConfig and
/// IngressConfig CRDs, the simulated cluster (three nodes) and the host's
/// IngressClass `nginx`.
pub async fn env() -> TestEnv {
    let env = env_without_ingress_class().await;
    ingress_class(&env).await;
    env
}

/// Creates the IngressClass `nginx` (ingress-nginx's) unless it exists.
pub async fn ingress_class(env: &TestEnv) {
    let class: IngressClass = serde_json::from_value(json!({
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    }))
    .unwrap();
    let api = Api::<IngressClass>::all(env.client());
    if api.get_opt("nginx").await.unwrap().is_none() {
        api.create(&PostParams::default(), &class).await.unwrap();
    }
}

/// [`env()`] without the IngressClass.
pub async fn env_without_ingress_class() -> TestEnv {
    env_with(simulation()).await
}

/// The simulated cluster of the tests: three nodes, and guest clusters'
/// control planes coming up as their master VMs become Ready.
pub fn simulation() -> SimulationOptions {
    SimulationOptions {
        guest_clusters: true,
        ..SimulationOptions::default()
    }
}

/// A test environment with the four CRDs and a simulated cluster of
/// `options`, without the IngressClass (benchmarks size the cluster).
pub async fn env_with(options: SimulationOptions) -> TestEnv {
    if let Ok(filter) = std::env::var("KVM_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let env = TestEnv::start().await.unwrap();
    env.install_crds([
        KVMConfig::crd(),
        CertConfig::crd(),
        FlannelConfig::crd(),
        IngressConfig::crd(),
    ])
    .await
    .unwrap();
    env.simulate(options).await.unwrap();
    env
}

/// The flags of the operator under test: VM pods tolerate the simulated
/// nodes' taint; the guest APIs answer where the simulation publishes them.
pub fn args() -> KvmArgs {
    let annotation = format!(
        "--guest-api-address-annotation={}",
        operatorkit_simulation::keys::GUEST_API_ADDRESS
    );
    kvm_operator::settings::parse(&[
        "kvm-operator",
        "--tolerate-taints=kwok.x-k8s.io/node",
        &annotation,
    ])
    .unwrap()
}

/// kvm-operator's ServiceAccount in `env`, bound to the roles of
/// `manifests/kvm-operator/`.
pub async fn service_account(env: &TestEnv) -> ServiceAccountIdentity {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("kvm-operator");
    env.service_account(&env.name("kvm-operator"), cluster_roles, roles)
        .await
        .unwrap()
}

/// Starts kvm-operator as `identity` with `flags`, with leader election on
/// its Lease when `elect` is set (as its Deployment runs).
pub async fn start_as(
    env: &TestEnv,
    identity: &ServiceAccountIdentity,
    flags: KvmArgs,
    elect: bool,
) -> OperatorRun {
    let op = kvm_operator::operator(VERSION, flags).unwrap();
    let settings = crate::support::operator_settings(env, identity, &kvm_operator::OPERATOR, elect);
    env.run_operator_as(identity, op, settings).await.unwrap()
}

/// Starts kvm-operator as its own ServiceAccount with [`args`].
pub async fn start(env: &TestEnv) -> OperatorRun {
    let identity = service_account(env).await;
    start_as(env, &identity, args(), false).await
}

/// Starts cert-operator (built-in CA) as its own ServiceAccount.
pub async fn start_cert_operator(env: &TestEnv) -> OperatorRun {
    crate::certs::start(env, &crate::certs::args("24h")).await
}

/// A guest cluster ID no other test uses (it names a namespace).
pub fn cluster_id(env: &TestEnv, prefix: &str) -> String {
    let name = env.name(prefix);
    let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    id.chars().take(12).collect::<String>().to_lowercase()
}

/// A KVMConfig `name` of guest cluster `cluster` with masters and workers
/// of these ids, `vni`, and one port mapping per node port.
pub fn kvm_config(
    name: &str,
    cluster: &str,
    vni: i32,
    masters: &[&str],
    workers: &[&str],
    node_ports: &[i32],
) -> KVMConfig {
    let mappings: Vec<_> = node_ports
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"name": format!("port{i}"), "nodePort": p, "targetPort": 30010 + i as i32}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "provider.operatorkit.dev/v1alpha1",
        "kind": "KVMConfig",
        "metadata": {
            "name": name,
            "labels": {
                "operatorkit.dev/cluster": cluster,
                "kvm-operator.operatorkit.dev/version": VERSION,
            },
        },
        "spec": {
            "cluster": {
                "id": cluster,
                "organization": "acme",
                "version": "1.33.4",
                "baseDomain": "k8s.example.com",
            },
            "masters": masters.iter().map(|id| node(id)).collect::<Vec<_>>(),
            "workers": workers.iter().map(|id| node(id)).collect::<Vec<_>>(),
            "flannel": {"vni": vni},
            "portMappings": mappings,
        },
    }))
    .unwrap()
}

/// Node `id` of a KVMConfig: 2 CPUs, 4Gi of memory, a 20Gi disk.
pub fn node(id: &str) -> serde_json::Value {
    json!({"id": id, "cpus": 2, "memory": "4Gi", "disk": "20Gi"})
}

/// Sets the workers of KVMConfig `name` to nodes `ids` (a merge patch).
pub async fn set_workers(env: &TestEnv, name: &str, ids: &[&str]) {
    let workers: Vec<_> = ids.iter().map(|id| node(id)).collect();
    env.api::<KVMConfig>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"workers": workers}})),
        )
        .await
        .unwrap();
}

/// Creates it.
pub async fn create(env: &TestEnv, config: &KVMConfig) -> KVMConfig {
    env.api::<KVMConfig>()
        .create(&PostParams::default(), config)
        .await
        .unwrap()
}

/// The condition `type_` of `config`, if there is a config.
pub fn condition<'a>(config: Option<&'a KVMConfig>, type_: &str) -> Option<&'a Condition> {
    config?.status.as_ref()?.condition(type_)
}

/// Whether condition `type_` of `config` has `reason`, for its current generation.
pub fn has(config: Option<&KVMConfig>, type_: &str, reason: &str) -> bool {
    let generation = config.and_then(|c| c.metadata.generation);
    condition(config, type_).is_some_and(|c| c.reason == reason)
        && config
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.observed_generation)
            == generation
}

/// Waits until `name` satisfies `done`; on a timeout fails with its conditions.
pub async fn wait_until(
    env: &TestEnv,
    name: &str,
    what: &str,
    done: impl Fn(Option<&KVMConfig>) -> bool,
) -> Option<KVMConfig> {
    let api = env.api::<KVMConfig>();
    match wait_for(&api, name, WAIT, done).await {
        Ok(found) => found,
        Err(e) => {
            let last = api.get_opt(name).await.ok().flatten();
            let status = last.and_then(|c| c.status);
            panic!("{name}: never {what}: {e}; status: {status:#?}")
        }
    }
}

/// Waits until `name`'s condition `type_` has `reason`.
pub async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> KVMConfig {
    wait_until(env, name, &format!("{type_}={reason}"), |c| {
        has(c, type_, reason)
    })
    .await
    .unwrap()
}

/// Waits until `name` is Ready for its current generation.
pub async fn wait_ready(env: &TestEnv, name: &str) -> KVMConfig {
    wait_until(env, name, "Ready", |c| {
        c.and_then(|c| c.status.as_ref())
            .is_some_and(|s| s.is_ready())
            && has(
                c,
                operatorkit::status::READY,
                operatorkit::status::reasons::RECONCILED,
            )
    })
    .await
    .unwrap()
}

/// Waits until KVMConfig `name` is gone.
pub async fn wait_gone(env: &TestEnv, name: &str) {
    wait_until(env, name, "deleted", |c| c.is_none()).await;
}

/// Marks `kind`'s object `name` Ready for its generation, as its operator
/// would (flannel-operator, ingress-operator) when the test does not run it.
pub async fn mark_ready<K: crate::support::NamespacedKind>(env: &TestEnv, name: &str) {
    let api: Api<K> = env.api();
    let object = wait_for(&api, name, WAIT, |o| o.is_some())
        .await
        .unwrap()
        .unwrap();
    let status = json!({"status": {
        "observedGeneration": object.meta().generation,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Ready",
            "message": "served by the test", "lastTransitionTime": jiff::Timestamp::now().to_string(),
            "observedGeneration": object.meta().generation,
        }],
    }});
    api.patch_status(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
}

/// In the background: marks the FlannelConfig and IngressConfig of
/// `cluster` Ready once they exist, for at most `within` (an operator
/// refused their creation never makes them; that is not this task's
/// failure).
pub fn serve_when_created(env: &TestEnv, cluster: &str, within: Duration) {
    let (client, ns, cluster) = (env.client(), env.namespace().to_owned(), cluster.to_owned());
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + within;
        let mut served = (false, false);
        while tokio::time::Instant::now() < deadline && served != (true, true) {
            if !served.0 {
                served.0 = mark_if_present::<FlannelConfig>(&client, &ns, &cluster).await;
            }
            if !served.1 {
                served.1 = mark_if_present::<IngressConfig>(&client, &ns, &cluster).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// Marks `kind`'s object `ns/name` Ready if it exists; whether it did.
async fn mark_if_present<K>(client: &kube::Client, ns: &str, name: &str) -> bool
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let Ok(Some(object)) = api.get_opt(name).await else {
        return false;
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&ready_status(object.meta().generation)),
    )
    .await
    .is_ok()
}

/// A status saying Ready for `generation`, as an operator writes it.
fn ready_status(generation: Option<i64>) -> serde_json::Value {
    json!({"status": {
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Ready",
            "message": "served by the test", "lastTransitionTime": jiff::Timestamp::now().to_string(),
            "observedGeneration": generation,
        }],
    }})
}

/// Marks the FlannelConfig and IngressConfig of `cluster` Ready.
pub async fn serve_network_and_ingress(env: &TestEnv, cluster: &str) {
    mark_ready::<FlannelConfig>(env, cluster).await;
    mark_ready::<IngressConfig>(env, cluster).await;
}
