//! cert-operator with the built-in CA, black-box through
//! `operatorkit::testing`: issued Secrets (checked with `openssl verify`),
//! SANs, organisations, validity and key; re-issue on a spec change and near
//! expiry; disableRegeneration; bad input; deletion ordering with the
//! cluster's pods and the CA going with the last CertConfig; metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::CertConfig;
use cert_operator::backend::builtin::ca_secret_name;
use cert_operator::certificate::PODS_RECHECK;
use cert_operator::pki::{Ca, CertRequest, verify_bundle};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::testing::{SimulationOptions, wait_for};
use serde_json::json;

use e2e::certs::{
    WAIT, args, bundle, certconfig, env, field, now, openssl_verify, ready, ready_condition, start,
    wait_for_ready_reason,
};

#[tokio::test(flavor = "multi_thread")]
async fn issues_a_verified_secret_and_reissues_when_the_spec_changes() {
    let env = env().await;
    let run = start(&env, &args("720h")).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("c");
    let name = format!("{cluster}-api");
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    let cc = wait_for(&api, &name, WAIT, ready).await.unwrap().unwrap();
    let secret = secrets.get(&format!("{cluster}-api")).await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(secret.labels()["operatorkit.dev/cluster"], cluster);
    assert_eq!(secret.labels()["operatorkit.dev/component"], "api");
    assert!(
        secret
            .annotations()
            .contains_key(cert_operator::HASH_ANNOTATION)
    );
    assert_eq!(secret.owner_references()[0].uid, cc.uid().unwrap());
    openssl_verify(&secret);
    let info = bundle(&secret).unwrap();
    assert_eq!(info.common_name, format!("api.{cluster}.k8s.example.com"));
    assert!(
        info.dns_names
            .contains(&"kubernetes.default.svc".to_owned())
    );
    assert!(info.dns_names.contains(&info.common_name));
    assert_eq!(info.ip_addresses.len(), 2);
    assert_eq!(info.organizations, ["operators", "system:masters"]);
    assert!((48 * 3600..=48 * 3600 + 600).contains(&(info.not_after - info.not_before)));
    assert_eq!(ready_condition(&cc).reason, "Issued");
    let status = cc.status.unwrap();
    assert_eq!(
        status.secret_name.as_deref(),
        Some(format!("{cluster}-api").as_str())
    );
    assert_eq!(status.serial_number.as_deref(), Some(info.serial.as_str()));
    assert_eq!(status.not_after.unwrap().0.as_second(), info.not_after);
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "Issued", WAIT).await;
    // The CA is the cluster's, kept in its own Secret.
    let ca = secrets.get(&format!("{cluster}-ca")).await.unwrap();
    assert_eq!(field(&ca, "ca.crt"), field(&secret, "ca.crt"));

    // A spec change re-issues, with the new name in the certificate.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"altNames": ["extra.example.com"]}})),
    )
    .await
    .unwrap();
    let old_serial = info.serial.clone();
    let reissued = wait_for(
        &secrets,
        &format!("{cluster}-api"),
        WAIT,
        |s: Option<&Secret>| s.is_some_and(|s| bundle(s).is_ok_and(|i| i.serial != old_serial)),
    )
    .await
    .unwrap()
    .unwrap();
    let info = bundle(&reissued).unwrap();
    assert!(info.dns_names.contains(&"extra.example.com".to_owned()));
    assert!(!info.dns_names.contains(&"kubernetes".to_owned()));
    // Same CA for the whole cluster.
    assert_eq!(field(&reissued, "ca.crt"), field(&ca, "ca.crt"));
    let run_metrics = run.metrics().encode().unwrap();
    assert!(
        run_metrics.contains("cert_operator_certificates_issued_total{backend=\"builtin\"} 2"),
        "{run_metrics}"
    );
    assert!(
        run_metrics.contains("cert_operator_certificate_expiry_timestamp_seconds{"),
        "{run_metrics}"
    );
    let (code, text) =
        e2e::support::http_get(&format!("{}/metrics", run.health_url().unwrap())).await;
    assert_eq!(code, 200);
    let (ok, output) = e2e::support::promtool_check_metrics(&text);
    assert!(ok && output.trim().is_empty(), "promtool: {output}");

    // Steady state: nothing more is written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = run.requests().writes();
    let (_, _) = (
        api.get(&name).await.unwrap(),
        tokio::time::sleep(Duration::from_millis(1500)).await,
    );
    assert_eq!(
        run.requests().writes(),
        writes,
        "{:?}",
        run.requests().snapshot()
    );
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renews_near_expiry_but_not_with_disable_regeneration() {
    let env = env().await;
    let run = start(&env, &args("720h")).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("c");
    for (component, frozen) in [("worker", false), ("etcd", true)] {
        let name = format!("{cluster}-{component}");
        api.create(
            &PostParams::default(),
            &certconfig(
                &name,
                &cluster,
                component,
                json!({"disableRegeneration": frozen}),
            ),
        )
        .await
        .unwrap();
        wait_for(&api, &name, WAIT, ready).await.unwrap();
    }
    // Replace both certificates by ones that expire in two minutes, signed by
    // the cluster CA, as if time had passed.
    let ca_secret = secrets.get(&format!("{cluster}-ca")).await.unwrap();
    let ca = Ca::from_pem(&field(&ca_secret, "ca.crt"), &field(&ca_secret, "ca.key")).unwrap();
    let mut short_serials = Vec::new();
    for component in ["worker", "etcd"] {
        let cc = api.get(&format!("{cluster}-{component}")).await.unwrap();
        let mut request = CertRequest::from_spec(
            &cc.spec,
            apiextensions::core::cert_config::KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
        request.ttl = Duration::from_secs(120);
        let short = ca.issue(&request).unwrap();
        let patch = json!({"data": {
            "tls.crt": ByteString(short.cert_pem.as_bytes().to_vec()),
            "tls.key": ByteString(short.key_pem.as_bytes().to_vec()),
        }});
        secrets
            .patch(
                &format!("{cluster}-{component}"),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .unwrap();
        short_serials.push(
            verify_bundle(ca.cert_pem(), &short.cert_pem, &short.key_pem, now())
                .unwrap()
                .serial,
        );
    }
    // The worker certificate is renewed (48h again) ...
    let renewed = wait_for(
        &secrets,
        &format!("{cluster}-worker"),
        WAIT,
        |s: Option<&Secret>| {
            s.is_some_and(|s| bundle(s).is_ok_and(|i| i.not_after - now() > 24 * 3600))
        },
    )
    .await
    .unwrap()
    .unwrap();
    openssl_verify(&renewed);
    e2e::support::wait_for_event(
        &env.api::<Event>(),
        &format!("{cluster}-worker"),
        "Renewed",
        WAIT,
    )
    .await;
    assert!(
        run.metrics()
            .encode()
            .unwrap()
            .contains("cert_operator_certificates_renewed_total{backend=\"builtin\"} 1")
    );
    // ... the frozen one is left as it is.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frozen = secrets.get(&format!("{cluster}-etcd")).await.unwrap();
    let info = bundle(&frozen).unwrap();
    assert_eq!(info.serial, short_serials[1]);
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_becomes_a_condition_and_an_event_and_writes_nothing() {
    let env = env().await;
    let run = start(&env, &args("720h")).await;
    let api: Api<CertConfig> = env.api();
    let cluster = env.name("c");
    let name = format!("{cluster}-api");
    // A lifetime the schema accepts but no certificate can have.
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({"ttl": "99999999h"})),
    )
    .await
    .unwrap();
    let condition = ready_condition(&wait_for_ready_reason(&api, &name, "InvalidSpec").await);
    assert_eq!(condition.status, "False");
    assert!(condition.message.contains("spec.ttl"), "{condition:?}");
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "InvalidSpec", WAIT).await;
    let secrets: Api<Secret> = env.api();
    assert!(
        secrets
            .get_opt(&format!("{cluster}-api"))
            .await
            .unwrap()
            .is_none()
    );
    // Fixed, it is issued.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ttl": "24h"}})),
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_waits_for_the_clusters_pods_and_the_last_certconfig_takes_the_ca() {
    let env = env().await;
    let run = start(&env, &args("720h")).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let pods: Api<Pod> = env.api();
    let cluster = env.name("c");
    // The cluster's VM first, as kvm-operator runs it: a Deployment whose pod
    // the simulated cluster schedules and starts, and which takes 3 s to stop.
    env.simulate(SimulationOptions::default()).await.unwrap();
    let deployments: Api<Deployment> = env.api();
    let vm = env.name("vm");
    e2e::support::guest_vm(&env, &vm, &cluster).await;
    for component in ["api", "worker"] {
        let name = format!("{cluster}-{component}");
        api.create(
            &PostParams::default(),
            &certconfig(&name, &cluster, component, json!({})),
        )
        .await
        .unwrap();
        wait_for(&api, &name, WAIT, ready).await.unwrap();
    }

    // The API certificate is kept while the cluster's pod runs.
    let api_name = format!("{cluster}-api");
    api.delete(&api_name, &DeleteParams::default())
        .await
        .unwrap();
    let waiting = wait_for_ready_reason(&api, &api_name, "WaitingForPods").await;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(secrets.get_opt(&api_name).await.unwrap().is_some());

    // The VM goes: its pod terminates gracefully (the certificate is kept
    // meanwhile), then the Secret goes, then the CertConfig; the CA stays for
    // the worker certificate. The pod's deletion event brings the waiting
    // CertConfig back: well before the fallback recheck, which is not what
    // ends the wait.
    deployments
        .delete(&vm, &DeleteParams::default())
        .await
        .unwrap();
    let selector = format!("operatorkit.dev/cluster={cluster}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let terminating = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the VM's pod never terminated"
        );
        let listed = pods
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
            .unwrap();
        if let Some(p) = listed
            .items
            .into_iter()
            .find(|p| p.metadata.deletion_timestamp.is_some())
        {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        pods.get_opt(&terminating.name_any())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        secrets.get_opt(&api_name).await.unwrap().is_some(),
        "kept while the pod terminates"
    );
    let before_fallback = PODS_RECHECK.saturating_sub(std::time::Duration::from_secs(20));
    wait_for(
        &api,
        &api_name,
        before_fallback,
        |c: Option<&CertConfig>| c.is_none(),
    )
    .await
    .unwrap();
    assert!(secrets.get_opt(&api_name).await.unwrap().is_none());
    let ca = ca_secret_name(&cluster);
    assert!(secrets.get_opt(&ca).await.unwrap().is_some());

    // Mid-upgrade, a CertConfig of the cluster labelled for another
    // version (which this operator does not see) still uses the CA: the
    // worker's deletion leaves it.
    let etcd = format!("{cluster}-etcd");
    let version_label = cert_operator::OPERATOR.version_label();
    let mut other = certconfig(&etcd, &cluster, "etcd", json!({}));
    other
        .labels_mut()
        .insert(version_label.clone(), "2.0.0".into());
    api.create(&PostParams::default(), &other).await.unwrap();
    api.delete(&format!("{cluster}-worker"), &DeleteParams::default())
        .await
        .unwrap();
    let worker = format!("{cluster}-worker");
    wait_for(&api, &worker, WAIT, |c: Option<&CertConfig>| c.is_none())
        .await
        .unwrap();
    assert!(secrets.get_opt(&worker).await.unwrap().is_none());
    assert!(
        secrets.get_opt(&ca).await.unwrap().is_some(),
        "the CA another version's CertConfig uses is kept"
    );

    // Rolled back to this version, it is issued from that CA; as the
    // cluster's last CertConfig, it takes the CA with it.
    let labels = serde_json::Map::from_iter([(version_label, json!(e2e::certs::VERSION))]);
    let relabel = json!({"metadata": {"labels": labels}});
    api.patch(&etcd, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    wait_for(&api, &etcd, WAIT, ready).await.unwrap();
    api.delete(&etcd, &DeleteParams::default()).await.unwrap();
    wait_for(&secrets, &ca, WAIT, |s: Option<&Secret>| s.is_none())
        .await
        .unwrap();
    assert!(secrets.get_opt(&etcd).await.unwrap().is_none());
    assert!(
        !run.metrics()
            .encode()
            .unwrap()
            .contains(&format!("certconfig=\"{cluster}-api\""))
    );
    run.stop().await;
    env.stop().await;
}

/// Loops cert-operator has run, whatever their result.
fn loops(run: &operatorkit::testing::OperatorRun) -> f64 {
    e2e::widget::metric(run, "operatorkit_reconcile_total", &[])
}

/// A (re)started cert-operator runs no loop before its caches have listed:
/// one that read the Secret cache before its first list would find no
/// certificate and issue a second one. As a ServiceAccount that may not
/// list Secrets yet, the CertConfig waits untouched; once it may, the loop
/// keeps the certificate it finds.
#[tokio::test(flavor = "multi_thread")]
async fn no_loop_runs_before_the_caches_have_listed() {
    let env = env().await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("c");
    // The CertConfig and its Secret.
    let name = format!("{cluster}-api");
    let run = start(&env, &args("720h")).await;
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    run.stop().await;
    let issued = field(&secrets.get(&name).await.unwrap(), "tls.crt");

    let (shipped, roles) = e2e::manifests::rbac_roles("cert-operator");
    let mut unlisted = shipped.clone();
    for rule in unlisted
        .iter_mut()
        .flat_map(|r| r.rules.iter_mut().flatten())
    {
        if rule.resources.iter().flatten().any(|r| r == "secrets") {
            rule.verbs.retain(|v| v != "list" && v != "watch");
        }
    }
    let identity = env
        .service_account("unlisted", unlisted, roles)
        .await
        .unwrap();
    let run = e2e::certs::start_as(&env, &identity, &args("720h"), false).await;
    // The CertConfig cache lists at once; the Secret cache cannot.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        loops(&run),
        0.0,
        "a loop ran before the Secret cache listed"
    );
    let now_held = field(&secrets.get(&name).await.unwrap(), "tls.crt");
    assert_eq!(now_held, issued, "the certificate was issued again");

    // Allowed to list: the Secret watch lists on its next try, the loop runs.
    let roles: Api<ClusterRole> = Api::all(env.client());
    let mut role = roles.get(&identity.cluster_roles()[0]).await.unwrap();
    role.rules.clone_from(&shipped[0].rules);
    roles
        .replace(&role.name_any(), &PostParams::default(), &role)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    while loops(&run) == 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no loop once listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    let kept = field(&secrets.get(&name).await.unwrap(), "tls.crt");
    assert_eq!(kept, issued, "the certificate was issued again");
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_secret_is_repaired_whole() {
    let env = env().await;
    let run = start(&env, &args("720h")).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("c");
    let name = format!("{cluster}-api");
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    let before = bundle(&secrets.get(&name).await.unwrap()).unwrap();
    // Someone removes the key: the next loop (the Secret's change triggers
    // it) issues a whole new bundle.
    secrets
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"tls.key": null}})),
        )
        .await
        .unwrap();
    let repaired = wait_for(&secrets, &name, WAIT, |s: Option<&Secret>| {
        s.is_some_and(|s| s.data.as_ref().is_some_and(|d| d.contains_key("tls.key")))
    })
    .await
    .unwrap()
    .unwrap();
    let after = bundle(&repaired).unwrap();
    assert_ne!(after.serial, before.serial);
    openssl_verify(&repaired);
    run.stop().await;
    env.stop().await;
}

