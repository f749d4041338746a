//! Server-side apply, black-box: field ownership, conflicts and `force`,
//! removal of fields a manager stops applying, no write for a repeated apply,
//! and kube-lease-manager's leader election, which relies on apply conflicts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder};
use operatorkit::testing::TestEnv;
use serde_json::json;

fn cm(name: &str, data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_owns_fields_conflicts_and_forces() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let a = PatchParams::apply("manager-a");
    let created = api
        .patch(
            "shared",
            &a,
            &Patch::Apply(cm("shared", json!({"x": "1", "y": "1"}))),
        )
        .await
        .unwrap();
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["manager-a"]);

    // Another manager applying a different value for x conflicts.
    let b = PatchParams::apply("manager-b");
    let err = api
        .patch("shared", &b, &Patch::Apply(cm("shared", json!({"x": "2"}))))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a conflict")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("conflict with \"manager-a\""),
        "{}",
        status.message
    );
    assert!(status.message.contains(".data.x"), "{}", status.message);

    // Forced, it takes x over; a's later apply without x then leaves x alone.
    api.patch(
        "shared",
        &b.clone().force(),
        &Patch::Apply(cm("shared", json!({"x": "2"}))),
    )
    .await
    .unwrap();
    let after = api
        .patch("shared", &a, &Patch::Apply(cm("shared", json!({"y": "1"}))))
        .await
        .unwrap();
    assert_eq!(
        after.data.unwrap(),
        [
            ("x".to_owned(), "2".to_owned()),
            ("y".to_owned(), "1".to_owned())
        ]
        .into()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_a_manager_stops_applying_are_removed_and_reapplying_is_not_a_write() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let pp = PatchParams::apply("owner");
    api.patch(
        "c",
        &pp,
        &Patch::Apply(cm("c", json!({"keep": "1", "drop": "1"}))),
    )
    .await
    .unwrap();
    let second = api
        .patch("c", &pp, &Patch::Apply(cm("c", json!({"keep": "1"}))))
        .await
        .unwrap();
    assert_eq!(
        second.data.clone().unwrap(),
        [("keep".to_owned(), "1".to_owned())].into()
    );
    let third = api
        .patch("c", &pp, &Patch::Apply(cm("c", json!({"keep": "1"}))))
        .await
        .unwrap();
    assert_eq!(
        third.metadata.resource_version, second.metadata.resource_version,
        "the same apply again writes nothing"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_lease_manager_elects_exactly_one_leader() {
    let env = TestEnv::start().await.unwrap();
    let lease = env.name("leader");
    let mut managers = Vec::new();
    for id in ["replica-a", "replica-b", "replica-c"] {
        let m = LeaseManagerBuilder::new(env.client(), &lease)
            .with_namespace(env.namespace())
            .with_create_mode(LeaseCreateMode::AutoCreate)
            .with_identity(id)
            .with_duration(5)
            .with_grace(2)
            .build()
            .await
            .unwrap();
        managers.push(m);
    }
    let mut channels = Vec::new();
    for m in managers {
        channels.push(m.watch().await);
    }
    // Let them race and settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let leaders: Vec<usize> = channels
        .iter()
        .enumerate()
        .filter(|(_, (rx, _))| *rx.borrow())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    // The leader steps down; another takes over within the lease duration.
    let (leader_rx, leader_task) = channels.remove(leaders[0]);
    drop(leader_rx);
    let released = leader_task.await.unwrap().unwrap();
    released.release().await.unwrap();
    let took_over = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if channels.iter().any(|(rx, _)| *rx.borrow()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(took_over.is_ok(), "a standby took over");
    let leaders = channels.iter().filter(|(rx, _)| *rx.borrow()).count();
    assert_eq!(leaders, 1);
    env.stop().await;
}

/// A Service's ports shared by several managers, as ingress-operator shares
/// the ingress controller's Service between guest clusters: each manager's
/// ports are its own (keyed by port and protocol, as kube's list-map keys
/// are), a taken port is a conflict, and a manager's ports go when it stops
/// applying them, nobody else's.
#[tokio::test(flavor = "multi_thread")]
async fn service_ports_are_owned_per_manager_by_port_and_protocol() {
    use k8s_openapi::api::core::v1::Service;
    let env = TestEnv::start().await.unwrap();
    let api: Api<Service> = env.api();
    let svc = |ports: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "controller"},
               "spec": {"selector": {"app": "nginx"}, "ports": ports}})
    };
    let port = |name: &str, port: i32, protocol: &str| json!({"name": name, "port": port, "targetPort": port, "protocol": protocol});
    let a = PatchParams::apply("ingress-operator.a");
    let b = PatchParams::apply("ingress-operator.b");
    api.patch(
        "controller",
        &a,
        &Patch::Apply(svc(json!([port("tcp-31000", 31000, "TCP")]))),
    )
    .await
    .unwrap();
    // The same number over UDP is another port: no conflict.
    api.patch(
        "controller",
        &b,
        &Patch::Apply(svc(json!([
            port("tcp-31001", 31001, "TCP"),
            port("udp-31000", 31000, "UDP")
        ]))),
    )
    .await
    .unwrap();
    let ports = |s: Service| {
        let mut p: Vec<(i32, String)> = s
            .spec
            .unwrap()
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.port, p.protocol.unwrap_or_default()))
            .collect();
        p.sort();
        p
    };
    let both = api.get("controller").await.unwrap();
    assert_eq!(
        ports(both),
        [
            (31000, "TCP".to_owned()),
            (31000, "UDP".to_owned()),
            (31001, "TCP".to_owned())
        ]
    );
    // b taking a's TCP port (another target) conflicts, naming a.
    let err = api
        .patch(
            "controller",
            &b,
            &Patch::Apply(svc(json!([
                port("tcp-31001", 31001, "TCP"),
                port("udp-31000", 31000, "UDP"),
                {"name": "tcp-31000", "port": 31000, "targetPort": 9999, "protocol": "TCP"},
            ]))),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a conflict")
    };
    assert_eq!(status.code, 409, "{}", status.message);
    assert!(
        status.message.contains("ingress-operator.a"),
        "{}",
        status.message
    );
    // a stops applying its port: it goes, b's stay.
    api.patch("controller", &a, &Patch::Apply(svc(json!([]))))
        .await
        .unwrap();
    let left = api.get("controller").await.unwrap();
    assert_eq!(
        ports(left),
        [(31000, "UDP".to_owned()), (31001, "TCP".to_owned())]
    );
    env.stop().await;
}
