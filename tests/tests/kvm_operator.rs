//! kvm-operator against the embedded API server with the simulated cluster
//! (three nodes) and cert-operator, running as its own ServiceAccount under
//! the roles of `manifests/kvm-operator/`. flannel-operator and
//! ingress-operator are not run: the tests mark the FlannelConfig and
//! IngressConfig Ready as they would. A KVMConfig to Ready with every
//! object asserted, inputs missing then arriving, a certificate renewed
//! without a VM restart, workers added and removed from the middle, a
//! version change rolled one VM at a time, conflicts refused with nothing
//! created, and deletion leaving nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use apiextensions::{CertConfig, FlannelConfig, IngressConfig, KVMConfig, OperatorStatus};
use e2e::kvm::{
    self, create, kvm_config, serve_network_and_ingress, wait_gone, wait_ready, wait_reason,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use kvm_operator::checks::{ADMITTED, reasons as check_reasons};
use kvm_operator::readiness::{CERTIFICATES_READY, INGRESS_READY, NETWORK_READY, reasons};
use kvm_operator::{KVMCONFIG_ANNOTATION, NODE_LABEL};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

/// Objects of kind `K` labelled with `cluster`, in any namespace.
async fn labelled<K>(env: &TestEnv, cluster: &str) -> Vec<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Api::<K>::all(env.client())
        .list(&ListParams::default().labels(&format!("{CLUSTER_LABEL}={cluster}")))
        .await
        .unwrap()
        .items
}

/// Names of the labelled objects of every kind the cluster has, that still exist.
async fn leftovers(env: &TestEnv, cluster: &str) -> Vec<String> {
    let mut left = Vec::new();
    macro_rules! kinds {
        ($($k:ty),*) => {$(
            for o in labelled::<$k>(env, cluster).await {
                left.push(format!("{} {}/{}", stringify!($k), o.namespace().unwrap_or_default(), o.name_any()));
            }
        )*};
    }
    kinds!(
        Deployment,
        Pod,
        Secret,
        Service,
        ServiceAccount,
        Ingress,
        PodDisruptionBudget,
        PersistentVolumeClaim,
        CertConfig,
        FlannelConfig,
        IngressConfig
    );
    if Api::<Namespace>::all(env.client())
        .get_opt(cluster)
        .await
        .unwrap()
        .is_some()
    {
        left.push(format!("Namespace {cluster}"));
    }
    left
}

/// Waits until no object of `cluster` is left (the other operators'
/// finalizers may still be running when the KVMConfig is gone).
async fn wait_nothing_left(env: &TestEnv, cluster: &str) {
    let deadline = tokio::time::Instant::now() + kvm::WAIT;
    loop {
        let left = leftovers(env, cluster).await;
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind: {left:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes KVMConfig `name` and waits until it and every object of its
/// cluster are gone.
async fn delete_and_check_nothing_left(env: &TestEnv, name: &str, cluster: &str) {
    env.api::<KVMConfig>()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(env, name).await;
    wait_nothing_left(env, cluster).await;
}

/// The VM Deployments of `cluster` by node name, with their uids.
async fn vms(env: &TestEnv, cluster: &str) -> BTreeMap<String, String> {
    Api::<Deployment>::namespaced(env.client(), cluster)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| (d.name_any(), d.uid().unwrap()))
        .collect()
}

/// The VM pods of `cluster` by name, with their uids.
async fn pods(env: &TestEnv, cluster: &str) -> BTreeMap<String, String> {
    Api::<Pod>::namespaced(env.client(), cluster)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| (p.name_any(), p.uid().unwrap()))
        .collect()
}

/// Records KVMConfig `name`'s (readyMasters, readyWorkers, Ready) at
/// every write of its status that changes them, from a watch.
async fn record_counts(
    api: Api<KVMConfig>,
    name: String,
    into: std::sync::Arc<std::sync::Mutex<Vec<(i32, i32, bool)>>>,
) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let events = watcher(api, watcher::Config::default()).default_backoff();
    let mut configs = std::pin::pin!(events.applied_objects());
    while let Some(event) = configs.next().await {
        let Ok(config) = event else { continue };
        let Some(s) = config.status.as_ref().filter(|_| config.name_any() == name) else {
            continue;
        };
        let counts = (
            s.ready_masters.unwrap_or(0),
            s.ready_workers.unwrap_or(0),
            s.is_ready(),
        );
        let mut history = into.lock().unwrap();
        if history.last() != Some(&counts) {
            history.push(counts);
        }
    }
}

