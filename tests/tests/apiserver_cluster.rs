//! What every cluster has from its first second, through kube's client: the
//! `kubernetes` Service in `default` with the Endpoints and EndpointSlice of
//! the API server's address, and in every namespace the `default`
//! ServiceAccount and the `kube-root-ca.crt` ConfigMap, put back when
//! deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::DeleteParams;
use operatorkit::testing::{TestEnv, wait_for};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_service_points_at_the_api_server() {
    let env = TestEnv::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(env.client(), "default");
    let svc = services.get("kubernetes").await.unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("https"), 443));
    let labels = svc.metadata.labels.unwrap();
    assert_eq!(labels["component"], "apiserver");

    let endpoints: Api<Endpoints> = Api::namespaced(env.client(), "default");
    let subset = &endpoints.get("kubernetes").await.unwrap().subsets.unwrap()[0];
    let ip = subset.addresses.as_ref().unwrap()[0].ip.clone();
    let ep_port = subset.ports.as_ref().unwrap()[0].port;
    let slices: Api<EndpointSlice> = Api::namespaced(env.client(), "default");
    let slice = slices.get("kubernetes").await.unwrap();
    assert_eq!(slice.endpoints[0].addresses, std::slice::from_ref(&ip));
    assert_eq!(slice.ports.unwrap()[0].port, Some(ep_port));
    if let Some(server) = env.embedded() {
        // The embedded server's own address and port.
        let url = server.url().to_owned();
        assert!(
            url.ends_with(&format!("{ip}:{ep_port}")),
            "{url} vs {ip}:{ep_port}"
        );
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
        // Deleted, they come back, as kube-apiserver's reconciler puts them back.
        endpoints
            .delete("kubernetes", &DeleteParams::default())
            .await
            .unwrap();
        let back = wait_for(&endpoints, "kubernetes", WAIT, |e| e.is_some())
            .await
            .unwrap();
        assert_eq!(
            back.unwrap().subsets.unwrap()[0]
                .addresses
                .as_ref()
                .unwrap()[0]
                .ip,
            ip
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_namespace_gets_its_service_account_and_root_ca() {
    let env = TestEnv::start().await.unwrap();
    for ns in [
        env.namespace().to_owned(),
        env.extra_namespace().await.unwrap(),
    ] {
        let accounts: Api<ServiceAccount> = Api::namespaced(env.client(), &ns);
        wait_for(&accounts, "default", WAIT, |a| a.is_some())
            .await
            .unwrap();
        let maps: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
        let ca = wait_for(&maps, "kube-root-ca.crt", WAIT, |c| c.is_some())
            .await
            .unwrap()
            .unwrap();
        let pem = &ca.data.unwrap()["ca.crt"];
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

        let uid = accounts.get("default").await.unwrap().metadata.uid;
        accounts
            .delete("default", &DeleteParams::default())
            .await
            .unwrap();
        let back = wait_for(&accounts, "default", WAIT, |a| {
            a.is_some_and(|a| a.metadata.uid != uid)
        })
        .await
        .unwrap();
        assert!(back.is_some(), "the default ServiceAccount is put back");
    }
    env.stop().await;
}
