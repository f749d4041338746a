//! The simulated cluster (`operatorkit-simulation`) through
//! `operatorkit::testing`: workloads behave as kube-controller-manager,
//! kube-scheduler and kubelets make them behave, as operators see them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operatorkit::testing::{ServerConfig, SimulationOptions, TestEnv, simulation_keys, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// An environment (HTTPS, as kubectl expects) with `nodes` fake nodes named
/// `<prefix>-<i>`; the prefix.
async fn cluster(nodes: usize) -> (TestEnv, String) {
    let config = ServerConfig {
        tls: true,
        ..ServerConfig::default()
    };
    let env = TestEnv::start_with(config).await.unwrap();
    let prefix = env.name("node");
    env.simulate(SimulationOptions {
        nodes,
        node_prefix: prefix.clone(),
        ..SimulationOptions::default()
    })
    .await
    .unwrap();
    (env, prefix)
}

/// A pod template that runs on the fake nodes.
fn template(app: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [{"name": "main", "image": image}],
            "tolerations": [{"key": simulation_keys::KWOK_NODE, "operator": "Exists", "effect": "NoSchedule"}],
        },
    })
}

fn deployment(name: &str, replicas: i32, strategy: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": template(name, "nginx:1"),
        },
    }))
    .unwrap()
}

fn rolled_out(d: Option<&Deployment>, replicas: i32) -> bool {
    let Some(d) = d else { return false };
    let s = d.status.clone().unwrap_or_default();
    s.observed_generation == d.metadata.generation
        && s.updated_replicas == Some(replicas)
        && s.replicas == Some(replicas)
        && s.available_replicas == Some(replicas)
        && d.spec.as_ref().and_then(|s| s.replicas) == Some(replicas)
}