#[tokio::test]
async fn a_kvmconfig_becomes_a_running_guest_cluster_and_goes_without_a_trace() {
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "ready");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(
            &name,
            &cluster,
            101,
            &["m1"],
            &["w1", "w2"],
            &[31000, 31001],
        ),
    )
    .await;

    // cert-operator issues the certificates; the network and the ingress
    // wait for their operators, which this test plays.
    let waiting = wait_reason(&env, &name, CERTIFICATES_READY, reasons::SERVED).await;
    let network = kvm::condition(Some(&waiting), NETWORK_READY).unwrap();
    assert_eq!(network.status, "False");
    assert!(
        network.message.contains("not served yet"),
        "{}",
        network.message
    );
    assert!(
        vms(&env, &cluster).await.is_empty(),
        "no VM before every input is served"
    );
    let history = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = tokio::spawn(record_counts(
        env.api::<KVMConfig>(),
        name.clone(),
        history.clone(),
    ));
    serve_network_and_ingress(&env, &cluster).await;
    let guest_api = kvm_operator::vms::GUEST_API;
    wait_reason(
        &env,
        &name,
        guest_api,
        kvm_operator::vms::reasons::ANSWERING,
    )
    .await;
    let ready = wait_ready(&env, &name).await;
    recorder.abort();
    // While it came up, the counts only rose and Ready did not go back.
    let history = history.lock().unwrap().clone();
    assert!(
        history
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1 && (w[1].2 || !w[0].2)),
        "(readyMasters, readyWorkers, Ready) went back: {history:?}"
    );
    let status = ready.status.as_ref().unwrap();
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(1), Some(2))
    );
    let ids: Vec<_> = status
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.ready))
        .collect();
    assert_eq!(ids, [("m1", true), ("w1", true), ("w2", true)]);
    assert!(
        status
            .nodes
            .iter()
            .all(|n| n.pod.is_some() && n.phase.as_deref() == Some("Running"))
    );
    for type_ in [CERTIFICATES_READY, NETWORK_READY, INGRESS_READY, ADMITTED] {
        assert_eq!(
            kvm::condition(Some(&ready), type_).unwrap().status,
            "True",
            "{type_}"
        );
    }

    // What was asked of the other operators.
    let ns = env.namespace().to_owned();
    let certs = env
        .api::<CertConfig>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut components: Vec<_> = certs
        .iter()
        .map(|c| c.spec.cluster_component.clone())
        .collect();
    components.sort();
    assert_eq!(
        components,
        [
            "admin",
            "api",
            "etcd",
            "kvm-operator",
            "service-account",
            "worker"
        ]
    );
    for c in &certs {
        assert_eq!(c.labels()[CLUSTER_LABEL], cluster);
        assert_eq!(
            c.labels()["cert-operator.operatorkit.dev/version"],
            kvm::VERSION
        );
        assert_eq!(c.owner_references()[0].uid, ready.uid().unwrap());
    }
    let flannel = env.api::<FlannelConfig>().get(&cluster).await.unwrap();
    assert_eq!(flannel.spec.vni, 101);
    assert_eq!(
        flannel.labels()["flannel-operator.operatorkit.dev/version"],
        kvm::VERSION
    );
    let ingress = env.api::<IngressConfig>().get(&cluster).await.unwrap();
    assert_eq!(ingress.spec.guest_cluster.namespace, cluster);
    assert_eq!(ingress.spec.protocol_ports.len(), 2);

    // The guest cluster's objects, in its namespace.
    let owner = format!("{ns}/{name}");
    let namespace = Api::<Namespace>::all(env.client())
        .get(&cluster)
        .await
        .unwrap();
    assert_eq!(namespace.annotations()[KVMCONFIG_ANNOTATION], owner);
    assert_eq!(namespace.labels()[MANAGED_BY_LABEL], "kvm-operator");
    let deployments = Api::<Deployment>::namespaced(env.client(), &cluster);
    let master = deployments.get("master-m1").await.unwrap();
    assert_eq!(master.labels()[CLUSTER_LABEL], cluster);
    assert_eq!(master.labels()[NODE_LABEL], "m1");
    let spec = master.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let pod = spec.template.spec.as_ref().unwrap();
    let vm = &pod.containers[0];
    assert_eq!(
        vm.image.as_deref(),
        Some("ghcr.io/operatorkit/k8s-kvm:0.1.0")
    );
    let resources = vm.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(resources["cpu"].0, "2");
    assert_eq!(resources["memory"].0, "4Gi");
    let env_of = |k: &str| {
        vm.env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == k)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(env_of("BRIDGE").unwrap(), format!("br-{cluster}"));
    assert_eq!(env_of("KUBERNETES_VERSION").unwrap(), "1.33.4");
    let volumes: Vec<_> = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert!(
        volumes.contains(&"dev-kvm") && volumes.contains(&"etcd"),
        "{volumes:?}"
    );
    assert!(vm.readiness_probe.is_some());
    let claims = Api::<PersistentVolumeClaim>::namespaced(env.client(), &cluster);
    assert!(claims.get_opt("master-m1-etcd").await.unwrap().is_some());
    let services = Api::<Service>::namespaced(env.client(), &cluster);
    let worker = services.get("worker").await.unwrap();
    let node_ports: Vec<_> = worker
        .spec
        .unwrap()
        .ports
        .unwrap()
        .iter()
        .map(|p| p.node_port)
        .collect();
    assert_eq!(node_ports, [Some(31000), Some(31001)]);
    assert!(services.get_opt("master").await.unwrap().is_some());
    let ingresses = Api::<Ingress>::namespaced(env.client(), &cluster);
    let api = ingresses.get("api").await.unwrap();
    assert_eq!(
        api.annotations()["nginx.ingress.kubernetes.io/ssl-passthrough"],
        "true"
    );
    assert_eq!(
        api.spec.unwrap().rules.unwrap()[0].host.as_deref(),
        Some(format!("api.{cluster}.k8s.example.com").as_str())
    );
    let pdbs = Api::<PodDisruptionBudget>::namespaced(env.client(), &cluster);
    assert!(
        pdbs.get_opt("master").await.unwrap().is_some()
            && pdbs.get_opt("worker").await.unwrap().is_some()
    );

    // Boot Secrets: the node's certificates, private keys only there.
    let secrets = Api::<Secret>::namespaced(env.client(), &cluster);
    let boot = secrets.get("worker-w1").await.unwrap();
    let data = boot.data.as_ref().unwrap();
    let issued = env
        .api::<Secret>()
        .get(&format!("{cluster}-worker"))
        .await
        .unwrap();
    assert_eq!(data["worker.key"], issued.data.as_ref().unwrap()["tls.key"]);
    assert!(
        !data.contains_key("api.key"),
        "a worker gets no API server key"
    );
    let config: serde_json::Value = serde_json::from_slice(&data["node.json"].0).unwrap();
    assert_eq!(config["node"]["role"], "worker");
    assert!(!String::from_utf8_lossy(&data["node.json"].0).contains("PRIVATE KEY"));
    let m1 = secrets.get("master-m1").await.unwrap();
    assert!(m1.data.as_ref().unwrap().contains_key("etcd.key"));

    // The admin kubeconfig: beside the KVMConfig, owned by it, labelled.
    let kubeconfig = env
        .api::<Secret>()
        .get(&apiextensions::certificates::kubeconfig_secret_name(
            &cluster,
        ))
        .await
        .unwrap();
    assert_eq!(kubeconfig.labels()[CLUSTER_LABEL], cluster);
    assert_eq!(kubeconfig.labels()[MANAGED_BY_LABEL], "kvm-operator");
    assert_eq!(kubeconfig.owner_references()[0].uid, ready.uid().unwrap());
    let text = &kubeconfig.data.as_ref().unwrap()[apiextensions::certificates::KUBECONFIG_KEY].0;
    let file: kube::config::Kubeconfig = serde_yaml::from_slice(text).unwrap();
    let admin_crt = &env
        .api::<Secret>()
        .get(&format!("{cluster}-admin"))
        .await
        .unwrap()
        .data
        .unwrap()["tls.crt"];
    use base64::Engine as _;
    let in_file = file.auth_infos[0].auth_info.as_ref().unwrap();
    let crt = in_file.client_certificate_data.as_deref().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(crt)
            .unwrap(),
        admin_crt.0,
        "the issued admin certificate"
    );

    // Steady state: no write.
    let before = _kvm.requests().snapshot();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let since = _kvm.requests().since(&before);
    assert_eq!(
        since.values().sum::<u64>(),
        0,
        "requests in steady state: {since:?}"
    );

    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