/// A backend that returns a certificate whose key is not its own.
struct Mismatched(cert_operator::backend::builtin::Builtin);

#[async_trait::async_trait]
impl cert_operator::backend::Backend for Mismatched {
    fn name(&self) -> &'static str {
        "mismatched"
    }
    async fn issue(
        &self,
        request: &operatorkit::Context<CertConfig>,
        scope: &cert_operator::backend::Scope,
        cert: &cert_operator::pki::CertRequest,
    ) -> Result<cert_operator::pki::IssuedCert, cert_operator::backend::BackendError> {
        let mut a = self.0.issue(request, scope, cert).await?;
        let b = self.0.issue(request, scope, cert).await?;
        a.key_pem = b.key_pem;
        Ok(a)
    }
    async fn delete_cluster(
        &self,
        request: &operatorkit::Context<CertConfig>,
        scope: &cert_operator::backend::Scope,
    ) -> Result<(), cert_operator::backend::BackendError> {
        self.0.delete_cluster(request, scope).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_whose_key_does_not_match_is_never_written() {
    let env = env().await;
    let backend = std::sync::Arc::new(Mismatched(
        cert_operator::backend::builtin::Builtin::default(),
    ));
    let op =
        cert_operator::operator(e2e::certs::VERSION, backend, args("720h").settings()).unwrap();
    let run = env
        .run_operator(op, operatorkit::Settings::default())
        .await
        .unwrap();
    let api: Api<CertConfig> = env.api();
    let cluster = env.name("c");
    let name = format!("{cluster}-api");
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    let condition = ready_condition(&wait_for_ready_reason(&api, &name, "IssueFailed").await);
    assert!(
        condition.message.contains("does not belong"),
        "{condition:?}"
    );
    let secrets: Api<Secret> = env.api();
    assert!(secrets.get_opt(&name).await.unwrap().is_none());
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_go_to_the_namespace_the_flag_names() {
    let env = env().await;
    let certs_ns = env.extra_namespace().await.unwrap();
    let mut a = args("720h");
    a.secret_namespace = Some(certs_ns.clone());
    let run = start(&env, &a).await;
    let api: Api<CertConfig> = env.api();
    let cluster = env.name("c");
    let name = format!("{cluster}-api");
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(env.client(), &certs_ns);
    let secret = secrets.get(&name).await.unwrap();
    openssl_verify(&secret);
    // No owner reference across namespaces; the annotation maps it back.
    assert!(secret.owner_references().is_empty());
    assert_eq!(
        secret.annotations()[cert_operator::CERTCONFIG_ANNOTATION],
        format!("{}/{name}", env.namespace())
    );
    assert!(
        secrets
            .get_opt(&format!("{cluster}-ca"))
            .await
            .unwrap()
            .is_some()
    );
    let local: Api<Secret> = env.api();
    assert!(local.get_opt(&name).await.unwrap().is_none());
    // Deleted behind the operator's back, it comes back (the watch is there).
    secrets
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&secrets, &name, WAIT, |s: Option<&Secret>| {
        s.is_some_and(|s| s.uid() != secret.uid())
    })
    .await
    .unwrap();
    // Deletion cleans up there too.
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_for(
        &secrets,
        &format!("{cluster}-ca"),
        WAIT,
        |s: Option<&Secret>| s.is_none(),
    )
    .await
    .unwrap();
    assert!(secrets.get_opt(&name).await.unwrap().is_none());
    run.stop().await;
    env.stop().await;
}
