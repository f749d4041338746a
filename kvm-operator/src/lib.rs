//! kvm-operator: runs guest Kubernetes clusters whose nodes are KVM virtual
//! machines, each in a pod of the host cluster, reconciling `KVMConfig`.
//! It asks cert-operator, flannel-operator and ingress-operator for the
//! cluster's certificates, network and ingress ports through objects it
//! owns, waits (watching, never blocking) until they are served, and runs
//! the cluster's VMs with them.
//!
//! ```text
//!   lib (operator) ─── the watches: KVMConfigs, owned inputs, certificate
//!      │                Secrets, the cluster's host objects and VM pods
//!   steps, in order:
//!   checks ─────────── conflicts with other KVMConfigs (cluster ID, VNI,
//!      │                node ports), no ingress controller: nothing is
//!      │                created for a refused one
//!   certificates, network, ingress ─ the inputs (operatorkit `children`)
//!   readiness ──────── CertificatesReady, NetworkReady, IngressReady
//!   vms ────────────── the host objects, VM rollout one node at a time,
//!      │                drains, the kubeconfig Secret, status, deletion
//!      │                backwards
//!   guest_api ──────── the guest's own API (mutual TLS): Nodes, drain
//!   objects, inputs,
//!   kubeconfig ─────── what is written (pure)
//!   guest ──────────── names: namespace, nodes, domains, network (pure)
//!   settings ───────── the command line
//! ```
//!
//! docs/kvm-operator.md has the picture of who owns what, the rollout and
//! deletion order, flags and failure modes.

#![forbid(unsafe_code)]

pub mod checks;
pub mod guest;
pub mod guest_api;
pub mod inputs;
pub mod kubeconfig;
pub mod objects;
pub mod readiness;
pub mod settings;
pub mod vms;

use apiextensions::certificates::ClusterIndex;
use apiextensions::keys::{CLUSTER_LABEL, KVM_OPERATOR, MANAGED_BY_LABEL, OperatorName};
use apiextensions::{CertConfig, FlannelConfig, IngressConfig, KVMConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use operatorkit::{Operator, StepError};

use crate::checks::Checks;
use crate::readiness::Readiness;
use crate::settings::KvmArgs;
use crate::vms::Vms;

/// This operator: also the managed-by of everything it writes, and its
/// field manager.
pub const OPERATOR: OperatorName = KVM_OPERATOR;

/// Annotation of every host object of a guest cluster: `<namespace>/<name>`
/// of its KVMConfig.
pub const KVMCONFIG_ANNOTATION: &str = operatorkit::key!("kvm-operator", "kvmconfig");

/// Label of a VM Deployment and its pods: the node's id.
pub const NODE_LABEL: &str = operatorkit::key!("kvm-operator", "node");

/// Annotation of a VM Deployment: the hash of its pod template, so a
/// changed VM is told from any other drift.
pub const VM_HASH_ANNOTATION: &str = operatorkit::key!("kvm-operator", "vm-hash");

/// The KVMConfig a host object belongs to, from its annotation.
fn kvmconfig_of<C: Resource>(object: &C) -> Option<ObjectRef<KVMConfig>> {
    operatorkit::keys::annotated_owner(object, KVMCONFIG_ANNOTATION)
}

/// Flags that do not fit together.
#[derive(Debug, thiserror::Error)]
#[error("invalid flags: {0}")]
pub struct InvalidFlags(String);

/// kvm-operator at `version`, configured by `flags`.
pub fn operator(version: &str, flags: KvmArgs) -> Result<Operator<KVMConfig>, InvalidFlags> {
    flags.check().map_err(InvalidFlags)?;
    let index = ClusterIndex::<KVMConfig>::default();
    let certs = {
        let (flags, version) = (flags.clone(), version.to_owned());
        move |cx: &operatorkit::Context<KVMConfig>| {
            inputs::cert_configs(cx.object(), &flags, &version)
                .map_err(|m| StepError::permanent(m).reason(checks::reasons::INVALID_SPEC))
        }
    };
    let network = {
        let (flags, version) = (flags.clone(), version.to_owned());
        move |cx: &operatorkit::Context<KVMConfig>| {
            Ok(vec![inputs::flannel_config(cx.object(), &flags, &version)])
        }
    };
    let ingress = {
        let (flags, version) = (flags.clone(), version.to_owned());
        move |cx: &operatorkit::Context<KVMConfig>| {
            Ok(inputs::ingress_config(cx.object(), &flags, &version)
                .into_iter()
                .collect())
        }
    };
    let checks = Checks::new(flags.ingress_class.clone());
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={OPERATOR}"));
    let secrets_index = index.clone();
    Ok(Operator::new(OPERATOR, version)
        .step(checks)
        .children::<CertConfig>("certificates", certs)
        .children::<FlannelConfig>("network", network)
        .children::<IngressConfig>("ingress", ingress)
        .step(Readiness::new(index.clone()))
        .step(Vms::new(flags))
        // Certificate Secrets (cert-operator's, found through the index)
        // and boot Secrets (this operator's, by annotation).
        .watches_all_namespaces::<Secret>(
            watcher::Config::default().labels(CLUSTER_LABEL),
            move |s: &Secret| match kvmconfig_of(s) {
                Some(r) => vec![r],
                None => secrets_index.of_secret(s),
            },
        )
        .watches_all_namespaces::<Deployment>(managed.clone(), mapped)
        .watches_all_namespaces::<Pod>(managed.clone(), mapped)
        .watches_all_namespaces::<Service>(managed.clone(), mapped)
        .watches_all_namespaces::<Ingress>(managed.clone(), mapped)
        .watches_all_namespaces::<PodDisruptionBudget>(managed.clone(), mapped)
        .watches_all_namespaces::<PersistentVolumeClaim>(managed.clone(), mapped)
        .watches_all_namespaces::<ServiceAccount>(managed, mapped))
}

/// A host object's KVMConfig, as a watch mapper.
fn mapped<C: Resource>(object: &C) -> Vec<ObjectRef<KVMConfig>> {
    kvmconfig_of(object).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_objects_map_back_to_their_kvmconfig() {
        let mut d = Deployment::default();
        assert!(mapped(&d).is_empty());
        d.metadata.annotations =
            Some([(KVMCONFIG_ANNOTATION.to_owned(), "team-a/abc12".to_owned())].into());
        let refs = mapped(&d);
        assert_eq!(refs[0].name, "abc12");
        assert_eq!(refs[0].namespace.as_deref(), Some("team-a"));
    }
}
