//! Authentication and RBAC of the embedded API server, black-box through
//! `kube::Client`: each rule shape allowed and refused (verbs, resources,
//! subresources, resourceNames, non-resource URLs, Role vs ClusterRole
//! bindings, groups), aggregation, escalation, impersonation, reviews,
//! ServiceAccount tokens (bound, revoked, foreign), client certificates,
//! token-file users, anonymous requests, and watches across a binding's
//! removal. Users are acted as by impersonation from the admin identity
//! (which the test also checks) unless a test is about a credential.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::support::api_error;
use futures::StreamExt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

/// A client of `env` acting as `user` in `groups` (impersonated by the admin).
fn as_user(env: &TestEnv, user: &str, groups: &[&str]) -> Client {
    let mut config = env.embedded().unwrap().kube_config(None);
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_owned()).collect());
    Client::try_from(config).unwrap()
}

async fn create<K>(api: &Api<K>, obj: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

fn configmap(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

/// A Role in the env's namespace bound to `user`.
async fn grant(env: &TestEnv, name: &str, user: &str, rules: serde_json::Value) {
    create(
        &env.api::<Role>(),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": name}, "rules": rules}),
    )
    .await;
    create(
        &env.api::<RoleBinding>(),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
    )
    .await;
}

fn code(r: Result<impl Sized, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => api_error(e).code,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_rule_shape_allows_what_it_names_and_nothing_else() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    create(&env.api::<ConfigMap>(), configmap("named")).await;
    create(&env.api::<ConfigMap>(), configmap("other")).await;
    grant(
        &env,
        "shapes",
        "alice",
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["named"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get"]}
        ]),
    )
    .await;
    let alice = as_user(&env, "alice", &[]);
    let cms: Api<ConfigMap> = Api::namespaced(alice.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(alice.clone(), &ns);
    assert_eq!(code(cms.get("named").await), 200);
    let err = api_error(cms.get("other").await.unwrap_err());
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        format!(
            "configmaps \"other\" is forbidden: User \"alice\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        )
    );
    // resourceNames cannot grant a plain list, but can a list of that name.
    assert_eq!(code(cms.list(&ListParams::default()).await), 403);
    assert_eq!(
        code(
            cms.list(&ListParams::default().fields("metadata.name=named"))
                .await
        ),
        200
    );
    assert_eq!(
        code(
            cms.create(
                &PostParams::default(),
                &serde_json::from_value(configmap("x")).unwrap()
            )
            .await
        ),
        403
    );
    // `watch=` (empty) is a watch, for authorization as for serving.
    let req = http::Request::get(format!("/api/v1/namespaces/{ns}/pods?watch="))
        .body(Vec::new())
        .unwrap();
    let err = api_error(alice.request_text(req).await.unwrap_err());
    assert_eq!(err.code, 403);
    assert!(
        err.message.contains("cannot watch resource \"pods\""),
        "{}",
        err.message
    );
    // A verb on one resource, a subresource on its own.
    assert_eq!(code(pods.list(&ListParams::default()).await), 200);
    assert_eq!(code(pods.get("p").await), 403);
    let err = api_error(pods.get_status("p").await.unwrap_err());
    assert_eq!(
        err.code, 404,
        "pods/status is allowed: the pod just does not exist"
    );
    // Another namespace: the Role does not reach it.
    let elsewhere = env.extra_namespace().await.unwrap();
    let err = api_error(
        Api::<Pod>::namespaced(alice.clone(), &elsewhere)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        format!(
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"{elsewhere}\""
        )
    );
    // Cluster scope.
    let err = api_error(
        Api::<k8s_openapi::api::core::v1::Namespace>::all(alice.clone())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "namespaces is forbidden: User \"alice\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    // Non-resource URLs: discovery and health for every authenticated user.
    assert!(alice.apiserver_version().await.is_ok());
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let err = api_error(alice.request_text(req).await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            403,
            "forbidden: User \"alice\" cannot get path \"/metrics\""
        )
    );
    env.stop().await;
}

/// A server-side apply is a patch, but one that would create the object is
/// authorized as a create as well (kube-apiserver's patch handler): a user
/// who may only patch can change the object, never make it.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_that_would_create_needs_the_create_verb() {
    use kube::api::{Patch, PatchParams};
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    create(&env.api::<ConfigMap>(), configmap("present")).await;
    grant(
        &env,
        "patcher",
        "bob",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(as_user(&env, "bob", &[]), &ns);
    let apply = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    let params = PatchParams::apply("bob-tool");
    let changed = cms
        .patch("present", &params, &Patch::Apply(apply("present")))
        .await
        .unwrap();
    assert_eq!(changed.data.unwrap()["k"], "v");
    let err = api_error(
        cms.patch("absent", &params, &Patch::Apply(apply("absent")))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (403, "configmaps \"absent\" is forbidden: ")
    );
    assert_eq!(code(env.api::<ConfigMap>().get("absent").await), 404);
    // A merge patch of a missing object is a 404 whatever the rights.
    let merge = cms
        .patch(
            "absent",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await;
    assert_eq!(code(merge), 404);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_and_cluster_roles_bound_in_a_namespace() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    // The bootstrap `view` role, bound in one namespace to a group.
    create(
        &env.api::<RoleBinding>(),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "viewers"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "viewers"}]}),
    )
    .await;
    let bob = as_user(&env, "bob", &["viewers"]);
    let carl = as_user(&env, "carl", &["others"]);
    // view is aggregated: it reads what system:aggregate-to-view names.
    let bobs: Api<ConfigMap> = Api::namespaced(bob.clone(), &ns);
    wait_for_code(
        || async { code(bobs.list(&ListParams::default()).await) },
        200,
    )
    .await;
    // A namespace object is in its own namespace: view there may get it.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(bob.clone());
    assert_eq!(code(namespaces.get(&ns).await), 200);
    assert_eq!(
        code(
            Api::<Secret>::namespaced(bob.clone(), &ns)
                .list(&ListParams::default())
                .await
        ),
        403,
        "view does not read secrets"
    );
    assert_eq!(
        code(
            Api::<ConfigMap>::namespaced(carl, &ns)
                .list(&ListParams::default())
                .await
        ),
        403
    );
    let other = env.extra_namespace().await.unwrap();
    assert_eq!(
        code(
            Api::<ConfigMap>::namespaced(bob, &other)
                .list(&ListParams::default())
                .await
        ),
        403
    );
    env.stop().await;
}