#[tokio::test]
async fn missing_certificates_are_waited_for_and_a_renewal_reaches_the_vms_without_a_restart() {
    let env = kvm::env().await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "certs");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 102, &["m1"], &["w1"], &[]),
    )
    .await;
    let waiting = wait_reason(&env, &name, CERTIFICATES_READY, reasons::WAITING).await;
    let message = &kvm::condition(Some(&waiting), CERTIFICATES_READY)
        .unwrap()
        .message;
    assert!(message.contains(&format!("{cluster}-api")), "{message}");
    assert_eq!(
        kvm::condition(Some(&waiting), INGRESS_READY)
            .unwrap()
            .reason,
        reasons::NO_PORT_MAPPINGS
    );
    kvm::mark_ready::<FlannelConfig>(&env, &cluster).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        vms(&env, &cluster).await.is_empty(),
        "no VM without certificates"
    );

    // cert-operator arrives: the Secrets' watch brings the KVMConfig back.
    let _certs = kvm::start_cert_operator(&env).await;
    wait_ready(&env, &name).await;
    let pods_before = pods(&env, &cluster).await;
    let boot = Api::<Secret>::namespaced(env.client(), &cluster);
    let before = boot.get("worker-w1").await.unwrap().data.unwrap()["worker.crt"].clone();

    // The worker certificate is issued again (its Secret deleted).
    env.api::<Secret>()
        .delete(&format!("{cluster}-worker"), &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&boot, "worker-w1", kvm::WAIT, |s| {
        s.and_then(|s| s.data.as_ref())
            .is_some_and(|d| d["worker.crt"] != before)
    })
    .await
    .unwrap();
    wait_ready(&env, &name).await;
    assert_eq!(
        pods(&env, &cluster).await,
        pods_before,
        "no VM pod was recreated"
    );

    // The admin certificate issued again: the kubeconfig Secret follows.
    let kubeconfigs = env.api::<Secret>();
    let kubeconfig = apiextensions::certificates::kubeconfig_secret_name(&cluster);
    let value = |s: &Secret| {
        s.data
            .as_ref()
            .map(|d| d[apiextensions::certificates::KUBECONFIG_KEY].clone())
    };
    let before = wait_for(&kubeconfigs, &kubeconfig, kvm::WAIT, |s| s.is_some())
        .await
        .unwrap()
        .and_then(|s| value(&s));
    kubeconfigs
        .delete(&format!("{cluster}-admin"), &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&kubeconfigs, &kubeconfig, kvm::WAIT, |s| {
        s.is_some_and(|s| value(s) != before)
    })
    .await
    .unwrap();
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

