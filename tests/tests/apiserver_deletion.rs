//! Deletion, black-box: finalizers and deletionTimestamp, propagation policies
//! with owner-reference garbage collection, and namespace lifecycle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::support::api_error;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn owned(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid,
        "blockOwnerDeletion": block,
    }]}}))
    .unwrap()
}

fn plain(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn finalizers_hold_an_object_until_removed() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let name = env.name("fin");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": name, "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let pending = api.delete(&name, &DeleteParams::default()).await.unwrap();
    let obj = pending
        .left()
        .expect("the object is returned while finalizers hold it");
    assert!(obj.metadata.deletion_timestamp.is_some());

    // No new finalizers on an object being deleted.
    let err = api_error(
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        err.message
    );

    // Other updates still work while it is being deleted.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        api.get_opt(&name).await.unwrap().is_none(),
        "removing the last finalizer deletes it"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn background_deletion_collects_dependents() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let owner = api
        .create(&PostParams::default(), &plain("owner"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned("child", &owner, false))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(&api, "child", WAIT, |c: Option<&ConfigMap>| c.is_none())
        .await
        .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let owner = api
        .create(&PostParams::default(), &plain("owner"))
        .await
        .unwrap();
    let child: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "child", "finalizers": ["example.com/hold"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid, "blockOwnerDeletion": true}]}}))
    .unwrap();
    api.create(&PostParams::default(), &child).await.unwrap();
    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    // The child is being deleted, but its finalizer holds it, and so the owner stays.
    wait_for(&api, "child", WAIT, |c: Option<&ConfigMap>| {
        c.is_some_and(|c| c.metadata.deletion_timestamp.is_some())
    })
    .await
    .unwrap();
    let owner_now = api.get("owner").await.unwrap();
    assert!(
        owner_now
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_owned())
    );
    api.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for(&api, "owner", WAIT, |c: Option<&ConfigMap>| c.is_none())
        .await
        .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn orphan_deletion_keeps_dependents_without_the_reference() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let owner = api
        .create(&PostParams::default(), &plain("owner"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned("child", &owner, false))
        .await
        .unwrap();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    api.delete("owner", &dp).await.unwrap();
    wait_for(&api, "owner", WAIT, |c: Option<&ConfigMap>| c.is_none())
        .await
        .unwrap();
    let child = wait_for(&api, "child", WAIT, |c: Option<&ConfigMap>| {
        c.is_some_and(|c| {
            c.metadata
                .owner_references
                .as_ref()
                .is_none_or(Vec::is_empty)
        })
    })
    .await
    .unwrap();
    assert!(child.is_some());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_lifecycle() {
    let env = TestEnv::start().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    let name = env.name("lifecycle");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    let api: Api<ConfigMap> = Api::namespaced(env.client(), &name);
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &held).await.unwrap();
    api.create(&PostParams::default(), &plain("free"))
        .await
        .unwrap();

    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get(&name).await.unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    wait_for(&api, "free", WAIT, |c: Option<&ConfigMap>| c.is_none())
        .await
        .unwrap();
    let err = api_error(
        api.create(&PostParams::default(), &plain("late"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message.contains("because it is being terminated"),
        "{}",
        err.message
    );

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for(&namespaces, &name, WAIT, |n: Option<&Namespace>| {
        n.is_none()
    })
    .await
    .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminating_namespace_survives_updates_until_its_contents_are_gone() {
    let env = TestEnv::start().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    let name = env.name("terminating");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), &name);
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &held).await.unwrap();
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    // Labelling the terminating namespace must not complete its deletion.
    namespaces
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert!(
        namespaces.get_opt(&name).await.unwrap().is_some(),
        "still terminating"
    );
    assert!(api.get_opt("held").await.unwrap().is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for(&namespaces, &name, WAIT, |n: Option<&Namespace>| {
        n.is_none()
    })
    .await
    .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_delete_options_body_is_400_and_deletes_nothing() {
    let env = TestEnv::start().await.unwrap();
    let client = env.client();
    let ns = env.namespace();
    let api: Api<ConfigMap> = env.api();
    let name = env.name("cm");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    for body in [
        json!({"preconditions": {"uid": 123}}),
        json!({"preconditions": {"resourceVersion": false}}),
        json!({"propagationPolicy": 1}),
        json!({"orphanDependents": "yes"}),
        json!({"dryRun": "All"}),
        json!({"gracePeriodSeconds": "soon"}),
    ] {
        let req = http::Request::delete(format!("/api/v1/namespaces/{ns}/configmaps/{name}"))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
        let err = api_error(client.request::<ConfigMap>(req).await.unwrap_err());
        assert_eq!(err.code, 400, "{body}: {err:?}");
        assert!(
            err.message.contains("DeleteOptions"),
            "{body}: {}",
            err.message
        );
        assert!(
            api.get_opt(&name).await.unwrap().is_some(),
            "{body} deleted it"
        );
    }
    env.stop().await;
}

/// As kube-apiserver's NamespaceLifecycle admission plugin answers: the
/// system namespaces cannot be deleted (on a real cluster too).
#[tokio::test(flavor = "multi_thread")]
async fn the_system_namespaces_cannot_be_deleted() {
    let env = TestEnv::start().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    for name in ["default", "kube-system", "kube-public"] {
        let err = api_error(
            namespaces
                .delete(name, &DeleteParams::default())
                .await
                .unwrap_err(),
        );
        assert_eq!(err.code, 403, "{name}: {err:?}");
        assert_eq!(err.reason, "Forbidden");
        assert_eq!(
            err.message,
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
        );
        let ns = namespaces.get(name).await.unwrap();
        assert!(
            ns.metadata.deletion_timestamp.is_none(),
            "{name} is terminating"
        );
    }
    env.stop().await;
}

fn scheduled_pod(name: &str, finalizer: bool) -> k8s_openapi::api::core::v1::Pod {
    let finalizers: Vec<&str> = if finalizer {
        vec!["example.com/hold"]
    } else {
        vec![]
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "finalizers": finalizers},
        "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 45,
                 "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap()
}

/// Graceful deletion as kube-apiserver's pod strategy does it: a scheduled
/// pod is only marked (its kubelet finishes the deletion with a zero grace
/// period); a later DELETE may only shorten the period; an unscheduled pod
/// goes at once; a finalizer and a grace period each hold the pod.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_pods_terminate_gracefully() {
    use k8s_openapi::api::core::v1::Pod;
    let env = TestEnv::start().await.unwrap();
    let pods: Api<Pod> = env.api();
    let pp = PostParams::default();

    pods.create(&pp, &scheduled_pod("graceful", false))
        .await
        .unwrap();
    let answer = pods
        .delete("graceful", &DeleteParams::default())
        .await
        .unwrap();
    let marked = answer
        .left()
        .expect("a scheduled pod is not removed at once");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(45));
    let deadline = marked.metadata.deletion_timestamp.clone().unwrap().0;
    let ahead = deadline.as_second() - jiff::Timestamp::now().as_second();
    assert!((40..=46).contains(&ahead), "deadline {ahead}s ahead");
    // Longer: nothing changes; shorter: the deadline moves with it.
    let again = pods
        .delete(
            "graceful",
            &DeleteParams {
                grace_period_seconds: Some(60),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        again.left().unwrap().metadata.deletion_grace_period_seconds,
        Some(45)
    );
    let shorter = pods
        .delete(
            "graceful",
            &DeleteParams {
                grace_period_seconds: Some(5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let shorter = shorter.left().unwrap();
    assert_eq!(shorter.metadata.deletion_grace_period_seconds, Some(5));
    assert_eq!(
        shorter.metadata.deletion_timestamp.unwrap().0.as_second(),
        deadline.as_second() - 40
    );
    // The kubelet's confirmation removes it.
    let gone = pods
        .delete(
            "graceful",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // kube-apiserver returns a deleted pod as it was last stored.
    assert_eq!(
        gone.left().unwrap().metadata.name.as_deref(),
        Some("graceful")
    );
    assert!(pods.get_opt("graceful").await.unwrap().is_none());

    // Unscheduled: at once.
    let mut unscheduled = scheduled_pod("unscheduled", false);
    unscheduled.spec.as_mut().unwrap().node_name = None;
    pods.create(&pp, &unscheduled).await.unwrap();
    pods.delete("unscheduled", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("unscheduled").await.unwrap().is_none());

    // A finalizer and a grace period: dropping the finalizer leaves the pod
    // terminating until the grace period is cut to zero, and the other way round.
    pods.create(&pp, &scheduled_pod("held", true))
        .await
        .unwrap();
    pods.delete("held", &DeleteParams::default()).await.unwrap();
    let unhold = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    pods.patch("held", &PatchParams::default(), &unhold)
        .await
        .unwrap();
    assert!(
        pods.get_opt("held").await.unwrap().is_some(),
        "the grace period still holds it"
    );
    pods.delete(
        "held",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(pods.get_opt("held").await.unwrap().is_none());

    pods.create(&pp, &scheduled_pod("held-2", true))
        .await
        .unwrap();
    pods.delete(
        "held-2",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let held = pods.get("held-2").await.unwrap();
    assert_eq!(held.metadata.deletion_grace_period_seconds, Some(0));
    pods.patch("held-2", &PatchParams::default(), &unhold)
        .await
        .unwrap();
    assert!(pods.get_opt("held-2").await.unwrap().is_none());
    env.stop().await;
}

/// A client of `env` that answers a 429 at once (kube's default retries it).
async fn without_retries(env: &TestEnv) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(env.kubeconfig_path().unwrap()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    config.default_retry = false;
    config.default_namespace = env.namespace().to_owned();
    kube::Client::try_from(config).unwrap()
}

/// Running, Ready pod `name` labelled `app`.
async fn running(pods: &Api<k8s_openapi::api::core::v1::Pod>, name: &str, app: &str) {
    let mut pod = scheduled_pod(name, false);
    pod.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// `pods/eviction` as kube-apiserver's EvictionREST answers: a budget that
/// still allows a disruption lets the pod terminate gracefully; one that
/// does not is a 429 with a `DisruptionBudget` cause and changes nothing;
/// a pod without a budget, or not running yet, is evicted at once; two
/// budgets over one pod are a 500.
#[tokio::test(flavor = "multi_thread")]
async fn evictions_honour_the_pod_disruption_budget() {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::EvictParams;
    let env = TestEnv::start().await.unwrap();
    let client = without_retries(&env).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let budgets: Api<PodDisruptionBudget> = Api::default_namespaced(client);
    running(&pods, "a", "web").await;
    running(&pods, "b", "web").await;
    let budget = |name: &str, app: &str| -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}}}))
        .unwrap()
    };
    budgets
        .create(&PostParams::default(), &budget("web", "web"))
        .await
        .unwrap();

    pods.evict("a", &EvictParams::default()).await.unwrap();
    let a = pods.get("a").await.unwrap();
    assert_eq!(
        a.metadata.deletion_grace_period_seconds,
        Some(45),
        "graceful"
    );
    match pods.evict("b", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
            assert_eq!(
                s.message,
                "Cannot evict pod as it would violate the pod's disruption budget."
            );
            let cause = &s.details.unwrap().causes[0];
            assert_eq!(cause.reason, "DisruptionBudget");
            assert_eq!(
                cause.message,
                "The disruption budget web needs 1 healthy pods and has 1 currently"
            );
        }
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(
        pods.get("b")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // maxUnavailable 1 of 3: one eviction, then the evicted pod still
    // counts until it is gone (as its controller's scale would).
    for p in ["c1", "c2", "c3"] {
        running(&pods, p, "api").await;
    }
    let max_one: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "api"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "api"}}}}))
    .unwrap();
    budgets
        .create(&PostParams::default(), &max_one)
        .await
        .unwrap();
    pods.evict("c1", &EvictParams::default()).await.unwrap();
    match pods.evict("c2", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429, "{}", s.message),
        other => panic!("a second disruption of maxUnavailable 1: {other:?}"),
    }

    // dryRun on the eviction: answered, nothing deleted.
    running(&pods, "dry", "other").await;
    let dry = EvictParams {
        post_options: PostParams {
            dry_run: true,
            ..Default::default()
        },
        ..Default::default()
    };
    pods.evict("dry", &dry).await.unwrap();
    assert!(
        pods.get("dry")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // No budget selects it: evicted. Not running yet: evicted too.
    running(&pods, "lonely", "other").await;
    pods.evict("lonely", &EvictParams::default()).await.unwrap();
    pods.create(&PostParams::default(), &scheduled_pod("pending", false))
        .await
        .unwrap();
    pods.evict("pending", &EvictParams::default())
        .await
        .unwrap();
    assert!(
        pods.get("pending")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    // Two budgets over one pod: the eviction subresource refuses.
    budgets
        .create(&PostParams::default(), &budget("web-too", "web"))
        .await
        .unwrap();
    match pods.evict("b", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 500, "{}", s.message),
        other => panic!("expected 500, got {other:?}"),
    }
    match pods.evict("missing", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    env.stop().await;
}