async fn wait_for_code<F, Fut>(f: F, want: u16)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = f().await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregated_roles_follow_the_roles_they_select() {
    let env = TestEnv::start().await.unwrap();
    let roles: Api<ClusterRole> = Api::all(env.client());
    let name = env.name("widgets-view");
    create(
        &roles,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
               "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]}),
    )
    .await;
    let has_widgets = |r: Option<&ClusterRole>| {
        r.and_then(|r| r.rules.as_ref()).is_some_and(|rules| {
            rules.iter().any(|x| {
                x.resources
                    .as_ref()
                    .is_some_and(|v| v.contains(&"widgets".to_owned()))
            })
        })
    };
    // view selects it; edit selects view; admin selects edit.
    for aggregated in ["view", "edit", "admin"] {
        wait_for(&roles, aggregated, Duration::from_secs(10), has_widgets)
            .await
            .unwrap();
    }
    roles.delete(&name, &Default::default()).await.unwrap();
    wait_for(&roles, "view", Duration::from_secs(10), |r| !has_widgets(r))
        .await
        .unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_grants_what_they_do_not_hold() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    // dana may manage roles and bindings in the namespace, and read pods.
    grant(
        &env,
        "role-admin",
        "dana",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "get", "patch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
        ]),
    )
    .await;
    let dana = as_user(&env, "dana", &[]);
    let roles: Api<Role> = Api::namespaced(dana.clone(), &ns);
    let role = |name: &str, verbs: &[&str]| -> Role {
        serde_json::from_value(json!({"metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]}))
        .unwrap()
    };
    roles
        .create(&PostParams::default(), &role("pod-reader", &["get"]))
        .await
        .unwrap();
    // Updates are checked too (and under the store's lock: a non-admin's
    // update once deadlocked the server, so each is bounded in time here).
    let relabel = json!({"metadata": {"labels": {"team": "a"}}});
    let patched = tokio::time::timeout(
        Duration::from_secs(10),
        roles.patch(
            "pod-reader",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&relabel),
        ),
    )
    .await
    .expect("updating a role hung the server");
    patched.unwrap();
    let grow =
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]});
    let err = api_error(
        tokio::time::timeout(
            Duration::from_secs(10),
            roles.patch(
                "pod-reader",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&grow),
            ),
        )
        .await
        .expect("updating a role hung the server")
        .unwrap_err(),
    );
    assert_eq!(err.code, 403, "{}", err.message);
    let err = api_error(
        roles
            .create(
                &PostParams::default(),
                &role("pod-deleter", &["get", "delete"]),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "roles.rbac.authorization.k8s.io \"pod-deleter\" is forbidden: user \"dana\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}"
    );
    // Binding: a role she holds, yes; cluster-admin, no.
    let bindings: Api<RoleBinding> = Api::namespaced(dana.clone(), &ns);
    let binding = |name: &str, kind: &str, role: &str| -> RoleBinding {
        serde_json::from_value(json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "erin"}]})).unwrap()
    };
    bindings
        .create(
            &PostParams::default(),
            &binding("erin-reads", "Role", "pod-reader"),
        )
        .await
        .unwrap();
    let err = api_error(
        bindings
            .create(
                &PostParams::default(),
                &binding("erin-admin", "ClusterRole", "cluster-admin"),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        err.message
    );
    // A binding's roleRef cannot change, and refers to a role kind.
    let admin_bindings: Api<RoleBinding> = env.api();
    let swap = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}});
    let err = api_error(
        admin_bindings
            .patch(
                "erin-reads",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&swap),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("cannot change roleRef"),
        "{}",
        err.message
    );
    let err = api_error(
        admin_bindings
            .create(&PostParams::default(), &binding("odd", "Secret", "x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("roleRef.kind: Unsupported value: \"Secret\""),
        "{}",
        err.message
    );
    // escalate limited by name does not help a create: as in kube-apiserver
    // the request of a create has no name to match.
    grant(
        &env,
        "named-escalator",
        "fay",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["create"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "resourceNames": ["wide"], "verbs": ["escalate"]}
        ]),
    )
    .await;
    let fay: Api<Role> = Api::namespaced(as_user(&env, "fay", &[]), &ns);
    let err = api_error(
        fay.create(&PostParams::default(), &role("wide", &["delete"]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403, "{}", err.message);
    // With escalate and bind she may.
    grant(
        &env,
        "escalator",
        "dana",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["cluster-admin"], "verbs": ["bind"]}
        ]),
    )
    .await;
    roles
        .create(
            &PostParams::default(),
            &role("pod-deleter", &["get", "delete"]),
        )
        .await
        .unwrap();
    bindings
        .create(
            &PostParams::default(),
            &binding("erin-admin", "ClusterRole", "cluster-admin"),
        )
        .await
        .unwrap();
    env.stop().await;
}