#[tokio::test]
async fn workers_scale_up_and_down_by_id_and_a_version_change_rolls_one_vm_at_a_time() {
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "roll");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 103, &["m1"], &["w1", "w2", "w3"], &[]),
    )
    .await;
    kvm::mark_ready::<FlannelConfig>(&env, &cluster).await;
    wait_ready(&env, &name).await;
    let before = vms(&env, &cluster).await;
    assert_eq!(before.len(), 4);

    // Remove w2 from the middle: w2 goes, w1 and w3 stay as they were.
    kvm::set_workers(&env, &name, &["w1", "w3"]).await;
    let deployments = Api::<Deployment>::namespaced(env.client(), &cluster);
    wait_for(&deployments, "worker-w2", kvm::WAIT, |d| d.is_none())
        .await
        .unwrap();
    let ready = wait_ready(&env, &name).await;
    let after = vms(&env, &cluster).await;
    assert_eq!(after.get("worker-w1"), before.get("worker-w1"));
    assert_eq!(after.get("worker-w3"), before.get("worker-w3"));
    assert_eq!(ready.status.unwrap().ready_workers, Some(2));
    assert!(
        Api::<Secret>::namespaced(env.client(), &cluster)
            .get_opt("worker-w2")
            .await
            .unwrap()
            .is_none()
    );

    // Scale up: w4 is added.
    kvm::set_workers(&env, &name, &["w1", "w3", "w4"]).await;
    let ready = wait_ready(&env, &name).await;
    assert_eq!(ready.status.unwrap().ready_workers, Some(3));

    // A new Kubernetes version replaces every VM, one at a time, masters
    // first: at no moment is more than one VM not ready.
    let pods_api = Api::<Pod>::namespaced(env.client(), &cluster);
    let pods_before = pods(&env, &cluster).await;
    let (kubeconfig, guest) = guest_kubeconfig(&env, &cluster).await;
    let guest_nodes = Api::<k8s_openapi::api::core::v1::Node>::all(guest);
    let mut cordoned = std::collections::BTreeSet::new();
    let api = env.api::<KVMConfig>();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cluster": {"version": "1.34.0"}}})),
    )
    .await
    .unwrap();
    let mut replaced_order = Vec::new();
    let deadline = tokio::time::Instant::now() + kvm::WAIT * 2;
    loop {
        let pods = pods_api.list(&ListParams::default()).await.unwrap().items;
        for n in guest_nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
                cordoned.insert(n.name_any());
            }
        }
        let ready_new: Vec<_> = pods
            .iter()
            .filter(|p| !pods_before.contains_key(&p.name_any()))
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        for p in &ready_new {
            let node = p.labels()[NODE_LABEL].clone();
            if !replaced_order.contains(&node) {
                replaced_order.push(node);
            }
        }
        let up = vms_up(&env, &cluster).await;
        assert!(
            up.len() >= 3,
            "more than one of 4 VMs down at once: only {up:?} up"
        );
        let done = api.get(&name).await.unwrap();
        if kvm::has(Some(&done), "Ready", "Reconciled")
            && done.status.as_ref().unwrap().nodes.iter().all(|n| n.ready)
            && replaced_order.len() == 4
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let states: Vec<_> = pods
                .iter()
                .map(|p| {
                    (
                        p.name_any(),
                        p.status.as_ref().and_then(|s| s.phase.clone()),
                        p.metadata.deletion_timestamp.is_some(),
                    )
                })
                .collect();
            let status = done.status.map(|s| s.conditions);
            panic!(
                "the rollout did not finish; replaced {replaced_order:?}; pods {states:?}; status {status:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replaced_order[0], "m1", "masters first: {replaced_order:?}");
    let deployment = deployments.get("worker-w4").await.unwrap();
    let env_vars = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        env_vars
            .iter()
            .any(|e| e.name == "KUBERNETES_VERSION" && e.value.as_deref() == Some("1.34.0"))
    );
    // Each VM's guest Node was cordoned (drained) before the VM was
    // replaced, and is schedulable again once the new VM is Ready.
    let every: std::collections::BTreeSet<String> =
        ["master-m1", "worker-w1", "worker-w3", "worker-w4"]
            .map(String::from)
            .into();
    // (worker-w2, removed above, was drained too: its Node may still be
    // there, cordoned, until its VM pod is gone.)
    let removed = std::collections::BTreeSet::from(["worker-w2".to_owned()]);
    assert!(
        every.is_subset(&cordoned) && cordoned.difference(&every).all(|n| removed.contains(n)),
        "drained before replaced: {cordoned:?}"
    );
    for node in &every {
        wait_for(&guest_nodes, node, kvm::WAIT, |n| {
            n.is_some_and(|n| n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true))
        })
        .await
        .unwrap();
    }
    let _ = std::fs::remove_file(kubeconfig);
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

