//! flannel-operator against the embedded API server with the simulated
//! cluster (three nodes) and a real etcd per test, running as its own
//! ServiceAccount under the roles of `manifests/flannel-operator/`: the
//! network config in etcd byte for byte as flannel documents it, the claims,
//! the flanneld DaemonSet, drift put back, conflicts refused (also when two
//! operators race), deletion in order, and etcd outages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use apiextensions::FlannelConfig;
use e2e::etcd::Etcd;
use e2e::flannel::{
    self, CLAIMS, PREFIX, VERSION, WAIT, client, config_key, create, flannel_config, get, keys,
    start_as, wait_ready, wait_reason,
};
use flannel_operator::overlay::{
    DAEMONSET_READY, NETWORK_CONFIGURED, WAITING_FOR_GUEST_PODS, reasons,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use operatorkit::status::READY;
use operatorkit::testing::{TestEnv, wait_for, wait_for_event};
use serde_json::json;

/// Deletes every FlannelConfig of the environment, waits until they are
/// gone (their networks cleaned up), and stops everything.
async fn finish(env: TestEnv, runs: Vec<flannel::Running>) {
    let api = env.api::<FlannelConfig>();
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    // Many at once (the racing pairs): more than one WAIT.
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let left = api.list(&ListParams::default()).await.unwrap().items;
        if left.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let waiting: Vec<String> = left
                .iter()
                .map(|c| {
                    let ready = flannel::condition(Some(c), READY);
                    format!(
                        "{}: {:?}",
                        c.name_any(),
                        ready.map(|r| (&r.reason, &r.message))
                    )
                })
                .collect();
            panic!("FlannelConfigs were not cleaned up: {waiting:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for r in runs {
        r.run.stop().await;
    }
    env.stop().await;
}

fn flanneld(env: &TestEnv, cluster: &str) -> Api<DaemonSet> {
    Api::namespaced(
        env.client(),
        &flannel_operator::network::namespace_name(cluster),
    )
}

/// Warning Events with `reason` about `name`.
async fn events(env: &TestEnv, name: &str, reason: &str) -> usize {
    let list = env
        .api::<Event>()
        .list(&ListParams::default().fields(&format!("regarding.name={name}")))
        .await
        .unwrap();
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count as usize))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flannelconfig_gets_flannels_config_in_etcd_and_flanneld_on_every_node() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (cluster, name) = flannel::created(&env, "a", "10.1.0.0/16", 7).await;
    let ready = wait_ready(&env, &name).await;

    let mut etcdctl = client(&etcd).await;
    let (value, _) = get(&mut etcdctl, &config_key(&cluster)).await.unwrap();
    assert_eq!(
        value,
        r#"{"Network":"10.1.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":7}}"#
    );
    let holder = format!(
        r#"{{"clusterID":"{cluster}","flannelConfig":"{}/{name}"}}"#,
        env.namespace()
    );
    for key in [
        format!("{CLAIMS}/vni/7"),
        format!("{CLAIMS}/network/10.1.0.0-16"),
        format!("{CLAIMS}/bridge/br-{cluster}"),
    ] {
        assert_eq!(
            get(&mut etcdctl, &key).await.map(|v| v.0),
            Some(holder.clone()),
            "{key}"
        );
    }
    let status = ready.status.as_ref().unwrap();
    let configured = flannel::condition(Some(&ready), NETWORK_CONFIGURED).unwrap();
    assert_eq!(configured.status, "True");
    assert!(
        configured.message.contains(&config_key(&cluster)),
        "{}",
        configured.message
    );
    let ds_ready = flannel::condition(Some(&ready), DAEMONSET_READY).unwrap();
    assert_eq!(
        (ds_ready.status.as_str(), ds_ready.message.as_str()),
        ("True", "flanneld ready on 3 of 3 nodes")
    );
    assert_eq!(status.observed_generation, Some(1));

    // The namespace, labelled with the cluster; the ServiceAccount; flanneld.
    let ns_name = flannel_operator::network::namespace_name(&cluster);
    let ns = Api::<Namespace>::all(env.client())
        .get(&ns_name)
        .await
        .unwrap();
    assert_eq!(ns.labels().get("operatorkit.dev/cluster"), Some(&cluster));
    let sa = Api::<ServiceAccount>::namespaced(env.client(), &ns_name)
        .get("flannel")
        .await
        .unwrap();
    assert_eq!(sa.automount_service_account_token, Some(false));
    let ds = flanneld(&env, &cluster).get("flanneld").await.unwrap();
    let pod = ds.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.host_network, Some(true));
    let args = pod.containers[0].args.clone().unwrap();
    assert!(
        args.contains(&format!("--etcd-endpoints={}", etcd.endpoint())),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--etcd-prefix={PREFIX}/{cluster}")),
        "{args:?}"
    );
    assert!(args.contains(&"--iface=eth0".to_owned()), "{args:?}");
    assert_eq!(ds.status.unwrap().number_ready, 3);
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_etcd_and_in_the_daemonset_is_put_back_and_a_steady_state_writes_nothing() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (cluster, name) = flannel::created(&env, "d", "10.2.0.0/16", 8).await;
    wait_ready(&env, &name).await;
    let key = config_key(&cluster);
    let mut etcdctl = client(&etcd).await;
    let (expected, revision) = get(&mut etcdctl, &key).await.unwrap();

    // Steady: three rechecks (one a second) read, and write nothing.
    let before = etcd.metrics().await.unwrap();
    let api_writes = running.run.requests().writes();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spent = etcd.metrics().await.unwrap().since(&before);
    assert_eq!(spent.writes, 0.0, "{spent:?}");
    assert!(
        spent.kv_requests() >= 2.0,
        "the rechecks read etcd: {spent:?}"
    );
    assert_eq!(
        running.run.requests().writes(),
        api_writes,
        "API writes in a steady state"
    );
    assert_eq!(get(&mut etcdctl, &key).await.unwrap().1, revision);

    // A value changed by hand is put back, with a Warning Event.
    etcdctl
        .put(key.as_str(), r#"{"Network":"10.99.0.0/16"}"#, None)
        .await
        .unwrap();
    wait_for_event(&env.api::<Event>(), &name, reasons::CONFIG_RESTORED, WAIT)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while get(&mut etcdctl, &key).await.map(|v| v.0) != Some(expected.clone()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the config was not put back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // So is a deleted one.
    etcdctl.delete(key.as_str(), None).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while get(&mut etcdctl, &key).await.map(|v| v.0) != Some(expected.clone()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deleted config was not put back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An equal value (other spacing and key order) is left as it is.
    let equal =
        r#"{ "SubnetLen": 24, "Network": "10.2.0.0/16", "Backend": {"VNI": 8, "Type": "vxlan"} }"#;
    etcdctl.put(key.as_str(), equal, None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        get(&mut etcdctl, &key).await.map(|v| v.0).as_deref(),
        Some(equal)
    );

    // A hand edit of the DaemonSet is reverted.
    let daemonsets = flanneld(&env, &cluster);
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "flanneld", "image": "example/evil:1"}]}}}});
    daemonsets
        .patch(
            "flanneld",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap();
    wait_for(&daemonsets, "flanneld", WAIT, |d: Option<&DaemonSet>| {
        d.and_then(|d| d.spec.as_ref())
            .and_then(|s| s.template.spec.as_ref())
            .is_some_and(|p| {
                p.containers[0].image.as_deref() == Some("ghcr.io/flannel-io/flannel:v0.26.7")
            })
    })
    .await
    .unwrap();
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vni_and_network_conflicts_are_refused_and_served_once_the_holder_is_gone() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (a, b, c) = (
        flannel::cluster_id(&env, "a"),
        flannel::cluster_id(&env, "b"),
        flannel::cluster_id(&env, "c"),
    );
    let (na, nb, nc) = (env.name("a"), env.name("b"), env.name("c"));
    create(&env, &flannel_config(&na, &a, "10.10.0.0/16", 100, VERSION)).await;
    wait_reason(&env, &na, NETWORK_CONFIGURED, reasons::CONFIGURED).await;
    // The same VNI; a network inside a's.
    create(&env, &flannel_config(&nb, &b, "10.20.0.0/16", 100, VERSION)).await;
    create(
        &env,
        &flannel_config(&nc, &c, "10.10.128.0/17", 101, VERSION),
    )
    .await;
    let lost_b = wait_reason(&env, &nb, READY, reasons::NETWORK_CONFLICT).await;
    let lost_c = wait_reason(&env, &nc, READY, reasons::NETWORK_CONFLICT).await;
    let message = |o: &FlannelConfig| {
        flannel::condition(Some(o), NETWORK_CONFIGURED)
            .unwrap()
            .message
            .clone()
    };
    assert_eq!(
        message(&lost_b),
        format!(
            "VNI 100 is held by guest cluster {a} (FlannelConfig {}/{na})",
            env.namespace()
        )
    );
    assert_eq!(
        message(&lost_c),
        format!(
            "network 10.10.128.0/17 overlaps 10.10.0.0/16 of guest cluster {a} (FlannelConfig {}/{na})",
            env.namespace()
        )
    );
    // Rechecked every second, reported once, nothing written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(events(&env, &nb, reasons::NETWORK_CONFLICT).await, 1);
    assert_eq!(events(&env, &nc, reasons::NETWORK_CONFLICT).await, 1);
    let mut etcdctl = client(&etcd).await;
    for loser in [&b, &c] {
        assert_eq!(get(&mut etcdctl, &config_key(loser)).await, None);
        let ns = flannel_operator::network::namespace_name(loser);
        assert!(
            Api::<Namespace>::all(env.client())
                .get_opt(&ns)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(keys(&mut etcdctl, CLAIMS).await.len(), 3);

    // The holder goes: both are served.
    env.api::<FlannelConfig>()
        .delete(&na, &DeleteParams::default())
        .await
        .unwrap();
    wait_ready(&env, &nb).await;
    wait_ready(&env, &nc).await;
    assert!(get(&mut etcdctl, &config_key(&a)).await.is_none());
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_racing_pairs_across_two_operator_versions_have_exactly_one_winner_each() {
    const PAIRS: i32 = 20;
    let etcd = Etcd::start().await.unwrap();
    let env = flannel::env().await;
    let identity = flannel::service_account(&env, "flannel-operator").await;
    let one = start_as(&env, &identity, VERSION, flannel::args(&etcd), false).await;
    let two = start_as(&env, &identity, "0.2.0", flannel::args(&etcd), false).await;
    let mut configs = Vec::new();
    for i in 0..PAIRS {
        // Even pairs share a VNI, odd pairs overlapping networks.
        let (vni_a, vni_b) = if i % 2 == 0 {
            (200 + i, 200 + i)
        } else {
            (300 + i, 400 + i)
        };
        let (net_a, net_b) = if i % 2 == 0 {
            (format!("10.{i}.0.0/16"), format!("10.{}.0.0/16", 100 + i))
        } else {
            (format!("10.{i}.0.0/16"), format!("10.{i}.64.0/18"))
        };
        configs.push(flannel_config(
            &env.name("x"),
            &flannel::cluster_id(&env, "x"),
            &net_a,
            vni_a,
            VERSION,
        ));
        configs.push(flannel_config(
            &env.name("y"),
            &flannel::cluster_id(&env, "y"),
            &net_b,
            vni_b,
            "0.2.0",
        ));
    }
    let api = env.api::<FlannelConfig>();
    futures::future::join_all(configs.iter().map(|c| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), c).await.unwrap() }
    }))
    .await;
    let settled = |c: &FlannelConfig| {
        let r = flannel::condition(Some(c), NETWORK_CONFIGURED).map(|c| c.reason.clone());
        matches!(
            r.as_deref(),
            Some(reasons::CONFIGURED | reasons::NETWORK_CONFLICT)
        )
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let outcome: BTreeMap<String, String> = loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        if list.len() == configs.len() && list.iter().all(settled) {
            break list
                .iter()
                .map(|c| {
                    (
                        c.name_any(),
                        flannel::condition(Some(c), NETWORK_CONFIGURED)
                            .unwrap()
                            .reason
                            .clone(),
                    )
                })
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pairs did not settle"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for pair in configs.chunks(2) {
        let won: Vec<&str> = pair
            .iter()
            .filter(|c| outcome[&c.name_any()] == reasons::CONFIGURED)
            .map(|c| c.spec.cluster_id.as_str())
            .collect();
        assert_eq!(
            won.len(),
            1,
            "pair {} / {}: {outcome:?}",
            pair[0].name_any(),
            pair[1].name_any()
        );
    }
    let mut etcdctl = client(&etcd).await;
    assert_eq!(keys(&mut etcdctl, CLAIMS).await.len(), 3 * PAIRS as usize);
    let configs_in_etcd = keys(&mut etcdctl, PREFIX).await;
    assert_eq!(configs_in_etcd.len(), PAIRS as usize, "{configs_in_etcd:?}");
    finish(env, vec![one, two]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_waits_for_guest_pods_cleans_the_nodes_and_leaves_nothing_behind() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (cluster, name) = flannel::created(&env, "g", "10.3.0.0/16", 9).await;
    wait_ready(&env, &name).await;
    // A subnet lease, as flanneld takes one.
    let mut etcdctl = client(&etcd).await;
    let lease = format!("{PREFIX}/{cluster}/subnets/10.3.5.0-24");
    etcdctl
        .put(lease.as_str(), r#"{"PublicIP":"10.0.0.1"}"#, None)
        .await
        .unwrap();

    // A VM of the guest cluster, which takes 3 s to stop.
    let deployments: Api<Deployment> = env.api();
    let vm = env.name("vm");
    e2e::support::guest_vm(&env, &vm, &cluster).await;

    // Deleted while the VM runs: everything stays, and the status says why.
    let api = env.api::<FlannelConfig>();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    let waiting = wait_for(&api, &name, WAIT, |c| {
        flannel::condition(c, WAITING_FOR_GUEST_PODS).is_some_and(|c| c.status == "True")
    })
    .await
    .unwrap()
    .unwrap();
    let message = &flannel::condition(Some(&waiting), WAITING_FOR_GUEST_PODS)
        .unwrap()
        .message;
    assert!(
        message.starts_with(&format!("1 pods of guest cluster {cluster} still exist")),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(get(&mut etcdctl, &config_key(&cluster)).await.is_some());
    assert!(
        flanneld(&env, &cluster)
            .get_opt("flanneld")
            .await
            .unwrap()
            .is_some()
    );

    // The VM goes: flanneld stops, the cleanup runs on the nodes, then
    // the namespace and the keys go, then the FlannelConfig.
    let cleanup_seen = Arc::new(AtomicBool::new(false));
    let watcher = {
        let seen = cleanup_seen.clone();
        let daemonsets = flanneld(&env, &cluster);
        tokio::spawn(async move {
            loop {
                if let Ok(Some(ds)) = daemonsets.get_opt("flannel-cleanup").await
                    && ds.status.is_some_and(|s| s.desired_number_scheduled == 3)
                {
                    seen.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    deployments
        .delete(&vm, &DeleteParams::default())
        .await
        .unwrap();
    flannel::wait_gone(&env, &name).await;
    watcher.abort();
    assert!(
        cleanup_seen.load(Ordering::SeqCst),
        "the cleanup DaemonSet never ran on the 3 nodes"
    );
    let ns = flannel_operator::network::namespace_name(&cluster);
    assert!(
        Api::<Namespace>::all(env.client())
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        keys(&mut etcdctl, &format!("{PREFIX}/{cluster}/")).await,
        Vec::<String>::new()
    );
    assert_eq!(keys(&mut etcdctl, CLAIMS).await, Vec::<String>::new());
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_etcd_outage_is_reported_and_everything_converges_when_etcd_is_back() {
    let (mut etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (first, second) = (
        flannel::cluster_id(&env, "o"),
        flannel::cluster_id(&env, "p"),
    );
    let (n1, n2) = (env.name("one"), env.name("two"));
    create(
        &env,
        &flannel_config(&n1, &first, "10.4.0.0/16", 10, VERSION),
    )
    .await;
    wait_ready(&env, &n1).await;

    etcd.stop().await;
    let down = wait_reason(&env, &n1, READY, reasons::ETCD_UNAVAILABLE).await;
    assert_eq!(
        flannel::condition(Some(&down), NETWORK_CONFIGURED)
            .unwrap()
            .reason,
        reasons::ETCD_UNAVAILABLE
    );
    // A new one while etcd is down: reported, nothing made on the hosts.
    create(
        &env,
        &flannel_config(&n2, &second, "10.5.0.0/16", 11, VERSION),
    )
    .await;
    wait_reason(&env, &n2, READY, reasons::ETCD_UNAVAILABLE).await;
    assert!(running.etcd.requests("txn", "error") > 0);

    // etcd is back, the operator was never restarted.
    etcd.restart().await.unwrap();
    wait_ready(&env, &n1).await;
    wait_ready(&env, &n2).await;
    let mut etcdctl = client(&etcd).await;
    assert!(get(&mut etcdctl, &config_key(&second)).await.is_some());
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn etcd_with_client_certificates() {
    let (etcd, env, running) = flannel::started(Etcd::start_tls().await.unwrap()).await;
    let (cluster, name) = flannel::created(&env, "t", "10.6.0.0/16", 12).await;
    wait_ready(&env, &name).await;
    let mut etcdctl = client(&etcd).await;
    assert!(get(&mut etcdctl, &config_key(&cluster)).await.is_some());
    // flanneld gets the TLS files from the hosts.
    let ds = flanneld(&env, &cluster).get("flanneld").await.unwrap();
    let pod = ds.spec.unwrap().template.spec.unwrap();
    let args = pod.containers[0].args.clone().unwrap();
    assert!(
        args.contains(&"--etcd-cafile=/etc/kubernetes/ssl/etcd/ca.crt".to_owned()),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.starts_with("--etcd-endpoints=https://")),
        "{args:?}"
    );
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_with_host_bits_is_refused_with_the_fix() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (_, name) = flannel::created(&env, "i", "10.7.1.0/16", 13).await;
    let refused = wait_reason(&env, &name, READY, reasons::INVALID_SPEC).await;
    let message = &flannel::condition(Some(&refused), NETWORK_CONFIGURED)
        .unwrap()
        .message;
    assert!(message.contains("did you mean 10.7.0.0/16?"), "{message}");
    let mut etcdctl = client(&etcd).await;
    assert_eq!(keys(&mut etcdctl, "/").await, Vec::<String>::new());
    finish(env, vec![running]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_cut_short_by_a_crash_resumes_where_it_stopped() {
    let (etcd, env, running) = flannel::started(Etcd::start().await.unwrap()).await;
    let (cluster, name) = flannel::created(&env, "k", "10.9.0.0/16", 15).await;
    wait_ready(&env, &name).await;
    let api = env.api::<FlannelConfig>();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    // Killed once flanneld is deleted, before the cleanup and the rest.
    wait_for(
        &flanneld(&env, &cluster),
        "flanneld",
        WAIT,
        |d: Option<&DaemonSet>| d.is_none(),
    )
    .await
    .unwrap();
    running.run.kill();
    let ns = flannel_operator::network::namespace_name(&cluster);
    let namespaces = Api::<Namespace>::all(env.client());
    assert!(
        namespaces.get_opt(&ns).await.unwrap().is_some(),
        "killed too late to test anything"
    );

    let again = flannel::start(&env, &etcd).await;
    flannel::wait_gone(&env, &name).await;
    assert!(namespaces.get_opt(&ns).await.unwrap().is_none());
    let mut etcdctl = client(&etcd).await;
    assert_eq!(keys(&mut etcdctl, "/").await, Vec::<String>::new());
    finish(env, vec![again]).await;
}
