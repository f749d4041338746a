//! flannel-operator: gives every guest cluster its own flannel network on
//! the host cluster, reconciling `FlannelConfig`: the network config
//! flanneld reads from etcd, and flanneld plus the cluster's bridge on every
//! host node that may run the cluster's VM pods.
//!
//! ```text
//!   lib (operator) ── the watches: FlannelConfigs, the host objects (by
//!      │               annotation), guest and flanneld pods (by cluster)
//!   overlay ───────── the step: claims, config, host objects, status,
//!      │               deletion in order
//!   claims, hosts ─── who holds which VNI, network and bridge (etcd
//!      │               transactions); the namespace and DaemonSets (pure)
//!   network, etcd ─── flannel's contract (keys, JSON, names); the client
//!   settings ──────── the command line
//! ```
//!
//! docs/flannel-operator.md has what is written where, the conflict rule,
//! the deletion order, flags, metrics and failure modes.

#![forbid(unsafe_code)]

pub mod claims;
pub mod etcd;
pub mod hosts;
pub mod network;
pub mod overlay;
pub mod settings;

use apiextensions::FlannelConfig;
use apiextensions::keys::{CLUSTER_LABEL, FLANNEL_OPERATOR, MANAGED_BY_LABEL, OperatorName};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use operatorkit::Operator;

use crate::etcd::{Etcd, EtcdError};
use crate::overlay::Overlay;
use crate::settings::FlannelArgs;

/// This operator: also the managed-by of everything it writes, and its
/// field manager.
pub const OPERATOR: OperatorName = FLANNEL_OPERATOR;

/// Annotation of every host object: `<namespace>/<name>` of its FlannelConfig.
pub const FLANNELCONFIG_ANNOTATION: &str = operatorkit::key!("flannel-operator", "flannelconfig");

/// Annotation of the flanneld pod template: a hash of the network config,
/// so that a changed config restarts flanneld.
pub const NETWORK_HASH_ANNOTATION: &str = operatorkit::key!("flannel-operator", "network-hash");

/// The FlannelConfig a host object belongs to, from its annotation.
fn flannelconfig_of<C: Resource>(object: &C) -> Vec<ObjectRef<FlannelConfig>> {
    operatorkit::keys::annotated_owner(object, FLANNELCONFIG_ANNOTATION)
        .into_iter()
        .collect()
}

/// flannel-operator at `version`, configured by `flags`.
pub fn operator(version: &str, flags: FlannelArgs) -> Result<Operator<FlannelConfig>, EtcdError> {
    let etcd = Etcd::new(&flags)?;
    Ok(operator_with(version, flags, etcd))
}

/// [`operator`] with its etcd client given (tests and benchmarks keep a
/// clone to read its request counts).
pub fn operator_with(version: &str, flags: FlannelArgs, etcd: Etcd) -> Operator<FlannelConfig> {
    let registered = etcd.clone();
    let overlay = Overlay::new(flags, etcd);
    let waiters = overlay.pod_waiters();
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={OPERATOR}"));
    Operator::new(OPERATOR, version)
        .metrics(move |registry| registered.register(registry))
        .watches_all_namespaces::<DaemonSet>(managed.clone(), flannelconfig_of)
        .watches_all_namespaces::<ServiceAccount>(managed, flannelconfig_of)
        // Guest pods hold a deletion back; flanneld pods (labelled with
        // their cluster too) hold back its cleanup. Host objects and pods
        // live in namespaces of their own, whatever the operator's scope.
        .watches_all_namespaces::<Pod>(
            watcher::Config::default().labels(CLUSTER_LABEL),
            move |pod| waiters.waiting_for(pod),
        )
        .step(overlay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSet;

    #[test]
    fn host_objects_map_back_to_their_flannelconfig() {
        let mut ds = DaemonSet::default();
        assert!(flannelconfig_of(&ds).is_empty());
        ds.metadata.annotations =
            Some([(FLANNELCONFIG_ANNOTATION.to_owned(), "ns1/abc12".to_owned())].into());
        let refs = flannelconfig_of(&ds);
        assert_eq!(refs[0].name, "abc12");
        assert_eq!(refs[0].namespace.as_deref(), Some("ns1"));
    }
}
