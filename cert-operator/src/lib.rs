//! cert-operator: issues TLS certificates for guest-cluster components from a
//! built-in CA or Vault PKI, reconciling `CertConfig` into Secret
//! `<clusterID>-<clusterComponent>` (`ca.crt`, `tls.crt`, `tls.key`).
//!
//! - [`pki`]: requests, keys, the built-in CA, the checks every bundle passes;
//! - [`backend`]: where certificates come from;
//! - [`certificate`]: the resource that issues, renews and removes them;
//! - [`metrics`]: issued/renewed counts, backend errors, expiry times;
//! - [`settings`]: the command line.

#![forbid(unsafe_code)]

pub mod backend;
pub mod certificate;
pub mod metrics;
pub mod pki;
pub mod settings;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use operatorkit::Operator;

use apiextensions::CertConfig;
use apiextensions::keys::{CERT_OPERATOR, CLUSTER_LABEL, MANAGED_BY_LABEL, OperatorName};

use crate::backend::Backend;
use crate::certificate::{CertSettings, Certificate};
use crate::metrics::CertMetrics;

/// This operator: also the `app.kubernetes.io/managed-by` of everything it
/// writes, and its field manager.
pub const OPERATOR: OperatorName = CERT_OPERATOR;

/// Label of a cluster's CA Secret.
pub const CA_LABEL: &str = operatorkit::key!("cert-operator", "ca");

/// Annotation of a certificate Secret: the hash of the spec it was issued for.
pub const HASH_ANNOTATION: &str = operatorkit::key!("cert-operator", "spec-hash");

/// Annotation of a certificate Secret: `<namespace>/<name>` of its CertConfig.
pub const CERTCONFIG_ANNOTATION: &str = operatorkit::key!("cert-operator", "certconfig");

/// The CertConfig a Secret belongs to, from its annotation.
fn certconfig_of(secret: &Secret) -> Vec<ObjectRef<CertConfig>> {
    operatorkit::keys::annotated_owner(secret, CERTCONFIG_ANNOTATION)
        .into_iter()
        .collect()
}

/// cert-operator at `version`, issuing from `backend`.
pub fn operator(
    version: &str,
    backend: Arc<dyn Backend>,
    settings: CertSettings,
) -> Result<Operator<CertConfig>, prometheus::Error> {
    let metrics = CertMetrics::new()?;
    let backend_name = backend.name();
    let registered = metrics.clone();
    let secrets = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={OPERATOR}"));
    let op = Operator::new(OPERATOR, version)
        .metrics(move |registry| registered.register(registry, backend_name));
    // Secrets: a change or deletion brings their CertConfig back. Pods of
    // guest clusters: cached for the deletion rule, and their events bring
    // back the deletions waiting for them.
    let certificate = Certificate::new(backend, settings.clone(), metrics);
    let waiters = certificate.pod_waiters();
    let op = match &settings.secret_namespace {
        Some(ns) => op.watches_in::<Secret>(ns.clone(), secrets, certconfig_of),
        None => op.watches::<Secret>(secrets, certconfig_of),
    };
    Ok(op
        .watches::<Pod>(
            watcher::Config::default().labels(CLUSTER_LABEL),
            move |pod| waiters.waiting_for(pod),
        )
        .step(certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_map_back_to_their_certconfig() {
        let mut s = Secret::default();
        assert!(certconfig_of(&s).is_empty());
        s.metadata.annotations =
            Some([(CERTCONFIG_ANNOTATION.to_owned(), "ns1/abc12-api".to_owned())].into());
        let refs = certconfig_of(&s);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].name, "abc12-api");
        assert_eq!(refs[0].namespace.as_deref(), Some("ns1"));
    }
}