#[tokio::test]
async fn a_kvmconfig_colliding_with_another_is_refused_and_nothing_is_made_for_it() {
    let env = kvm::env().await;
    let _kvm = kvm::start(&env).await;
    let first_cluster = kvm::cluster_id(&env, "first");
    let first = env.name("kvm");
    create(
        &env,
        &kvm_config(&first, &first_cluster, 104, &["m1"], &[], &[31100]),
    )
    .await;
    wait_reason(&env, &first, ADMITTED, check_reasons::NO_CONFLICT).await;

    // Same VNI.
    let vni_cluster = kvm::cluster_id(&env, "vni");
    let vni = env.name("kvm");
    create(
        &env,
        &kvm_config(&vni, &vni_cluster, 104, &["m1"], &[], &[]),
    )
    .await;
    let refused = wait_reason(&env, &vni, ADMITTED, check_reasons::VNI_CONFLICT).await;
    let message = &kvm::condition(Some(&refused), "Ready").unwrap().message;
    assert!(message.contains(&first_cluster), "{message}");
    // Same node port.
    let port_cluster = kvm::cluster_id(&env, "port");
    let port = env.name("kvm");
    create(
        &env,
        &kvm_config(&port, &port_cluster, 105, &["m1"], &[], &[31100]),
    )
    .await;
    wait_reason(&env, &port, ADMITTED, check_reasons::PORT_CONFLICT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for cluster in [&vni_cluster, &port_cluster] {
        let left = leftovers(&env, cluster).await;
        assert!(left.is_empty(), "made for a refused KVMConfig: {left:?}");
    }

    // The holder goes: the refused one goes ahead (its inputs appear).
    env.api::<KVMConfig>()
        .delete(&first, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env, &first).await;
    let certs = env.api::<CertConfig>();
    wait_for(&certs, &format!("{vni_cluster}-api"), kvm::WAIT, |c| {
        c.is_some()
    })
    .await
    .unwrap();
    for (name, cluster) in [(&vni, &vni_cluster), (&port, &port_cluster)] {
        delete_and_check_nothing_left(&env, name, cluster).await;
    }
}

/// Waits until `done` holds (polling the API), then kills the operator and
/// starts a new one: a crash at that point of the work.
async fn crash_when<F, Fut>(
    env: &TestEnv,
    run: operatorkit::testing::OperatorRun,
    what: &str,
    done: F,
) -> operatorkit::testing::OperatorRun
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + kvm::WAIT;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.kill();
    eprintln!("crashed the operator: {what}");
    kvm::start(env).await
}