async fn whoami(client: Client) -> Result<(String, Vec<String>), kube::Error> {
    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok((
        info.username.unwrap_or_default(),
        info.groups.unwrap_or_default(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn impersonation_needs_the_impersonate_verb() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    // frank (a ServiceAccount) may impersonate the user "target" and the
    // group "auditors", nothing else.
    let may_impersonate: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "impersonator"},
        "rules": [
            {"apiGroups": [""], "resources": ["users"], "resourceNames": ["target"], "verbs": ["impersonate"]},
            {"apiGroups": [""], "resources": ["groups"], "resourceNames": ["auditors"], "verbs": ["impersonate"]}
        ]
    }))
    .unwrap();
    let frank = env
        .service_account("frank", [may_impersonate], [])
        .await
        .unwrap();
    let acting = |user: &str, groups: &[&str]| {
        let mut config = frank.config().clone();
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups =
            (!groups.is_empty()).then(|| groups.iter().map(|g| (*g).to_owned()).collect());
        Client::try_from(config).unwrap()
    };
    assert_eq!(
        whoami(acting("target", &["auditors"])).await.unwrap(),
        (
            "target".to_owned(),
            vec!["auditors".to_owned(), "system:authenticated".to_owned()]
        )
    );
    let err = api_error(whoami(acting("other", &[])).await.unwrap_err());
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        format!(
            "users \"other\" is forbidden: User \"system:serviceaccount:{ns}:frank\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        )
    );
    let err = api_error(
        whoami(acting("target", &["system:masters"]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message
            .starts_with("groups \"system:masters\" is forbidden"),
        "{}",
        err.message
    );
    env.stop().await;
}

/// A client certificate signed by the `--client-ca-file` CA authenticates
/// its CN as the user and each O as a group: what cert-operator issues for a
/// guest cluster's components.
#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_name_the_user_and_groups() {
    use base64::Engine as _;
    use cert_operator::pki::{Ca, CertRequest};
    let ca = Ca::generate("rbac-test").unwrap();
    let config = operatorkit::testing::ServerConfig {
        tls: true,
        client_ca: Some(ca.cert_pem().to_owned()),
        ..Default::default()
    };
    let env = TestEnv::start_with(config).await.unwrap();
    let Some(server) = env.embedded() else {
        eprintln!("skipped: needs the embedded server's --client-ca-file");
        return;
    };
    let issued = ca
        .issue(&CertRequest {
            common_name: "carol".into(),
            alt_names: Vec::new(),
            ip_sans: Vec::new(),
            organizations: vec!["devs".into(), "ops".into()],
            ttl: Duration::from_secs(3600),
            key_algorithm: apiextensions::core::cert_config::KeyAlgorithm::EcdsaP256,
            allow_bare_domains: false,
        })
        .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut config = server.kube_config(None);
    config.auth_info = kube::config::AuthInfo {
        client_certificate_data: Some(b64(&issued.cert_pem)),
        client_key_data: Some(b64(&issued.key_pem).into()),
        ..Default::default()
    };
    let carol = Client::try_from(config).unwrap();
    assert_eq!(
        whoami(carol.clone()).await.unwrap(),
        (
            "carol".to_owned(),
            vec![
                "devs".to_owned(),
                "ops".to_owned(),
                "system:authenticated".to_owned()
            ]
        )
    );
    // A certificate from another CA is not trusted: the server refuses the
    // handshake or treats the client as unauthenticated.
    let stranger_ca = Ca::generate("stranger").unwrap();
    let stranger = stranger_ca
        .issue(&CertRequest {
            organizations: vec![],
            common_name: "mallory".into(),
            alt_names: vec![],
            ip_sans: vec![],
            ttl: Duration::from_secs(3600),
            key_algorithm: apiextensions::core::cert_config::KeyAlgorithm::EcdsaP256,
            allow_bare_domains: false,
        })
        .unwrap();
    let mut config = server.kube_config(None);
    config.auth_info = kube::config::AuthInfo {
        client_certificate_data: Some(b64(&stranger.cert_pem)),
        client_key_data: Some(b64(&stranger.key_pem).into()),
        ..Default::default()
    };
    let mallory = Client::try_from(config).unwrap();
    let refused = whoami(mallory).await;
    assert!(
        refused.is_err(),
        "a certificate of another CA was accepted: {refused:?}"
    );
    env.stop().await;
}

