//! The whole system, as in production: the five operators as separate
//! processes, each as its own ServiceAccount under the roles of its
//! `manifests/<operator>/` with leader election (`e2e::system`). A KVM guest
//! cluster goes from `kubectl apply` to Ready (certificates, network config
//! in etcd, flanneld DaemonSet, ingress entries, VM pods, status) and is
//! deleted to nothing (no object labelled with it or named after it, no
//! finalizer of ours anywhere, no etcd key, no ingress entry, no
//! CertConfig); an AWS guest cluster the same against moto (nothing
//! tagged with its ID left).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::certificates::{KUBECONFIG_KEY, kubeconfig_secret_name};
use apiextensions::{AWSConfig, CertConfig, FlannelConfig, IngressConfig, KVMConfig};
use e2e::system::{Options, System, wait_empty};
use e2e::{aws, flannel, ingress, kvm};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use operatorkit::testing::wait_for;

/// How long a guest cluster may take to come up or go away here: five
/// processes share two cores with the server and the simulation.
const WAIT: Duration = Duration::from_secs(180);

/// Waits until `name` of kind `K` satisfies `done`; fails with its status
/// and the operators' logs.
async fn wait_until<K>(
    system: &System,
    name: &str,
    what: &str,
    done: impl Fn(Option<&K>) -> bool,
) -> Option<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api = system.env.api::<K>();
    match wait_for(&api, name, WAIT, done).await {
        Ok(found) => found,
        Err(e) => {
            let last = api.get_opt(name).await.ok().flatten();
            let exited = system.exited();
            panic!(
                "{name}: never {what}: {e}\nlast: {}\nexited: {exited:#?}\n{}",
                serde_json::to_string_pretty(&last).unwrap(),
                system.logs()
            )
        }
    }
}

/// `kubectl delete <resource> <name>`, and waits until it is gone.
async fn delete<K>(system: &System, resource: &str, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    system
        .kubectl()
        .ok(&["delete", resource, name, "--wait=false"]);
    wait_until::<K>(system, name, "deleted", |c| c.is_none()).await;
}

/// The guest's admin kubeconfig (Secret `<cluster>-kubeconfig`): a
/// kubeconfig naming the guest's API server with a client certificate.
async fn guest_kubeconfig(system: &System, cluster: &str) {
    let secret = system
        .env
        .api::<Secret>()
        .get(&kubeconfig_secret_name(cluster))
        .await
        .unwrap();
    let text = &secret.data.unwrap()[KUBECONFIG_KEY].0;
    let file: kube::config::Kubeconfig = serde_yaml::from_slice(text).unwrap();
    let server = file.clusters[0].cluster.as_ref().unwrap().server.clone();
    assert!(server.is_some_and(|s| s.starts_with("https://")));
    let user = file.auth_infos[0].auth_info.as_ref().unwrap();
    assert!(user.client_certificate_data.is_some() && user.client_key_data.is_some());
}

