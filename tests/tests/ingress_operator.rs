//! ingress-operator against the API server, as its ServiceAccount under the
//! roles of `manifests/ingress-operator/`: the exact entries and ports it
//! writes on create, update and delete, what it leaves alone, conflicts,
//! races, missing and full host objects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use apiextensions::IngressConfig;
use apiextensions::core::ingress_config::Protocol::{Tcp, Udp};
use e2e::ingress::{
    HAND_MADE, SERVICE, TCP, UDP, VERSION, WAIT, chart_ports, condition, controller_objects,
    create, created, entries, env, ingress_config, port, service_ports, start, started,
    wait_settled,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operatorkit::testing::{wait_for, wait_for_event};
use serde_json::json;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_update_and_delete_write_exactly_this_clusters_entries_and_ports() {
    let (env, run) = started().await;
    let api = env.api::<IngressConfig>();
    // Another cluster is there first and stays throughout.
    created(&env, "other", "xyz89", &[(32000, 30010, Tcp)], "Mapped").await;

    let ready = created(
        &env,
        "abc12",
        "abc12",
        &[(31000, 30010, Tcp), (31001, 30011, Udp)],
        "Mapped",
    )
    .await;
    assert_eq!(
        entries(&env, TCP).await,
        map(&[
            HAND_MADE,
            ("31000", "abc12/worker:30010"),
            ("32000", "xyz89/worker:30010")
        ])
    );
    assert_eq!(
        entries(&env, UDP).await,
        map(&[("31001", "abc12/worker:30011")])
    );
    let mut want = chart_ports();
    want.extend([port(32000, "TCP"), port(31000, "TCP"), port(31001, "UDP")]);
    assert_eq!(service_ports(&env).await, want);
    let status = ready.status.clone().unwrap();
    assert_eq!(status.mapped_ports, ready.spec.protocol_ports);
    let mapped = condition(&ready, "PortsMapped").unwrap();
    assert_eq!(
        (mapped.status.as_str(), mapped.reason.as_str()),
        ("True", "Mapped")
    );
    // The ConfigMap's own metadata is untouched.
    let tcp = env.api::<ConfigMap>().get(TCP).await.unwrap();
    assert_eq!(tcp.labels()["app.kubernetes.io/name"], "ingress-nginx");
    assert_eq!(tcp.annotations()["example.com/owner"], "platform");

    // Update: one port changed, the UDP one dropped.
    let change = json!({"spec": {"protocolPorts": [{"ingressPort": 30012, "lbPort": 31002, "protocol": "TCP"}]}});
    api.patch("abc12", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_settled(&env, "abc12", 2, "Mapped").await;
    assert_eq!(
        entries(&env, TCP).await,
        map(&[
            HAND_MADE,
            ("31002", "abc12/worker:30012"),
            ("32000", "xyz89/worker:30010")
        ])
    );
    assert_eq!(entries(&env, UDP).await, BTreeMap::new());
    let mut want = chart_ports();
    want.extend([port(32000, "TCP"), port(31002, "TCP")]);
    assert_eq!(service_ports(&env).await, want);

    // Deletion: exactly this cluster's entries and ports go.
    api.delete("abc12", &DeleteParams::default()).await.unwrap();
    wait_for(&api, "abc12", WAIT, |c| c.is_none())
        .await
        .unwrap();
    assert_eq!(
        entries(&env, TCP).await,
        map(&[HAND_MADE, ("32000", "xyz89/worker:30010")])
    );
    let mut want = chart_ports();
    want.push(port(32000, "TCP"));
    assert_eq!(service_ports(&env).await, want);
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn held_ports_are_refused_named_and_taken_once_free() {
    let (env, run) = started().await;
    let api = env.api::<IngressConfig>();
    created(&env, "first", "aaa11", &[(31000, 30010, Tcp)], "Mapped").await;
    // The second wants the first's port, a hand-made entry's port, and a
    // free one: it gets the free one only.
    let second = created(
        &env,
        "second",
        "bbb22",
        &[(31000, 30010, Tcp), (8080, 30011, Tcp), (31001, 30012, Tcp)],
        "PortConflict",
    )
    .await;
    let ready = condition(&second, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message,
        "31000/TCP is held by guest cluster aaa11; 8080/TCP is held by an entry nobody manages here (field manager \"operatorkit-test\"); mapped: 31001/TCP"
            .replace("operatorkit-test", &hand_made_manager(&env).await)
    );
    let mapped = condition(&second, "PortsMapped").unwrap();
    assert_eq!(
        (mapped.status.as_str(), mapped.reason.as_str()),
        ("False", "PortConflict")
    );
    let served: Vec<i32> = second
        .status
        .unwrap()
        .mapped_ports
        .iter()
        .map(|p| p.lb_port)
        .collect();
    assert_eq!(served, vec![31001]);
    assert_eq!(
        entries(&env, TCP).await,
        map(&[
            HAND_MADE,
            ("31000", "aaa11/worker:30010"),
            ("31001", "bbb22/worker:30012")
        ])
    );
    let mut want = chart_ports();
    want.extend([port(31000, "TCP"), port(31001, "TCP")]);
    assert_eq!(service_ports(&env).await, want);
    // One Warning Event, not one per loop: a spec change that leaves the
    // conflict as it was (another ingressPort for the served port) runs
    // another loop, which says nothing new.
    wait_for_event(&env.api::<Event>(), "second", "PortConflict", WAIT)
        .await
        .unwrap();
    let same_conflict = json!({"spec": {"protocolPorts": [
        {"ingressPort": 30010, "lbPort": 31000, "protocol": "TCP"},
        {"ingressPort": 30011, "lbPort": 8080, "protocol": "TCP"},
        {"ingressPort": 30013, "lbPort": 31001, "protocol": "TCP"}]}});
    api.patch(
        "second",
        &PatchParams::default(),
        &Patch::Merge(&same_conflict),
    )
    .await
    .unwrap();
    wait_settled(&env, "second", 2, "PortConflict").await;
    assert_eq!(entries(&env, TCP).await["31001"], "bbb22/worker:30013");
    let events = env
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap();
    let warnings = events
        .items
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("second"))
        .filter(|e| e.reason.as_deref() == Some("PortConflict"))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum::<i32>();
    assert_eq!(warnings, 1);

    // The first goes: its port is free, and the second takes it.
    api.delete("first", &DeleteParams::default()).await.unwrap();
    wait_for(&api, "second", WAIT, |c| {
        c.and_then(|c| c.status.as_ref())
            .is_some_and(|s| s.mapped_ports.iter().any(|p| p.lb_port == 31000))
    })
    .await
    .unwrap();
    assert_eq!(
        entries(&env, TCP).await,
        map(&[
            HAND_MADE,
            ("31000", "bbb22/worker:30010"),
            ("31001", "bbb22/worker:30013")
        ])
    );
    // The hand-made entry is still refused.
    let second = api.get("second").await.unwrap();
    assert!(
        condition(&second, "Ready")
            .unwrap()
            .message
            .starts_with("8080/TCP is held by")
    );
    run.stop().await;
    env.stop().await;
}

/// The field manager of the test's own writes (its client's user agent).
async fn hand_made_manager(env: &operatorkit::testing::TestEnv) -> String {
    let tcp = env.api::<ConfigMap>().get(TCP).await.unwrap();
    tcp.metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:data/f:8080").is_some())
        })
        .and_then(|m| m.manager)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_racing_pairs_have_one_winner_each() {
    const PAIRS: i32 = 50;
    let (env, run) = started().await;
    let configs: Vec<IngressConfig> = (0..PAIRS)
        .flat_map(|i| {
            let port = 31000 + i;
            [
                ingress_config(
                    &env,
                    &format!("p{i}-a"),
                    &format!("a{i:03}"),
                    &[(port, 30010, Tcp)],
                    VERSION,
                ),
                ingress_config(
                    &env,
                    &format!("p{i}-b"),
                    &format!("b{i:03}"),
                    &[(port, 30010, Tcp)],
                    VERSION,
                ),
            ]
        })
        .collect();
    let api = env.api::<IngressConfig>();
    let creates = configs.iter().map(|c| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), c).await.unwrap() }
    });
    futures::future::join_all(creates).await;
    let settled = |c: &IngressConfig| {
        c.status
            .as_ref()
            .is_some_and(|s| s.observed_generation == Some(1) && !s.conditions.is_empty())
            && condition(c, "Ready")
                .is_some_and(|r| r.reason == "Mapped" || r.reason == "PortConflict")
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let all = loop {
        let all = api.list(&ListParams::default()).await.unwrap().items;
        if all.iter().filter(|c| settled(c)).count() == configs.len() {
            break all;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all settled");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let tcp = entries(&env, TCP).await;
    let ports = service_ports(&env).await;
    for i in 0..PAIRS {
        let pair: Vec<&IngressConfig> = all
            .iter()
            .filter(|c| c.name_any().starts_with(&format!("p{i}-")))
            .collect();
        let winners: Vec<&&IngressConfig> = pair
            .iter()
            .filter(|c| condition(c, "Ready").unwrap().reason == "Mapped")
            .collect();
        assert_eq!(winners.len(), 1, "pair {i}: {pair:?}");
        let winner = &winners[0].spec.guest_cluster.id;
        let loser = pair
            .iter()
            .find(|c| &c.spec.guest_cluster.id != winner)
            .unwrap();
        let message = &condition(loser, "Ready").unwrap().message;
        assert_eq!(
            message,
            &format!(
                "{}/TCP is held by guest cluster {winner}; mapped: none",
                31000 + i
            )
        );
        assert!(loser.status.as_ref().unwrap().mapped_ports.is_empty());
        assert_eq!(
            tcp[&(31000 + i).to_string()],
            format!("{winner}/worker:30010")
        );
        assert_eq!(ports.iter().filter(|p| p.1 == 31000 + i).count(), 1);
    }
    assert_eq!(tcp.len(), PAIRS as usize + 1);
    assert_eq!(ports.len(), PAIRS as usize + 2);
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_host_objects_wait_and_full_ones_are_left_alone() {
    let env = env().await;
    let run = start(&env).await;
    let api = env.api::<IngressConfig>();
    let early = created(
        &env,
        "early",
        "abc12",
        &[(31000, 30010, Tcp)],
        "IngressControllerNotFound",
    )
    .await;
    let ns = env.namespace();
    assert_eq!(
        condition(&early, "Ready").unwrap().message,
        format!("ConfigMap {ns}/{TCP} and Service {ns}/{SERVICE} not found; mapped: none")
    );
    wait_for_event(
        &env.api::<Event>(),
        "early",
        "IngressControllerNotFound",
        WAIT,
    )
    .await
    .unwrap();
    // Nothing was created by the operator.
    assert!(env.api::<ConfigMap>().get_opt(TCP).await.unwrap().is_none());
    // The controller arrives: the watch brings the IngressConfig back.
    controller_objects(&env).await;
    wait_settled(&env, "early", 1, "Mapped").await;

    // Fill the UDP ConfigMap by hand to 10 bytes under its 1 MiB of values:
    // less than the entry needs (`big01/worker:30011`, 18 bytes).
    let filler = "x".repeat(1024 * 1024 - 10);
    let fill = json!({"data": {"filler": filler}});
    env.api::<ConfigMap>()
        .patch(UDP, &PatchParams::default(), &Patch::Merge(&fill))
        .await
        .unwrap();
    let before = env.api::<ConfigMap>().get(UDP).await.unwrap();
    let big = created(
        &env,
        "big",
        "big01",
        &[(31001, 30010, Tcp), (31002, 30011, Udp)],
        "IngressControllerFull",
    )
    .await;
    assert!(
        condition(&big, "Ready")
            .unwrap()
            .message
            .contains(&format!("{ns}/{UDP} cannot take")),
        "{big:?}"
    );
    // Nothing partial: not even the TCP entry or the Service port.
    let after = env.api::<ConfigMap>().get(UDP).await.unwrap();
    assert_eq!(after.resource_version(), before.resource_version());
    assert!(!entries(&env, TCP).await.contains_key("31001"));
    assert!(!service_ports(&env).await.iter().any(|p| p.1 == 31001));
    // Room again: it converges.
    let free = json!({"data": {"filler": null}});
    env.api::<ConfigMap>()
        .patch(UDP, &PatchParams::default(), &Patch::Merge(&free))
        .await
        .unwrap();
    wait_settled(&env, "big", 1, "Mapped").await;
    assert_eq!(
        entries(&env, UDP).await,
        map(&[("31002", "big01/worker:30011")])
    );

    // Gone while mapped: deletion still completes.
    env.api::<ConfigMap>()
        .delete(TCP, &DeleteParams::default())
        .await
        .unwrap();
    env.api::<k8s_openapi::api::core::v1::Service>()
        .delete(SERVICE, &DeleteParams::default())
        .await
        .unwrap();
    api.delete("early", &DeleteParams::default()).await.unwrap();
    wait_for(&api, "early", WAIT, |c| c.is_none())
        .await
        .unwrap();
    assert!(env.api::<ConfigMap>().get_opt(TCP).await.unwrap().is_none());
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_for_another_namespace_is_refused() {
    let (env, run) = started().await;
    let mut config = ingress_config(&env, "elsewhere", "abc12", &[(31000, 30010, Tcp)], VERSION);
    config.spec.host_cluster.ingress_controller.namespace = "kube-system".into();
    create(&env, &config).await;
    let refused = wait_settled(&env, "elsewhere", 1, "InvalidSpec").await;
    assert!(
        condition(&refused, "Ready")
            .unwrap()
            .message
            .contains("this operator serves the ingress controller in"),
        "{refused:?}"
    );
    run.stop().await;
    env.stop().await;
}

/// Two replicas of one version (no leader election: both reconcile every
/// object, the worst case) and a second version side by side, under 1,000
/// random creates and deletes that reuse ports as soon as they are free:
/// afterwards every entry and port is there exactly once, for exactly the
/// IngressConfigs that exist.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_and_two_versions_lose_nothing_in_a_thousand_random_operations() {
    const OPERATIONS: usize = 1000;
    const LIVE_AT_MOST: usize = 60;
    const IN_FLIGHT: usize = 10;
    const V2: &str = "0.2.0";
    let env = env().await;
    controller_objects(&env).await;
    let identity = e2e::ingress::service_account(&env, "ingress-operator").await;
    let runs = [
        e2e::ingress::start_as(&env, &identity, VERSION, false).await,
        e2e::ingress::start_as(&env, &identity, VERSION, false).await,
        e2e::ingress::start_as(&env, &identity, V2, false).await,
    ];
    let api = env.api::<IngressConfig>();
    let mut rng = fastrand::Rng::with_seed(14);
    // name → (ports, version); ports are taken from a small pool so that a
    // new IngressConfig often wants a port a deleted one still holds.
    let mut live: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut next = 0;
    let mut done = 0;
    while done < OPERATIONS {
        let mut batch = Vec::new();
        // Deleted only once their create was answered.
        let older: Vec<String> = live.keys().cloned().collect();
        for _ in 0..IN_FLIGHT.min(OPERATIONS - done) {
            let candidates: Vec<&String> = older.iter().filter(|n| live.contains_key(*n)).collect();
            let create = candidates.is_empty()
                || live.len() < LIVE_AT_MOST / 2
                || (live.len() < LIVE_AT_MOST && rng.bool());
            if create {
                let used: Vec<i32> = live.values().flatten().copied().collect();
                let free: Vec<i32> = (31000..31000 + 2 * LIVE_AT_MOST as i32)
                    .filter(|p| !used.contains(p))
                    .collect();
                let ports: Vec<i32> = (0..rng.usize(1..=2))
                    .map(|_| free[rng.usize(..free.len())])
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let name = format!("c{next:04}");
                next += 1;
                let version = if rng.bool() { VERSION } else { V2 };
                let spec: Vec<_> = ports.iter().map(|&p| (p, 30000, Tcp)).collect();
                let config = ingress_config(&env, &name, &name, &spec, version);
                live.insert(name, ports);
                let api = api.clone();
                batch.push(tokio::spawn(async move {
                    api.create(&PostParams::default(), &config)
                        .await
                        .map(|_| ())
                }));
            } else {
                let victim = candidates[rng.usize(..candidates.len())].clone();
                live.remove(&victim);
                let api = api.clone();
                batch.push(tokio::spawn(async move {
                    api.delete(&victim, &DeleteParams::default())
                        .await
                        .map(|_| ())
                }));
            }
            done += 1;
        }
        for op in batch {
            op.await.unwrap().unwrap();
        }
    }
    // Settled: the live ones Mapped, the deleted ones gone.
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    loop {
        let all = api.list(&ListParams::default()).await.unwrap().items;
        let mapped = all
            .iter()
            .filter(|c| condition(c, "Ready").is_some_and(|r| r.reason == "Mapped"))
            .count();
        if all.len() == live.len() && mapped == live.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} IngressConfigs, {mapped} Mapped, {} expected",
            all.len(),
            live.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let mut want: BTreeMap<String, String> = live
        .iter()
        .flat_map(|(name, ports)| {
            ports
                .iter()
                .map(move |p| (p.to_string(), format!("{name}/worker:30000")))
        })
        .collect();
    want.insert(HAND_MADE.0.into(), HAND_MADE.1.into());
    assert_eq!(entries(&env, TCP).await, want);
    let mut ports = chart_ports();
    ports.extend(live.values().flatten().map(|&p| port(p, "TCP")));
    ports.sort();
    let mut got = service_ports(&env).await;
    got.sort();
    let extra: Vec<_> = got.iter().filter(|p| !ports.contains(p)).collect();
    let lacking: Vec<_> = ports.iter().filter(|p| !got.contains(p)).collect();
    assert!(
        extra.is_empty() && lacking.is_empty(),
        "Service ports: extra {extra:?}, lacking {lacking:?}"
    );
    for run in runs {
        run.stop().await;
    }
    env.stop().await;
}

/// Two IngressConfigs of one guest cluster, reconciled by two versions of
/// the operator: the second writes nothing (it would write under the first
/// one's field manager) and says so; deleting it leaves the first one's
/// entries; when the first goes, the second takes over.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ingress_config_of_a_cluster_is_refused_across_versions() {
    const V2: &str = "0.2.0";
    let env = env().await;
    controller_objects(&env).await;
    let identity = e2e::ingress::service_account(&env, "ingress-operator").await;
    let v1 = e2e::ingress::start_as(&env, &identity, VERSION, false).await;
    let v2 = e2e::ingress::start_as(&env, &identity, V2, false).await;
    let api = env.api::<IngressConfig>();
    created(&env, "first", "abc12", &[(31000, 30010, Tcp)], "Mapped").await;
    let ports = [(31001, 30010, Tcp)];
    create(&env, &ingress_config(&env, "second", "abc12", &ports, V2)).await;
    let second = wait_settled(&env, "second", 1, "DuplicateCluster").await;
    assert_eq!(
        condition(&second, "Ready").unwrap().message,
        format!(
            "guest cluster abc12 is mapped by IngressConfig {}/first already; nothing was written",
            env.namespace()
        )
    );
    let only_first = map(&[HAND_MADE, ("31000", "abc12/worker:30010")]);
    assert_eq!(entries(&env, TCP).await, only_first);
    // Deleting the second leaves the first's entries.
    api.delete("second", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&api, "second", WAIT, |c| c.is_none())
        .await
        .unwrap();
    assert_eq!(entries(&env, TCP).await, only_first);
    // The second again; then the first goes, and the second takes over.
    create(&env, &ingress_config(&env, "second", "abc12", &ports, V2)).await;
    wait_settled(&env, "second", 1, "DuplicateCluster").await;
    api.delete("first", &DeleteParams::default()).await.unwrap();
    wait_for(&api, "first", WAIT, |c| c.is_none())
        .await
        .unwrap();
    wait_for(&api, "second", WAIT, |c| {
        e2e::ingress::condition_of(c, "Ready").is_some_and(|r| r.reason == "Mapped")
    })
    .await
    .unwrap();
    assert_eq!(
        entries(&env, TCP).await,
        map(&[HAND_MADE, ("31001", "abc12/worker:30010")])
    );
    v1.stop().await;
    v2.stop().await;
    env.stop().await;
}

/// Ports ingress-nginx keeps for itself are refused (it would ignore the
/// mapping); an IngressConfig moved to another namespace withdraws what it
/// mapped here before saying it is not served.
#[tokio::test(flavor = "multi_thread")]
async fn reserved_ports_are_refused_and_a_move_away_withdraws() {
    let (env, run) = started().await;
    let api = env.api::<IngressConfig>();
    let reserved = created(
        &env,
        "reserved",
        "res01",
        &[(10254, 30010, Tcp)],
        "InvalidSpec",
    )
    .await;
    assert!(
        condition(&reserved, "Ready")
            .unwrap()
            .message
            .contains("lbPort 10254 is reserved by ingress-nginx"),
        "{reserved:?}"
    );
    created(&env, "mover", "mov01", &[(31000, 30010, Tcp)], "Mapped").await;
    let away = json!({"spec": {"hostCluster": {"ingressController": {"namespace": "elsewhere"}}}});
    api.patch("mover", &PatchParams::default(), &Patch::Merge(&away))
        .await
        .unwrap();
    wait_settled(&env, "mover", 2, "InvalidSpec").await;
    assert_eq!(entries(&env, TCP).await, map(&[HAND_MADE]));
    assert_eq!(service_ports(&env).await, chart_ports());
    run.stop().await;
    env.stop().await;
}