/// Without credentials a request is system:anonymous (discovery and health
/// only), or 401 when anonymous requests are off.
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_requests_get_public_information_only() {
    let env = TestEnv::start().await.unwrap();
    let Some(server) = env.embedded() else {
        eprintln!("skipped: needs the embedded server's --anonymous-auth");
        return;
    };
    let url = server.url().to_owned();
    let (code, _) = e2e::support::http_get(&format!("{url}/version")).await;
    assert_eq!(code, 200);
    let (code, body) =
        e2e::support::http_get(&format!("{url}/api/v1/namespaces/default/pods")).await;
    assert_eq!(code, 403);
    assert!(body.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#), "{body}");
    let closed = TestEnv::start_with(operatorkit::testing::ServerConfig {
        anonymous: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = closed.embedded().unwrap().url().to_owned();
    let (code, body) = e2e::support::http_get(&format!("{url}/version")).await;
    assert_eq!(code, 401, "{body}");
    closed.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reviews_answer_who_and_may_i() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    grant(
        &env,
        "reader",
        "gina",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    )
    .await;
    let gina = as_user(&env, "gina", &["team"]);
    let who: SelfSubjectReview = Api::<SelfSubjectReview>::all(gina.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let info = who.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("gina"));
    assert_eq!(info.groups.unwrap(), ["team", "system:authenticated"]);
    let req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("Content-Type", "application/json")
        .body(b"[]".to_vec())
        .unwrap();
    let err = api_error(gina.request_text(req).await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "a review must be a JSON object")
    );
    let may = |verb: &str, resource: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.clone()),
                verb: Some(verb.to_owned()),
                resource: Some(resource.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(gina.clone());
    let yes = reviews
        .create(&PostParams::default(), &may("get", "configmaps"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(yes.allowed);
    assert_eq!(
        yes.reason.as_deref(),
        Some(
            format!(
                "RBAC: allowed by RoleBinding \"reader/{ns}\" of Role \"reader\" to User \"gina\""
            )
            .as_str()
        )
    );
    let no = reviews
        .create(&PostParams::default(), &may("delete", "configmaps"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(!no.allowed);
    let rules = Api::<SelfSubjectRulesReview>::all(gina)
        .create(
            &PostParams::default(),
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some(ns.clone()),
                },
                ..SelfSubjectRulesReview::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(rules.resource_rules.iter().any(|r| {
        r.resources.as_ref().is_some_and(|v| v == &["configmaps"]) && r.verbs == ["get", "list"]
    }));
    assert!(rules.non_resource_rules.iter().any(|r| {
        r.non_resource_urls
            .as_ref()
            .is_some_and(|u| u.contains(&"/version".to_owned()))
    }));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_tokens_are_checked_on_every_request() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    let identity = env.service_account("robot", [], []).await.unwrap();
    let robot = identity.client().unwrap();
    let who = Api::<SelfSubjectReview>::all(robot.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .user_info
        .unwrap();
    assert_eq!(
        who.username.as_deref(),
        Some(format!("system:serviceaccount:{ns}:robot").as_str())
    );
    assert_eq!(
        who.groups.unwrap(),
        [
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".to_owned()
        ]
    );
    // Without a binding it may not list pods; the message names the account.
    let err = api_error(
        Api::<Pod>::namespaced(robot.clone(), &ns)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        format!(
            "pods is forbidden: User \"system:serviceaccount:{ns}:robot\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
        )
    );
    // Deleting the account revokes its tokens; a new account of the same name
    // (another uid) does not revive them.
    let accounts: Api<ServiceAccount> = env.api();
    accounts.delete("robot", &Default::default()).await.unwrap();
    let err = api_error(
        Api::<SelfSubjectReview>::all(robot.clone())
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
    create(
        &accounts,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
    )
    .await;
    let err = api_error(
        Api::<SelfSubjectReview>::all(robot)
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 401);
    // A token from another server is not accepted.
    let other = TestEnv::start().await.unwrap();
    let foreign = other.service_account("robot", [], []).await.unwrap();
    let mut config = env.embedded().unwrap().kube_config(None);
    config.auth_info = foreign.config().auth_info.clone();
    let err = api_error(whoami(Client::try_from(config).unwrap()).await.unwrap_err());
    assert_eq!(err.code, 401);
    other.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_watch_survives_the_loss_of_its_binding_a_new_one_does_not() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    grant(
        &env,
        "watcher",
        "hank",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch", "list"]}]),
    )
    .await;
    let hank = as_user(&env, "hank", &[]);
    let api: Api<ConfigMap> = Api::namespaced(hank, &ns);
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    env.api::<RoleBinding>()
        .delete("watcher", &Default::default())
        .await
        .unwrap();
    create(&env.api::<ConfigMap>(), configmap("after-removal")).await;
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.next().await {
            if let Ok(WatchEvent::Added(cm)) = event
                && cm.metadata.name.as_deref() == Some("after-removal")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(seen, "the running watch kept delivering");
    let err = match api.watch(&WatchParams::default(), "0").await {
        Ok(_) => panic!("a new watch was allowed"),
        Err(e) => api_error(e),
    };
    assert_eq!(err.code, 403);
    env.stop().await;
}