async fn app_pods(env: &TestEnv, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = env.api();
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_rolls_out_scales_and_kubectl_rollout_status_returns() {
    let (env, prefix) = cluster(3).await;
    let deployments: Api<Deployment> = env.api();
    let name = env.name("web");
    deployments
        .create(&PostParams::default(), &deployment(&name, 3, json!({})))
        .await
        .unwrap();
    let kubeconfig = env.kubeconfig_path().unwrap();
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
    let status = tokio::process::Command::new(kubectl)
        .env("KUBECONFIG", &kubeconfig)
        .args(["rollout", "status", "-n", env.namespace(), "--timeout=30s"])
        .arg(format!("deployment/{name}"))
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        out.contains(&format!("deployment \"{name}\" successfully rolled out")),
        "{out}"
    );

    // Every pod runs on a fake node, Ready, from one ReplicaSet.
    let pods = app_pods(&env, &name).await;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
        assert!(node.starts_with(&format!("{prefix}-")), "{node}");
        let status = pod.status.clone().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.is_some());
        let hash = &pod.metadata.labels.as_ref().unwrap()[simulation_keys::POD_TEMPLATE_HASH];
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.name, format!("{name}-{hash}"));
    }
    // Every fake node keeps its heartbeat Lease.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.client(), "kube-node-lease");
    for i in 0..3 {
        let node = format!("{prefix}-{i}");
        let lease = wait_for(&leases, &node, WAIT, |l| l.is_some())
            .await
            .unwrap()
            .unwrap();
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some(node.as_str()));
        assert!(spec.renew_time.is_some());
    }
    let d = deployments.get(&name).await.unwrap();
    let conditions = d.status.unwrap().conditions.unwrap();
    let progressing = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );

    // Scale up, then down.
    for replicas in [5, 1] {
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        deployments
            .patch(&name, &PatchParams::default(), &patch)
            .await
            .unwrap();
        wait_for(&deployments, &name, WAIT, |d| rolled_out(d, replicas))
            .await
            .unwrap();
    }
    // The pods scaled away terminate and are deleted by their kubelet.
    let deadline = tokio::time::Instant::now() + WAIT;
    while app_pods(&env, &name).await.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pods scaled away stayed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_update_keeps_availability_within_max_unavailable() {
    let (env, _) = cluster(3).await;
    let deployments: Api<Deployment> = env.api();
    let name = env.name("roll");
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    deployments
        .create(&PostParams::default(), &deployment(&name, 4, strategy))
        .await
        .unwrap();
    wait_for(&deployments, &name, WAIT, |d| rolled_out(d, 4))
        .await
        .unwrap();
    let patch = Patch::Merge(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}}),
    );
    deployments
        .patch(&name, &PatchParams::default(), &patch)
        .await
        .unwrap();
    // Sample the pods until the rollout is done: never fewer than 4 available,
    // never more than 5 at once.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut most = 0;
    loop {
        let pods = app_pods(&env, &name).await;
        let live: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let ready = live
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        assert!(
            ready >= 4,
            "only {ready} of 4 pods available during the rollout"
        );
        most = most.max(live.len());
        assert!(
            live.len() <= 5,
            "{} pods at once with maxSurge 1",
            live.len()
        );
        let d = deployments.get(&name).await.unwrap();
        let images: Vec<String> = live
            .iter()
            .map(|p| {
                p.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect();
        if rolled_out(Some(&d), 4) && images.iter().all(|i| i == "nginx:2") && live.len() == 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rollout did not finish: {images:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(most, 5, "the rollout surged one pod");
    let d = deployments.get(&name).await.unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()[simulation_keys::REVISION],
        "2"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_set_covers_every_eligible_node_and_follows_a_node_taken_not_ready() {
    let (env, prefix) = cluster(3).await;
    let nodes: Api<Node> = Api::all(env.client());
    let ours: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    assert_eq!(ours.len(), 3, "{ours:?}");
    // One node is not eligible: the DaemonSet selects nodes labelled `pool=a`.
    for node in &ours[..2] {
        let patch = Patch::Merge(json!({"metadata": {"labels": {"pool": "a"}}}));
        nodes
            .patch(node, &PatchParams::default(), &patch)
            .await
            .unwrap();
    }
    let daemon_sets: Api<DaemonSet> = env.api();
    let name = env.name("agent");
    let mut tpl = template(&name, "agent:1");
    tpl["spec"]["nodeSelector"] = json!({"pool": "a"});
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": tpl},
    }))
    .unwrap();
    daemon_sets
        .create(&PostParams::default(), &ds)
        .await
        .unwrap();
    // (desired, current, misscheduled, ready) as kube's DaemonSet controller counts.
    let settled = |want: (i32, i32, i32, i32)| {
        move |d: Option<&DaemonSet>| {
            d.and_then(|d| d.status.clone()).is_some_and(|s| {
                (
                    s.desired_number_scheduled,
                    s.current_number_scheduled,
                    s.number_misscheduled,
                    s.number_ready,
                ) == want
            })
        }
    };
    wait_for(&daemon_sets, &name, WAIT, settled((2, 2, 0, 2)))
        .await
        .unwrap();
    let on: Vec<String> = app_pods(&env, &name)
        .await
        .iter()
        .map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap())
        .collect();
    let mut sorted = on.clone();
    sorted.sort();
    assert_eq!(sorted, ours[..2].to_vec());

    // A node taken NotReady: its pod loses readiness; the node's unreachable
    // NoSchedule taint takes it out of the desired count while the pod,
    // tolerating the NoExecute one, stays (misscheduled), as kube counts it.
    let down = Patch::Merge(
        json!({"metadata": {"annotations": {simulation_keys::NODE_NOT_READY: "true"}}}),
    );
    nodes
        .patch(&ours[0], &PatchParams::default(), &down)
        .await
        .unwrap();
    wait_for(&daemon_sets, &name, WAIT, settled((1, 1, 1, 1)))
        .await
        .unwrap();
    let stayed = app_pods(&env, &name).await;
    assert_eq!(stayed.len(), 2, "the down node's pod stays");
    let node = nodes.get(&ours[0]).await.unwrap();
    let taints = node.spec.unwrap().taints.unwrap();
    assert!(
        taints
            .iter()
            .any(|t| t.key == simulation_keys::TAINT_UNREACHABLE && t.effect == "NoExecute")
    );
    // Back.
    let up =
        Patch::Merge(json!({"metadata": {"annotations": {simulation_keys::NODE_NOT_READY: null}}}));
    nodes
        .patch(&ours[0], &PatchParams::default(), &up)
        .await
        .unwrap();
    wait_for(&daemon_sets, &name, WAIT, settled((2, 2, 0, 2)))
        .await
        .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_with_a_finalizer_and_a_grace_period_terminates_when_both_clear() {
    let (env, _) = cluster(1).await;
    let pods: Api<Pod> = env.api();
    let name = env.name("slow");
    let mut pod = template(&name, "app:1");
    pod["metadata"]["name"] = name.clone().into();
    pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
    pod["metadata"]["annotations"] = json!({simulation_keys::POD_STOP_SECONDS: "3"});
    pod["spec"]["terminationGracePeriodSeconds"] = 20.into();
    let pod: Pod = serde_json::from_value(pod).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, &name, WAIT, |p| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Running")
    })
    .await
    .unwrap();
    pods.delete(&name, &DeleteParams::default()).await.unwrap();
    // The kubelet stops it (3 s), confirms with a zero grace period; the
    // finalizer still holds it.
    let confirmed = wait_for(&pods, &name, WAIT, |p| {
        p.is_some_and(|p| p.metadata.deletion_grace_period_seconds == Some(0))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(confirmed.metadata.deletion_timestamp.is_some());
    let unhold = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    pods.patch(&name, &PatchParams::default(), &unhold)
        .await
        .unwrap();
    wait_for(&pods, &name, WAIT, |p| p.is_none()).await.unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_pod_shows_in_the_deployments_status() {
    let (env, _) = cluster(1).await;
    let deployments: Api<Deployment> = env.api();
    let name = env.name("crash");
    let mut d = deployment(&name, 1, json!({}));
    let annotations = [(simulation_keys::POD_FAIL.to_owned(), "crash".to_owned())];
    d.spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .annotations = Some(annotations.into());
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let d = wait_for(&deployments, &name, WAIT, |d| {
        d.and_then(|d| d.status.clone()).is_some_and(|s| {
            s.unavailable_replicas == Some(1)
                && s.conditions.iter().flatten().any(|c| {
                    c.type_ == "Available"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("MinimumReplicasUnavailable")
                })
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(d.status.unwrap().available_replicas, None);
    // The kubelet starts the pod; its container crashes, again and again.
    let crashing = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .as_deref()
            == Some("CrashLoopBackOff")
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let pod = loop {
        if let Some(pod) = app_pods(&env, &name)
            .await
            .into_iter()
            .find(|p| crashing(p))
        {
            break pod;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pod crash-looped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let container = &pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert!(!container.ready);
    let last = container
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let status = deployments.get(&name).await.unwrap().status.unwrap();
    assert_eq!(status.ready_replicas, None, "{status:?}");
    assert_eq!(status.unavailable_replicas, Some(1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stateful_set_makes_ordered_pods_with_their_claims_bound() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let (env, _) = cluster(2).await;
    let sets: Api<StatefulSet> = env.api();
    let name = env.name("db");
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template(&name, "db:1"),
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }],
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &set).await.unwrap();
    wait_for(&sets, &name, WAIT, |s| {
        s.and_then(|s| s.status.clone())
            .is_some_and(|s| s.ready_replicas == Some(3) && s.updated_replicas == Some(3))
    })
    .await
    .unwrap();
    // Ordered names, started in order (each after the one before was Ready).
    let mut pods = app_pods(&env, &name).await;
    pods.sort_by_key(|p| p.metadata.name.clone());
    let names: Vec<String> = pods
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, [0, 1, 2].map(|i| format!("{name}-{i}")));
    let started: Vec<i64> = pods
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .unwrap()
                .start_time
                .as_ref()
                .unwrap()
                .0
                .as_second()
        })
        .collect();
    assert!(started.windows(2).all(|w| w[0] < w[1]), "{started:?}");
    for (i, pod) in pods.iter().enumerate() {
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(
            spec.hostname.as_deref(),
            Some(format!("{name}-{i}").as_str())
        );
        assert_eq!(spec.subdomain.as_deref(), Some(name.as_str()));
        let volume = &spec.volumes.as_ref().unwrap()[0];
        let claim = volume.persistent_volume_claim.as_ref().unwrap();
        assert_eq!(claim.claim_name, format!("data-{name}-{i}"));
    }
    // Each claim is bound to a volume provisioned for it.
    let claims: Api<PersistentVolumeClaim> = env.api();
    for i in 0..3 {
        let claim = wait_for(&claims, &format!("data-{name}-{i}"), WAIT, |c| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Bound")
        })
        .await
        .unwrap()
        .unwrap();
        let volume = claim.spec.unwrap().volume_name.unwrap();
        let pv = Api::<PersistentVolume>::all(env.client())
            .get(&volume)
            .await
            .unwrap();
        assert_eq!(pv.status.unwrap().phase.as_deref(), Some("Bound"));
        assert_eq!(pv.spec.unwrap().claim_ref.unwrap().uid, claim.metadata.uid);
    }
    // Scaled down: the highest ordinal goes, its claim stays.
    let patch = Patch::Merge(json!({"spec": {"replicas": 2}}));
    sets.patch(&name, &PatchParams::default(), &patch)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while app_pods(&env, &name).await.len() != 2 {
        assert!(tokio::time::Instant::now() < deadline, "pod 2 stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<String> = app_pods(&env, &name)
        .await
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert!(!left.contains(&format!("{name}-2")), "{left:?}");
    assert!(
        claims
            .get_opt(&format!("data-{name}-2"))
            .await
            .unwrap()
            .is_some()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_completes() {
    use k8s_openapi::api::batch::v1::Job;
    let (env, _) = cluster(2).await;
    let jobs: Api<Job> = env.api();
    let name = env.name("batch");
    let mut tpl = template(&name, "worker:1");
    tpl["spec"]["restartPolicy"] = "Never".into();
    tpl["metadata"]["annotations"] = json!({simulation_keys::POD_RUN_SECONDS: "1"});
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"completions": 3, "parallelism": 2, "template": tpl},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let done = wait_for(&jobs, &name, WAIT, |j| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            })
    })
    .await
    .unwrap()
    .unwrap();
    let status = done.status.unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert!(status.completion_time.is_some() && status.start_time.is_some());
    let pods: Api<Pod> = env.api();
    let run = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .unwrap()
        .items;
    assert_eq!(run.len(), 3);
    assert!(
        run.iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Succeeded"))
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_slices_follow_readiness() {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let (env, _) = cluster(2).await;
    let name = env.name("api");
    let services: Api<Service> = env.api();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"name": "https", "port": 443, "targetPort": "https"}]},
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let mut d = deployment(&name, 2, json!({}));
    let container = &mut d
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    container.ports = Some(vec![
        serde_json::from_value(json!({"name": "https", "containerPort": 6443})).unwrap(),
    ]);
    let deployments: Api<Deployment> = env.api();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let slices: Api<EndpointSlice> = env.api();
    let ready_in = |want: usize| {
        let slices = slices.clone();
        let name = name.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let lp =
                    ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
                let items = slices.list(&lp).await.unwrap().items;
                let ready = items
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .count();
                if ready == want {
                    return items;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{ready} ready endpoints, not {want}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let items = ready_in(2).await;
    assert_eq!(items.len(), 1);
    let ports = items[0].ports.clone().unwrap();
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].port),
        (Some("https"), Some(6443))
    );
    // The legacy Endpoints are written apart from the slice (as by
    // kube-controller-manager's two controllers): no order between them.
    let endpoints: Api<Endpoints> = env.api();
    let addresses = |e: Option<&Endpoints>| {
        e.and_then(|e| e.subsets.as_ref())
            .and_then(|s| s.first())
            .and_then(|s| s.addresses.as_ref())
            .map_or(0, Vec::len)
    };
    wait_for(&endpoints, &name, WAIT, |e| addresses(e) == 2)
        .await
        .unwrap();
    // A pod relabelled out of the Service (and its ReplicaSet): released,
    // replaced, and no longer an endpoint.
    let quarantined = app_pods(&env, &name).await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let pods: Api<Pod> = env.api();
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"app": "quarantine"}}}));
    pods.patch(&quarantined, &PatchParams::default(), &relabel)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        let listed: Vec<String> = slices
            .list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .filter_map(|e| e.target_ref.as_ref()?.name.clone())
            .collect();
        if listed.len() == 2 && !listed.contains(&quarantined) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "endpoints {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let released = pods.get(&quarantined).await.unwrap();
    assert!(
        released
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    // Scaled to one: one endpoint left.
    let patch = Patch::Merge(json!({"spec": {"replicas": 1}}));
    deployments
        .patch(&name, &PatchParams::default(), &patch)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        let items = slices.list(&lp).await.unwrap().items;
        if items.iter().map(|s| s.endpoints.len()).sum::<usize>() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the removed pod stayed an endpoint"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduling_follows_requests_and_readiness_follows_its_gates() {
    let (env, _) = cluster(2).await;
    let pods: Api<Pod> = env.api();
    // More CPU than any node has: unschedulable, in kube-scheduler's words.
    let big = env.name("big");
    let mut pod = template(&big, "big:1");
    pod["metadata"]["name"] = big.clone().into();
    pod["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "64"}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let pending = wait_for(&pods, &big, WAIT, |p| {
        p.is_some_and(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
        })
    })
    .await
    .unwrap()
    .unwrap();
    let condition = pending.status.unwrap().conditions.unwrap();
    let message = condition[0].message.clone().unwrap();
    assert_eq!(message, "0/2 nodes are available: 2 Insufficient cpu.");
    assert!(pending.spec.unwrap().node_name.is_none());

    // A readiness gate: Running, not Ready until the gate's condition is True.
    let gated = env.name("gated");
    let mut pod = template(&gated, "app:1");
    pod["metadata"]["name"] = gated.clone().into();
    pod["spec"]["readinessGates"] = json!([{"conditionType": "example.com/attached"}]);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let condition = |p: Option<&Pod>, type_: &str| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
            .map(|c| c.status.clone())
    };
    let running = wait_for(&pods, &gated, WAIT, |p| {
        condition(p, "ContainersReady").as_deref() == Some("True")
    })
    .await
    .unwrap();
    assert_eq!(
        condition(running.as_ref(), "Ready").as_deref(),
        Some("False")
    );
    let mut conditions = running.unwrap().status.unwrap().conditions.unwrap();
    conditions.push(
        serde_json::from_value(json!({"type": "example.com/attached", "status": "True"})).unwrap(),
    );
    let patch = Patch::Merge(json!({"status": {"conditions": conditions}}));
    pods.patch_status(&gated, &PatchParams::default(), &patch)
        .await
        .unwrap();
    wait_for(&pods, &gated, WAIT, |p| {
        condition(p, "Ready").as_deref() == Some("True")
    })
    .await
    .unwrap();
    env.stop().await;
}
