//! cert-operator with the Vault PKI backend against a real OpenBao (dev mode
//! on a free loopback port): issued chains verify with `openssl verify`, one
//! mount and CA per cluster, roles per organisation set; an outage is a
//! condition and an Event, backed off and recovered from; the last
//! CertConfig of a cluster takes its mount.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::CertConfig;
use cert_operator::backend::vault::client::{
    IssueRequest, KeyType, Token, Vault, VaultConfig, VaultError,
};
use cert_operator::settings::{BackendKind, CertArgs};
use e2e::certs::{
    WAIT, args, bundle, certconfig, env, field, openssl_verify, ready, ready_condition, start,
    wait_for_ready_reason,
};
use e2e::openbao::OpenBao;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, PostParams};
use operatorkit::testing::wait_for;
use serde_json::json;

fn vault_args(bao: &OpenBao) -> (CertArgs, std::path::PathBuf) {
    let token_file = std::env::temp_dir().join(format!("okt-vault-token-{}", fastrand::u64(..)));
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let mut a = args("720h");
    a.backend = BackendKind::Vault;
    a.vault_address = Some(bao.address());
    a.vault_token_file = Some(token_file.clone());
    (a, token_file)
}

fn client(bao: &OpenBao) -> Vault {
    Vault::new(VaultConfig {
        address: bao.address(),
        token: Token::new(bao.root_token()),
        request_timeout: std::time::Duration::from_secs(5),
        ca_pem: bao.ca_file().map(|f| std::fs::read(f).unwrap()),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_behind_a_private_ca_is_reached_with_vault_ca_file_and_refused_without() {
    let bao = OpenBao::start_tls().await.unwrap();
    assert!(bao.address().starts_with("https://"));
    let env = env().await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("t");
    let name = format!("{cluster}-api");

    // Without the CA the server's certificate is not trusted: a condition
    // that says so, and nothing written.
    let (args, token_file) = vault_args(&bao);
    assert!(args.vault_ca_file.is_none());
    let run = start(&env, &args).await;
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    let refused = wait_for_ready_reason(&api, &name, "BackendUnavailable").await;
    let message = ready_condition(&refused).message;
    assert!(message.contains("certificate"), "{message}");
    assert!(secrets.get_opt(&name).await.unwrap().is_none());
    run.stop().await;

    // --vault-ca-file: the same CertConfig is issued over TLS.
    let mut args = args;
    args.vault_ca_file = bao.ca_file();
    let run = start(&env, &args).await;
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    let secret = secrets.get(&name).await.unwrap();
    openssl_verify(&secret);
    assert_eq!(
        client(&bao).ensure_ca(&cluster).await.unwrap().trim(),
        field(&secret, "ca.crt").trim()
    );
    run.stop().await;
    env.stop().await;
    let _ = std::fs::remove_file(token_file);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_issues_verified_chains_per_cluster_and_cleans_up_its_mount() {
    let bao = OpenBao::start().await.unwrap();
    let env = env().await;
    let (args, token_file) = vault_args(&bao);
    let run = start(&env, &args).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("v");
    let extra = [
        ("api", json!({})),
        (
            "worker",
            json!({"organizations": ["system:nodes"], "keyAlgorithm": "RSA-2048"}),
        ),
    ];
    for (component, spec) in &extra {
        let name = format!("{cluster}-{component}");
        api.create(
            &PostParams::default(),
            &certconfig(&name, &cluster, component, spec.clone()),
        )
        .await
        .unwrap();
        wait_for(&api, &name, WAIT, ready).await.unwrap();
    }
    let api_secret = secrets.get(&format!("{cluster}-api")).await.unwrap();
    let worker_secret = secrets.get(&format!("{cluster}-worker")).await.unwrap();
    openssl_verify(&api_secret);
    openssl_verify(&worker_secret);
    let api_info = bundle(&api_secret).unwrap();
    assert_eq!(api_info.organizations, ["operators", "system:masters"]);
    assert!(
        api_info
            .dns_names
            .contains(&"kubernetes.default.svc".to_owned())
    );
    assert_eq!(api_info.ip_addresses.len(), 2);
    assert!(
        (48 * 3600 - 120..=48 * 3600 + 120).contains(&(api_info.not_after - api_info.not_before))
    );
    let worker_info = bundle(&worker_secret).unwrap();
    assert_eq!(worker_info.organizations, ["system:nodes"]);
    assert!(field(&worker_secret, "tls.key").contains("PRIVATE KEY"));
    // One CA for the cluster, held by Vault (no CA Secret in the cluster).
    assert_eq!(
        field(&api_secret, "ca.crt"),
        field(&worker_secret, "ca.crt")
    );
    assert!(
        secrets
            .get_opt(&format!("{cluster}-ca"))
            .await
            .unwrap()
            .is_none()
    );
    let vault = client(&bao);
    assert_eq!(
        vault.ensure_ca(&cluster).await.unwrap().trim(),
        field(&api_secret, "ca.crt").trim()
    );
    assert!(
        run.metrics()
            .encode()
            .unwrap()
            .contains("cert_operator_certificates_issued_total{backend=\"vault\"} 2")
    );

    // The last CertConfig of the cluster takes the mount with it.
    for component in ["api", "worker"] {
        api.delete(&format!("{cluster}-{component}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    for component in ["api", "worker"] {
        wait_for(
            &api,
            &format!("{cluster}-{component}"),
            WAIT,
            |c: Option<&CertConfig>| c.is_none(),
        )
        .await
        .unwrap();
    }
    let request = IssueRequest {
        common_name: "x.example.com".into(),
        alt_names: vec![],
        ip_sans: vec![],
        organizations: vec![],
        ttl: std::time::Duration::from_secs(3600),
        key_type: KeyType::EcP256,
        allow_bare_domains: false,
    };
    let gone = client(&bao).issue(&cluster, &request).await;
    assert!(matches!(gone, Err(VaultError::NotFound(_))), "{gone:?}");
    run.stop().await;
    env.stop().await;
    let _ = std::fs::remove_file(token_file);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_outage_is_a_condition_and_an_event_and_is_recovered_from() {
    let mut bao = OpenBao::start().await.unwrap();
    let env = env().await;
    let (args, token_file) = vault_args(&bao);
    let run = start(&env, &args).await;
    let api: Api<CertConfig> = env.api();
    let cluster = env.name("v");
    let name = format!("{cluster}-api");

    bao.stop().await;
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    let down = wait_for_ready_reason(&api, &name, "BackendUnavailable").await;
    assert!(down.status.unwrap().secret_name.is_none());
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "BackendUnavailable", WAIT).await;
    let secrets: Api<Secret> = env.api();
    assert!(
        secrets.get_opt(&name).await.unwrap().is_none(),
        "nothing may be written during the outage"
    );
    assert!(
        !run.metrics()
            .encode()
            .unwrap()
            .contains("cert_operator_backend_errors_total{backend=\"vault\"} 0")
    );

    // Back up (empty, as a dev server restarts): the operator recovers by itself.
    bao.restart().await.unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    openssl_verify(&secrets.get(&name).await.unwrap());
    run.stop().await;
    env.stop().await;
    let _ = std::fs::remove_file(token_file);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_certificates_are_renewed_and_outlive_the_clusters_pods() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;
    use kube::api::{Patch, PatchParams};

    let bao = OpenBao::start().await.unwrap();
    let env = env().await;
    let (args, token_file) = vault_args(&bao);
    let run = start(&env, &args).await;
    let api: Api<CertConfig> = env.api();
    let secrets: Api<Secret> = env.api();
    let cluster = env.name("v");
    let name = format!("{cluster}-api");
    // A pod of the cluster, running all along.
    let pods: Api<Pod> = env.api();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": env.name("vm"), "labels": {"operatorkit.dev/cluster": cluster}},
        "spec": {"containers": [{"name": "vm", "image": "example/vm:1"}]}
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    api.create(
        &PostParams::default(),
        &certconfig(&name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, ready).await.unwrap();
    let first = bundle(&secrets.get(&name).await.unwrap()).unwrap();

    // A spec change re-issues.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"organizations": ["system:masters"]}})),
    )
    .await
    .unwrap();
    let changed = wait_for(&secrets, &name, WAIT, |s: Option<&Secret>| {
        s.is_some_and(|s| bundle(s).is_ok_and(|i| i.organizations == ["system:masters"]))
    })
    .await
    .unwrap()
    .unwrap();
    assert_ne!(bundle(&changed).unwrap().serial, first.serial);

    // Near expiry (a two-minute certificate from the same Vault): renewed.
    let short = client(&bao)
        .issue(
            &cluster,
            &IssueRequest {
                common_name: format!("api.{cluster}.k8s.example.com"),
                alt_names: vec![],
                ip_sans: vec![],
                organizations: vec!["system:masters".into()],
                ttl: std::time::Duration::from_secs(120),
                key_type: KeyType::EcP256,
                allow_bare_domains: false,
            },
        )
        .await
        .unwrap();
    let patch = json!({"data": {
        "tls.crt": ByteString(short.certificate.as_bytes().to_vec()),
        "tls.key": ByteString(short.private_key.as_bytes().to_vec()),
    }});
    secrets
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let renewed = wait_for(&secrets, &name, WAIT, |s: Option<&Secret>| {
        s.is_some_and(|s| bundle(s).is_ok_and(|i| i.not_after - e2e::certs::now() > 24 * 3600))
    })
    .await
    .unwrap()
    .unwrap();
    openssl_verify(&renewed);
    e2e::support::wait_for_event(&env.api::<Event>(), &name, "Renewed", WAIT).await;

    // Deletion waits for the cluster's pods (the pod was created first, so
    // the operator's pod cache has it).
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_for_ready_reason(&api, &name, "WaitingForPods").await;
    assert!(secrets.get_opt(&name).await.unwrap().is_some());
    pods.delete(&pod.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&api, &name, WAIT, |c: Option<&CertConfig>| c.is_none())
        .await
        .unwrap();
    assert!(secrets.get_opt(&name).await.unwrap().is_none());
    run.stop().await;
    env.stop().await;
    let _ = std::fs::remove_file(token_file);
}

/// The last two CertConfigs of a cluster deleted together both remove its
/// mount. Two unmounts of one path at once wedge OpenBao 2.7.2 (every later
/// mount request hangs), so the client makes them one at a time: afterwards
/// Vault still answers and the mount can be made again.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_mount_deletions_leave_vault_working() {
    let bao = OpenBao::start().await.unwrap();
    let vault = client(&bao);
    for round in 0..4 {
        let cluster = format!("race{round}");
        vault.ensure_ca(&cluster).await.unwrap();
        let deletions: Vec<_> = (0..3)
            .map(|_| {
                let vault = vault.clone();
                let cluster = cluster.clone();
                tokio::spawn(async move { vault.delete_cluster(&cluster).await })
            })
            .collect();
        for d in deletions {
            d.await.unwrap().unwrap();
        }
        // Made again from scratch: the mount table still takes changes.
        let again = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            vault.ensure_ca(&cluster),
        )
        .await
        .expect("OpenBao's mount table is wedged");
        again.unwrap();
    }
}
