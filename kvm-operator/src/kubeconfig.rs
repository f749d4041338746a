//! The guest cluster's kubeconfigs (pure). Both carry certificates
//! cert-operator issued, never anything else:
//! - the admin's, in Secret `<cluster-id>-kubeconfig` (key `value`,
//!   Cluster API's convention, so users and CAPI-style tooling find it) in
//!   the KVMConfig's namespace, owned by the KVMConfig and rewritten when
//!   the admin certificate is rotated;
//! - kvm-operator's own ([`apiextensions::certificates::kubeconfig`]), held in memory only, which it reaches the guest
//!   API with (mutual TLS, its `<id>-kvm-operator` certificate).

use std::collections::BTreeMap;

use apiextensions::certificates::{Pem, admin_kubeconfig, kubeconfig_secret_name};
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::guest::Guest;
use crate::{KVMCONFIG_ANNOTATION, OPERATOR};

/// The admin kubeconfig Secret of `guest`, reaching its API at `server`
/// with the admin certificate `admin`.
pub fn secret(guest: &Guest<'_>, server: &str, admin: &Pem) -> Result<Secret, serde_yaml::Error> {
    let config = guest.config;
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(kubeconfig_secret_name(guest.id)),
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
        data: Some(admin_kubeconfig(guest.id, server, admin)?),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::certificates::KUBECONFIG_KEY;
    use k8s_openapi::ByteString;

    #[test]
    fn the_secret_is_the_kvmconfigs() {
        let config = crate::guest::tests::example();
        let guest = Guest::new(&config);
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        let pem = Pem {
            ca: b("CA"),
            crt: b("CRT"),
            key: b("KEY"),
        };
        let secret = secret(&guest, "https://api.def34.example.com", &pem).unwrap();
        assert_eq!(secret.name_any(), "def34-kubeconfig");
        assert_eq!(secret.namespace(), config.namespace());
        assert!(secret.data.as_ref().unwrap().contains_key(KUBECONFIG_KEY));
        assert_eq!(secret.owner_references().len(), 1);
    }
}
