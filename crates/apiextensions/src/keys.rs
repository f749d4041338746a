//! Well-known label, annotation and finalizer keys shared by every operator.
//!
//! operatorkit owns the keys every operator built on it uses (the domain, the
//! pause annotation, the managed-by label, the version label and finalizer of
//! an [`OperatorName`]); they are re-exported here. The keys of this project
//! (the guest cluster and component labels) are built from the same prefix
//! with [`operatorkit::key!`], and the five operators' names are checked at
//! compile time. Operators never spell a key as a string literal.

pub use operatorkit::keys::{
    DOMAIN, InvalidOperatorName, MANAGED_BY_LABEL, OperatorName, PAUSED_ANNOTATION, is_dns_label,
    is_paused, label,
};

/// Label on every object of a guest cluster: the guest cluster ID.
pub const CLUSTER_LABEL: &str = operatorkit::key!("cluster");

/// Label on children that belong to one component of a guest cluster (for
/// example the `api` certificate Secret).
pub const COMPONENT_LABEL: &str = operatorkit::key!("component");

/// cert-operator: issues TLS Secrets for `CertConfig`.
pub const CERT_OPERATOR: OperatorName = OperatorName::from_static("cert-operator");
/// flannel-operator: writes flannel network config for `FlannelConfig`.
pub const FLANNEL_OPERATOR: OperatorName = OperatorName::from_static("flannel-operator");
/// ingress-operator: maps host ingress ports for `IngressConfig`.
pub const INGRESS_OPERATOR: OperatorName = OperatorName::from_static("ingress-operator");
/// kvm-operator: runs guest clusters as VM pods for `KVMConfig`.
pub const KVM_OPERATOR: OperatorName = OperatorName::from_static("kvm-operator");
/// aws-operator: runs guest clusters on AWS for `AWSConfig`.
pub const AWS_OPERATOR: OperatorName = OperatorName::from_static("aws-operator");

/// The five operators of this project, in the order a guest cluster needs them.
pub const OPERATORS: [OperatorName; 5] = [
    CERT_OPERATOR,
    FLANNEL_OPERATOR,
    INGRESS_OPERATOR,
    KVM_OPERATOR,
    AWS_OPERATOR,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_map() {
        assert_eq!(CLUSTER_LABEL, "operatorkit.dev/cluster");
        assert_eq!(COMPONENT_LABEL, "operatorkit.dev/component");
        assert_eq!(
            CERT_OPERATOR.version_label(),
            "cert-operator.operatorkit.dev/version"
        );
        assert_eq!(KVM_OPERATOR.finalizer(), "operatorkit.dev/kvm-operator");
        for op in OPERATORS {
            assert!(OperatorName::new(op.as_str()).is_ok(), "{op}");
        }
    }
}
