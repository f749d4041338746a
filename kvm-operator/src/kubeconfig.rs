//! The guest cluster's kubeconfigs (pure). Both carry certificates
//! cert-operator issued, never anything else:
//! - the admin's, in Secret `<cluster-id>-kubeconfig` (key `value`,
//!   Cluster API's convention, so users and CAPI-style tooling find it) in
//!   the KVMConfig's namespace, owned by the KVMConfig and rewritten when
//!   the admin certificate is rotated;
//! - kvm-operator's own, held in memory only, which it reaches the guest
//!   API with (mutual TLS, its `<id>-kvm-operator` certificate).

use std::collections::BTreeMap;

use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::{Resource, ResourceExt};

use crate::guest::Guest;
use crate::objects::Pem;
use crate::{KVMCONFIG_ANNOTATION, OPERATOR};

/// The Secret's key that holds the kubeconfig.
pub const SECRET_KEY: &str = "value";

/// `<cluster-id>-kubeconfig`: the admin kubeconfig Secret.
pub fn secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// A kubeconfig for guest cluster `cluster` at `server`, as `user` with the
/// client certificate `pem` (the cluster CA is the one it verifies the
/// server with).
pub fn kubeconfig(cluster: &str, server: &str, user: &str, pem: &Pem) -> Kubeconfig {
    let b64 = |b: &ByteString| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&b.0)
    };
    let context = format!("{user}@{cluster}");
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: cluster.to_owned(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority_data: Some(b64(&pem.ca)),
                ..Cluster::default()
            }),
            other: BTreeMap::new(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.to_owned(),
            auth_info: Some(AuthInfo {
                client_certificate_data: Some(b64(&pem.crt)),
                client_key_data: Some(b64(&pem.key).into()),
                ..AuthInfo::default()
            }),
            other: BTreeMap::new(),
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(KubeContext {
                cluster: cluster.to_owned(),
                user: Some(user.to_owned()),
                ..KubeContext::default()
            }),
            other: BTreeMap::new(),
        }],
        current_context: Some(context),
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        ..Kubeconfig::default()
    }
}

/// The admin kubeconfig Secret of `guest`, reaching its API at `server`
/// with the admin certificate `admin`.
pub fn secret(guest: &Guest<'_>, server: &str, admin: &Pem) -> Result<Secret, serde_yaml::Error> {
    let config = guest.config;
    let text = serde_yaml::to_string(&kubeconfig(guest.id, server, "admin", admin))?;
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(guest.id)),
            namespace: config.namespace(),
            labels: Some(BTreeMap::from([
                (CLUSTER_LABEL.to_owned(), guest.id.to_owned()),
                (MANAGED_BY_LABEL.to_owned(), OPERATOR.to_string()),
                (COMPONENT_LABEL.to_owned(), "kubeconfig".to_owned()),
            ])),
            annotations: Some(BTreeMap::from([(
                KVMCONFIG_ANNOTATION.to_owned(),
                guest.owner(),
            )])),
            owner_references: config.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(
            SECRET_KEY.to_owned(),
            ByteString(text.into_bytes()),
        )])),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem() -> Pem {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        Pem {
            ca: b("CA"),
            crt: b("CRT"),
            key: b("KEY"),
        }
    }

    #[test]
    fn the_kubeconfig_reads_back_with_the_issued_certificate() {
        let config = crate::guest::tests::example();
        let guest = Guest::new(&config);
        let secret = secret(&guest, "https://api.def34.example.com", &pem()).unwrap();
        assert_eq!(secret.name_any(), "def34-kubeconfig");
        assert_eq!(secret.namespace(), config.namespace());
        let text = &secret.data.as_ref().unwrap()[SECRET_KEY].0;
        let read: Kubeconfig = serde_yaml::from_slice(text).unwrap();
        let cluster = read.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.server.as_deref(),
            Some("https://api.def34.example.com")
        );
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        let user = read.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.client_certificate_data.as_deref(), Some("Q1JU"));
        assert!(user.client_key_data.is_some());
        let yaml = String::from_utf8_lossy(text);
        assert!(yaml.contains("client-key-data: S0VZ"), "{yaml}");
        assert_eq!(read.current_context.as_deref(), Some("admin@def34"));
    }
}