#[tokio::test]
async fn a_crash_at_every_stage_of_creation_and_deletion_converges() {
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    let run = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "crash");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 106, &["m1"], &["w1", "w2"], &[31200]),
    )
    .await;
    let certs = env.api::<CertConfig>();
    let namespaces = Api::<Namespace>::all(env.client());
    let deployments = Api::<Deployment>::namespaced(env.client(), &cluster);
    let run = crash_when(&env, run, "inputs asked for", || async {
        certs
            .get_opt(&format!("{cluster}-api"))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    serve_network_and_ingress(&env, &cluster).await;
    let run = crash_when(&env, run, "namespace made", || async {
        namespaces.get_opt(&cluster).await.unwrap().is_some()
    })
    .await;
    let run = crash_when(&env, run, "first VM created", || async {
        !deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    wait_ready(&env, &name).await;

    env.api::<KVMConfig>()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let run = crash_when(&env, run, "VMs deleted", || async {
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    let run = crash_when(&env, run, "namespace deleting", || async {
        namespaces
            .get_opt(&cluster)
            .await
            .unwrap()
            .is_none_or(|n| n.metadata.deletion_timestamp.is_some())
    })
    .await;
    wait_gone(&env, &name).await;
    wait_nothing_left(&env, &cluster).await;
    run.stop().await;
}

#[tokio::test]
async fn a_host_without_an_ingress_controller_is_refused_until_it_has_one() {
    let env = kvm::env_without_ingress_class().await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "noing");
    let name = env.name("kvm");
    create(&env, &kvm_config(&name, &cluster, 107, &["m1"], &[], &[])).await;
    let refused = wait_reason(&env, &name, ADMITTED, check_reasons::NO_INGRESS_CONTROLLER).await;
    let message = &kvm::condition(Some(&refused), ADMITTED).unwrap().message;
    assert!(
        message.contains("IngressClass nginx") && message.contains("k8s.example.com"),
        "{message}"
    );
    assert!(
        leftovers(&env, &cluster).await.is_empty(),
        "nothing is made for it"
    );
    kvm::ingress_class(&env).await;
    // Looked at again within the conflict recheck (30 s).
    wait_reason(&env, &name, ADMITTED, check_reasons::NO_CONFLICT).await;
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

#[tokio::test]
async fn masters_and_the_storage_type_stay_as_created() {
    let env = kvm::env().await;
    let cluster = kvm::cluster_id(&env, "immut");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 108, &["m1", "m2", "m3"], &["w1"], &[]),
    )
    .await;
    let api = env.api::<KVMConfig>();
    let node = kvm::node;
    let refusals = [
        (
            json!({"spec": {"masters": [node("m1"), node("m2"), node("m4")]}}),
            "masters cannot be added, removed, renamed or reordered",
        ),
        (
            json!({"spec": {"masters": [node("m1")]}}),
            "masters cannot be added, removed, renamed or reordered",
        ),
        (
            json!({"spec": {"storageType": "HostPath"}}),
            "storageType is immutable",
        ),
    ];
    for (patch, expected) in refusals {
        let err = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err("refused at admission");
        let status = e2e::support::api_error(err);
        assert_eq!(status.code, 422, "{status:?}");
        assert!(status.message.contains(expected), "{}", status.message);
    }
    // A master's size may change (its VM is replaced), workers may come and go.
    let mut bigger = node("m2");
    bigger["cpus"] = json!(4);
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"masters": [node("m1"), bigger, node("m3")], "workers": []}}),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_vm_too_big_for_every_node_says_why_and_is_replaced_once_it_fits() {
    use kvm_operator::vms::{PROGRESSING, reasons as vm_reasons};
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "toobig");
    let name = env.name("kvm");
    // The simulated nodes have 256Gi each.
    let too_big = |id: &str| {
        let mut node = kvm::node(id);
        node["memory"] = json!("1Ti");
        node
    };
    let mut config = kvm_config(&name, &cluster, 109, &["m1"], &["w1", "w2"], &[]);
    config.spec.workers[1] = serde_json::from_value(too_big("w2")).unwrap();
    create(&env, &config).await;
    kvm::mark_ready::<FlannelConfig>(&env, &cluster).await;

    let waiting = wait_until_message(&env, &name, PROGRESSING, "worker-w2 (unschedulable: ").await;
    let message = &kvm::condition(Some(&waiting), PROGRESSING).unwrap().message;
    assert!(message.contains("Insufficient memory"), "{message}");
    assert!(!message.contains("m1 (unschedulable"), "{message}");
    assert!(!message.contains("w1 (unschedulable"), "{message}");
    assert!(!waiting.status.as_ref().unwrap().is_ready());
    wait_until_message(&env, &name, PROGRESSING, "waiting for VMs worker-w2 (").await;

    // w2 made to fit and w1 made too big: w2, down, goes first (held until
    // it was ready, it never would be); w1 only once w2 is up, so never
    // are two VMs down.
    let workers = json!({"spec": {"workers": [too_big("w1"), kvm::node("w2")]}});
    let api = env.api::<KVMConfig>();
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&workers))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + kvm::WAIT;
    loop {
        let up = vms_up(&env, &cluster).await;
        assert!(up.len() >= 2, "two of 3 VMs down at once: only {up:?} up");
        let message = kvm::condition(api.get(&name).await.ok().as_ref(), PROGRESSING)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        if message.contains("waiting for VMs worker-w1 (unschedulable: ") {
            assert_eq!(up, ["master-m1", "worker-w2"], "{message}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "w1 never replaced: {message}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Made to fit, w1's VM (down, never up) is replaced.
    kvm::set_workers(&env, &name, &["w1", "w2"]).await;
    let ready = wait_ready(&env, &name).await;
    assert_eq!(ready.status.as_ref().unwrap().ready_workers, Some(2));
    let progressing = kvm::condition(Some(&ready), PROGRESSING).unwrap();
    assert_eq!(progressing.reason, vm_reasons::COMPLETE);
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

/// The nodes of `cluster` whose VM pod is Ready (and not terminating).
async fn vms_up(env: &TestEnv, cluster: &str) -> Vec<String> {
    let pods = Api::<Pod>::namespaced(env.client(), cluster)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut up: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|p| format!("{}-{}", p.labels()[COMPONENT_LABEL], p.labels()[NODE_LABEL]))
        .collect();
    up.sort();
    up.dedup();
    up
}

/// The guest's admin kubeconfig from its Secret, as a file and as a client.
async fn guest_kubeconfig(env: &TestEnv, cluster: &str) -> (std::path::PathBuf, kube::Client) {
    let name = apiextensions::certificates::kubeconfig_secret_name(cluster);
    let secrets = env.api::<Secret>();
    let secret = wait_for(&secrets, &name, kvm::WAIT, |s| s.is_some())
        .await
        .unwrap()
        .unwrap();
    let text = secret.data.unwrap()[apiextensions::certificates::KUBECONFIG_KEY]
        .0
        .clone();
    let path = std::env::temp_dir().join(format!("{}.kubeconfig", env.name(cluster)));
    std::fs::write(&path, &text).unwrap();
    let file: kube::config::Kubeconfig = serde_yaml::from_slice(&text).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    (path, kube::Client::try_from(config).unwrap())
}

/// A guest pod `name` labelled `app: web` on guest node `node`, Ready.
async fn guest_pod(guest: &kube::Client, name: &str, node: &str) {
    let pods = Api::<Pod>::namespaced(guest.clone(), "default");
    let pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&Default::default(), &pod).await.unwrap();
    wait_for(&pods, name, kvm::WAIT, |p| {
        p.and_then(|p| p.status.as_ref()?.conditions.clone())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guest_api_answers_with_issued_certificates_and_a_removed_worker_is_drained_first() {
    use kvm_operator::vms::{GUEST_API, reasons as vm_reasons};
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    let _kvm = kvm::start(&env).await;
    let cluster = kvm::cluster_id(&env, "guest");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 107, &["m1"], &["w1", "w2"], &[]),
    )
    .await;
    kvm::mark_ready::<FlannelConfig>(&env, &cluster).await;
    // Until the guest answers, Ready waits for it; the published address
    // wakes the KVMConfig.
    wait_reason(&env, &name, GUEST_API, vm_reasons::ANSWERING).await;
    let ready = wait_ready(&env, &name).await;
    let answering = kvm::condition(Some(&ready), GUEST_API).unwrap();
    assert_eq!(
        (answering.status.as_str(), answering.reason.as_str()),
        ("True", vm_reasons::ANSWERING),
        "{}",
        answering.message
    );
    let status = ready.status.as_ref().unwrap();
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(1), Some(2))
    );

    // The admin kubeconfig reaches the guest with the issued certificates:
    // kubectl lists every node Ready (by its condition: the embedded
    // server's tables of built-in kinds have no STATUS column yet).
    let (path, guest) = guest_kubeconfig(&env, &cluster).await;
    let ready_column = r#"-o=jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    let out = std::process::Command::new(e2e::manifests::kubectl())
        .arg("--kubeconfig")
        .arg(&path)
        .args(["get", "nodes", ready_column])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut nodes: Vec<(&str, &str)> = listed
        .lines()
        .map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next().unwrap(), cols.next().unwrap())
        })
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [
            ("master-m1", "True"),
            ("worker-w1", "True"),
            ("worker-w2", "True")
        ],
        "{listed}"
    );
    // Without a client certificate the guest refuses (anonymous: 403).
    let file: kube::config::Kubeconfig =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut anonymous = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    anonymous.auth_info = Default::default();
    let refused =
        Api::<k8s_openapi::api::core::v1::Node>::all(kube::Client::try_from(anonymous).unwrap())
            .list(&ListParams::default())
            .await;
    assert!(
        matches!(refused, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{refused:?}"
    );

    // A pod on w2 that its budget keeps: removing w2 cordons it and waits.
    guest_pod(&guest, "a", "worker-w2").await;
    let budget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .unwrap();
    Api::<PodDisruptionBudget>::namespaced(guest.clone(), "default")
        .create(&Default::default(), &budget)
        .await
        .unwrap();
    let workers =
        json!({"spec": {"workers": [{"id": "w1", "cpus": 2, "memory": "4Gi", "disk": "20Gi"}]}});
    env.api::<KVMConfig>()
        .patch(&name, &PatchParams::default(), &Patch::Merge(workers))
        .await
        .unwrap();
    let draining = wait_reason(&env, &name, "Progressing", vm_reasons::DRAINING).await;
    let message = &kvm::condition(Some(&draining), "Progressing")
        .unwrap()
        .message;
    assert!(
        message.contains("default/a") && message.contains("disruption budget"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deployments = Api::<Deployment>::namespaced(env.client(), &cluster);
    assert!(
        deployments.get_opt("worker-w2").await.unwrap().is_some(),
        "the VM stays while its guest node is not drained"
    );
    let guest_nodes = Api::<k8s_openapi::api::core::v1::Node>::all(guest.clone());
    let w2 = guest_nodes.get("worker-w2").await.unwrap();
    assert_eq!(w2.spec.unwrap().unschedulable, Some(true), "cordoned");

    // Once another replica is Ready the budget allows the eviction: the pod
    // goes first, then the VM, then its guest node.
    guest_pod(&guest, "b", "worker-w1").await;
    wait_for(&deployments, "worker-w2", kvm::WAIT, |d| d.is_none())
        .await
        .unwrap();
    let guest_pods = Api::<Pod>::namespaced(guest.clone(), "default");
    assert!(
        guest_pods.get_opt("a").await.unwrap().is_none(),
        "evicted before the VM went"
    );
    assert!(guest_pods.get_opt("b").await.unwrap().is_some());
    wait_for(&guest_nodes, "worker-w2", kvm::WAIT, |n| n.is_none())
        .await
        .unwrap();
    let ready = wait_ready(&env, &name).await;
    assert_eq!(ready.status.unwrap().ready_workers, Some(1));
    let _ = std::fs::remove_file(&path);
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

/// When the first master VM (`master-m1`'s pod) of `cluster` became Ready.
async fn master_ready_since(env: &TestEnv, cluster: &str) -> jiff::Timestamp {
    let pods = Api::<Pod>::namespaced(env.client(), cluster)
        .list(&ListParams::default().labels(&format!("{COMPONENT_LABEL}=master")))
        .await
        .unwrap();
    let pod = pods.items.first().expect("the master VM's pod");
    let conditions = pod.status.as_ref().unwrap().conditions.as_ref().unwrap();
    let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");
    ready.last_transition_time.as_ref().unwrap().0
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_waits_for_a_silent_guest_api_then_falls_back_to_the_vm_pods() {
    use kvm_operator::vms::{GUEST_API, reasons as vm_reasons};
    let env = kvm::env().await;
    let _certs = kvm::start_cert_operator(&env).await;
    // An annotation nothing publishes: the guest's address stays unknown.
    let flags = kvm_operator::settings::parse(&[
        "kvm-operator",
        "--tolerate-taints=kwok.x-k8s.io/node",
        "--guest-api-address-annotation=test.operatorkit.dev/never-published",
        "--guest-api-wait=15s",
    ])
    .unwrap();
    let identity = kvm::service_account(&env).await;
    let _kvm = kvm::start_as(&env, &identity, flags, false).await;
    let cluster = kvm::cluster_id(&env, "silent");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 108, &["m1"], &["w1"], &[]),
    )
    .await;
    kvm::mark_ready::<FlannelConfig>(&env, &cluster).await;

    // Once the master VM is ready, the guest is awaited: no node counts
    // as ready and the cluster is not Ready.
    let awaited = wait_until_message(&env, &name, GUEST_API, "Ready waits for it up to 15s").await;
    assert!(!awaited.status.as_ref().unwrap().is_ready());
    assert_eq!(awaited.status.as_ref().unwrap().ready_masters, Some(0));

    // Then readiness falls back to the VM pods, no earlier than the wait.
    let ready = wait_ready(&env, &name).await;
    let guest_api = kvm::condition(Some(&ready), GUEST_API).unwrap();
    assert_eq!(
        (guest_api.status.as_str(), guest_api.reason.as_str()),
        ("False", vm_reasons::ADDRESS_UNKNOWN)
    );
    assert!(
        guest_api.message.contains("falls back to the VM pods"),
        "{}",
        guest_api.message
    );
    let status = ready.status.as_ref().unwrap();
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(1), Some(1))
    );
    let since = master_ready_since(&env, &cluster).await;
    let ready_at = kvm::condition(Some(&ready), "Ready")
        .unwrap()
        .last_transition_time
        .0;
    let waited = ready_at.duration_since(since);
    assert!(
        waited >= jiff::SignedDuration::from_secs(15),
        "Ready {waited:?} after the master VM, before --guest-api-wait=15s"
    );
    delete_and_check_nothing_left(&env, &name, &cluster).await;
}

/// Waits until `name`'s condition `type_` says `text` in its message.
async fn wait_until_message(env: &TestEnv, name: &str, type_: &str, text: &str) -> KVMConfig {
    kvm::wait_until(env, name, &format!("{type_} saying {text:?}"), |c| {
        kvm::condition(c, type_).is_some_and(|c| c.message.contains(text))
    })
    .await
    .unwrap()
}