fn ready<K: apiextensions::OperatorStatus>(status: Option<&K>) -> bool {
    status.is_some_and(|s| s.is_ready())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kvm_guest_cluster_comes_up_from_kubectl_apply_and_goes_without_a_trace() {
    let system = System::start(Options::default()).await;
    let env = &system.env;
    let cluster = kvm::cluster_id(env, "sys");
    let name = env.name("kvm");
    let mut config = kvm::kvm_config(&name, &cluster, 301, &["m1"], &["w1", "w2"], &[31300]);
    config.metadata.namespace = Some(env.namespace().to_owned());
    system.apply(&config);

    let up = wait_until::<KVMConfig>(&system, &name, "Ready", |c| {
        ready(c.and_then(|c| c.status.as_ref()))
            && c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.observed_generation)
                == c.and_then(|c| c.metadata.generation)
    })
    .await
    .unwrap();
    let status = up.status.as_ref().unwrap();
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(1), Some(2))
    );
    assert!(
        status
            .nodes
            .iter()
            .all(|n| n.ready && n.phase.as_deref() == Some("Running")),
        "{:?}",
        status.nodes
    );

    // Certificates: every CertConfig Ready, each Secret with the three keys.
    let certs = env
        .api::<CertConfig>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        certs.len(),
        6,
        "{:?}",
        certs.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    );
    for c in &certs {
        assert!(ready(c.status.as_ref()), "{} not Ready", c.name_any());
        let secret = env.api::<Secret>().get(&c.name_any()).await.unwrap();
        let data = secret.data.unwrap_or_default();
        for key in ["ca.crt", "tls.crt", "tls.key"] {
            assert!(data.contains_key(key), "{} has no {key}", c.name_any());
        }
    }
    // The network: flannel-operator's config in etcd, flanneld on every node.
    let flannel_config = env.api::<FlannelConfig>().get(&cluster).await.unwrap();
    assert!(ready(flannel_config.status.as_ref()));
    let mut etcd = flannel::client(&system.etcd).await;
    let (network, _) = flannel::get(&mut etcd, &flannel::config_key(&cluster))
        .await
        .expect("the network config in etcd");
    assert!(network.contains("\"VNI\":301"), "{network}");
    let daemonsets: Api<DaemonSet> = Api::namespaced(
        env.client(),
        &flannel_operator::network::namespace_name(&cluster),
    );
    let flanneld = daemonsets.get("flanneld").await.unwrap();
    let ds = flanneld.status.unwrap();
    assert_eq!((ds.desired_number_scheduled, ds.number_ready), (3, 3));
    // The ingress: the API, etcd and port mapping entries of the cluster.
    let ingress_config = env.api::<IngressConfig>().get(&cluster).await.unwrap();
    assert!(ready(ingress_config.status.as_ref()));
    let mut entries = ingress::entries(env, ingress::TCP).await;
    entries.extend(ingress::entries(env, ingress::UDP).await);
    let mine = entries.values().filter(|t| t.contains(&cluster)).count();
    assert_eq!(
        mine,
        ingress_config.spec.protocol_ports.len(),
        "{entries:?}"
    );
    // The VMs: one Running pod per node in the cluster's namespace.
    let pods: Api<Pod> = Api::namespaced(env.client(), &cluster);
    let running = pods.list(&ListParams::default()).await.unwrap().items;
    let phases: Vec<_> = running
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        phases,
        ["Running"; 3],
        "{:?}",
        running.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    // The admin kubeconfig of the guest.
    guest_kubeconfig(&system, &cluster).await;

    delete::<KVMConfig>(&system, "kvmconfig", &name).await;
    wait_empty(&system, "the guest cluster", WAIT, || {
        system.leftovers(&cluster)
    })
    .await;
    let certconfigs = Api::<CertConfig>::all(env.client())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(certconfigs.items.is_empty(), "CertConfigs left");
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_guest_cluster_comes_up_against_moto_and_goes_without_a_trace() {
    let system = System::start(Options::default()).await;
    let env = &system.env;
    let cluster = aws::cluster_id(env, "sys");
    let name = env.name("aws");
    let secret = env.name("aws-creds");
    aws::credentials(env, &secret, &aws::moto_credentials()).await;
    system.apply(&aws::aws_config(env, &name, &cluster, &secret));

    let up = wait_until::<AWSConfig>(&system, &name, "Ready", |c| {
        ready(c.and_then(|c| c.status.as_ref()))
    })
    .await
    .unwrap();
    assert!(up.status.is_some());
    let certs = env
        .api::<CertConfig>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert!(!certs.is_empty() && certs.iter().all(|c| ready(c.status.as_ref())));
    let before = system.aws_leftovers(&cluster).await;
    assert!(
        before.iter().any(|l| l.starts_with("stack "))
            && before.iter().any(|l| l.starts_with("vpc ")),
        "the cluster's stack and VPC in moto: {before:?}"
    );
    guest_kubeconfig(&system, &cluster).await;

    delete::<AWSConfig>(&system, "awsconfig", &name).await;
    wait_empty(&system, "the AWS guest cluster in moto", WAIT, || {
        system.aws_leftovers(&cluster)
    })
    .await;
    wait_empty(&system, "the AWS guest cluster in the API", WAIT, || {
        e2e::system::api_leftovers(env, &cluster)
    })
    .await;
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}
