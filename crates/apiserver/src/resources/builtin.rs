//! The built-in kinds the server serves, with the scope, subresources and
//! update rules kube-apiserver gives them.

use super::ResourceType;
use crate::store::StorageKey;

/// A built-in kind; selects its defaulting and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the Kubernetes kinds")]
pub(crate) enum Builtin {
    Namespace,
    ConfigMap,
    Secret,
    Service,
    Endpoints,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
    ServiceAccount,
    Pod,
    PersistentVolumeClaim,
    PersistentVolume,
    Node,
    /// `v1` Event.
    CoreEvent,
    /// `events.k8s.io/v1` Event (same storage as the core one).
    Event,
    Deployment,
    DaemonSet,
    StatefulSet,
    ReplicaSet,
    Job,
    CronJob,
    Ingress,
    IngressClass,
    PodDisruptionBudget,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    Lease,
    CustomResourceDefinition,
    ReplicationController,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    PriorityClass,
    StorageClass,
    /// `autoscaling/v2` HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    ControllerRevision,
    RuntimeClass,
    ValidatingWebhookConfiguration,
    MutatingWebhookConfiguration,
    /// `certificates.k8s.io/v1`, with `approval` and `status` subresources.
    CertificateSigningRequest,
    /// Read-only, answered as a healthy single-node control plane.
    ComponentStatus,
    /// `apiregistration.k8s.io/v1`: read-only, one per served group-version,
    /// all local and Available.
    APIService,
    /// Reviews: create-only, answered and never stored.
    TokenReview,
    SelfSubjectReview,
    SubjectAccessReview,
    SelfSubjectAccessReview,
    LocalSubjectAccessReview,
    SelfSubjectRulesReview,
}

impl Builtin {
    /// Whether this kind is a review: only `create`, answered and not stored.
    pub(crate) fn is_review(self) -> bool {
        matches!(
            self,
            Builtin::TokenReview
                | Builtin::SelfSubjectReview
                | Builtin::SubjectAccessReview
                | Builtin::SelfSubjectAccessReview
                | Builtin::LocalSubjectAccessReview
                | Builtin::SelfSubjectRulesReview
        )
    }

    /// Where objects of this kind are kept. Both Event APIs share one collection,
    /// as they do in kube-apiserver.
    pub(crate) fn storage_key(self) -> StorageKey {
        let d = descriptor(self);
        match self {
            Builtin::Event => StorageKey::new("", "events"),
            _ => StorageKey::new(d.group, d.plural),
        }
    }
}

struct Descriptor {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
    unconditional_update: bool,
}

/// Every built-in kind.
pub(crate) const ALL_KINDS: [Builtin; 48] = [
    Builtin::Namespace,
    Builtin::ConfigMap,
    Builtin::Secret,
    Builtin::Service,
    Builtin::Endpoints,
    Builtin::EndpointSlice,
    Builtin::ServiceAccount,
    Builtin::Pod,
    Builtin::PersistentVolumeClaim,
    Builtin::PersistentVolume,
    Builtin::Node,
    Builtin::CoreEvent,
    Builtin::Event,
    Builtin::Deployment,
    Builtin::DaemonSet,
    Builtin::StatefulSet,
    Builtin::ReplicaSet,
    Builtin::Job,
    Builtin::CronJob,
    Builtin::Ingress,
    Builtin::IngressClass,
    Builtin::PodDisruptionBudget,
    Builtin::Role,
    Builtin::RoleBinding,
    Builtin::ClusterRole,
    Builtin::ClusterRoleBinding,
    Builtin::Lease,
    Builtin::CustomResourceDefinition,
    Builtin::ReplicationController,
    Builtin::ResourceQuota,
    Builtin::LimitRange,
    Builtin::NetworkPolicy,
    Builtin::PriorityClass,
    Builtin::StorageClass,
    Builtin::HorizontalPodAutoscaler,
    Builtin::ControllerRevision,
    Builtin::RuntimeClass,
    Builtin::ValidatingWebhookConfiguration,
    Builtin::MutatingWebhookConfiguration,
    Builtin::CertificateSigningRequest,
    Builtin::ComponentStatus,
    Builtin::APIService,
    Builtin::TokenReview,
    Builtin::SelfSubjectReview,
    Builtin::SubjectAccessReview,
    Builtin::SelfSubjectAccessReview,
    Builtin::LocalSubjectAccessReview,
    Builtin::SelfSubjectRulesReview,
];

/// A review kind's descriptor.
fn review(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Descriptor {
    Descriptor {
        group,
        version: "v1",
        kind,
        plural,
        short: &[],
        categories: &[],
        namespaced,
        status: false,
        generation: false,
        unconditional_update: true,
    }
}

#[allow(clippy::too_many_lines, reason = "one table row per kind")]
fn descriptor(b: Builtin) -> Descriptor {
    // (group, version, kind, plural, short names, categories, namespaced, status, generation)
    let d = |group, version, kind, plural, short, categories, namespaced, status, generation| {
        Descriptor {
            group,
            version,
            kind,
            plural,
            short,
            categories,
            namespaced,
            status,
            generation,
            unconditional_update: true,
        }
    };
    const ALL: &[&str] = &["all"];
    const NONE: &[&str] = &[];
    match b {
        Builtin::Namespace => d(
            "",
            "v1",
            "Namespace",
            "namespaces",
            &["ns"],
            NONE,
            false,
            true,
            false,
        ),
        Builtin::ConfigMap => d(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            &["cm"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::Secret => d("", "v1", "Secret", "secrets", &[], NONE, true, false, false),
        Builtin::Service => d(
            "",
            "v1",
            "Service",
            "services",
            &["svc"],
            ALL,
            true,
            true,
            false,
        ),
        Builtin::Endpoints => d(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            &["ep"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::EndpointSlice => d(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            &[],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::ServiceAccount => d(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::Pod => d("", "v1", "Pod", "pods", &["po"], ALL, true, true, false),
        Builtin::PersistentVolumeClaim => d(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            &["pvc"],
            NONE,
            true,
            true,
            false,
        ),
        Builtin::PersistentVolume => d(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            &["pv"],
            NONE,
            false,
            true,
            false,
        ),
        Builtin::Node => d("", "v1", "Node", "nodes", &["no"], NONE, false, true, false),
        Builtin::CoreEvent => d(
            "",
            "v1",
            "Event",
            "events",
            &["ev"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::Event => d(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            &["ev"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::Deployment => d(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            &["deploy"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::DaemonSet => d(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            &["ds"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::StatefulSet => d(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            &["sts"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::ReplicaSet => d(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            &["rs"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::Job => d("batch", "v1", "Job", "jobs", &[], ALL, true, true, true),
        Builtin::CronJob => d(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            &["cj"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::Ingress => d(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            &["ing"],
            NONE,
            true,
            true,
            true,
        ),
        Builtin::IngressClass => d(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            &[],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::PodDisruptionBudget => d(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            &["pdb"],
            NONE,
            true,
            true,
            true,
        ),
        Builtin::Role => d(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            &[],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::RoleBinding => d(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            &[],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::ClusterRole => d(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            &[],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::ClusterRoleBinding => d(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::Lease => d(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            &[],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::ReplicationController => d(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            &["rc"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::ResourceQuota => d(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            &["quota"],
            NONE,
            true,
            true,
            false,
        ),
        Builtin::LimitRange => d(
            "",
            "v1",
            "LimitRange",
            "limitranges",
            &["limits"],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::NetworkPolicy => d(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            &["netpol"],
            NONE,
            true,
            false,
            true,
        ),
        Builtin::PriorityClass => d(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            &["pc"],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::StorageClass => d(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            &["sc"],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::HorizontalPodAutoscaler => d(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            &["hpa"],
            ALL,
            true,
            true,
            true,
        ),
        Builtin::ControllerRevision => d(
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            &[],
            NONE,
            true,
            false,
            false,
        ),
        Builtin::RuntimeClass => d(
            "node.k8s.io",
            "v1",
            "RuntimeClass",
            "runtimeclasses",
            &[],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::ValidatingWebhookConfiguration => d(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            &[],
            &["api-extensions"],
            false,
            false,
            true,
        ),
        Builtin::MutatingWebhookConfiguration => d(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            &[],
            &["api-extensions"],
            false,
            false,
            true,
        ),
        Builtin::CertificateSigningRequest => d(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
            &["csr"],
            NONE,
            false,
            true,
            false,
        ),
        Builtin::ComponentStatus => d(
            "",
            "v1",
            "ComponentStatus",
            "componentstatuses",
            &["cs"],
            NONE,
            false,
            false,
            false,
        ),
        Builtin::APIService => d(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            &[],
            &["api-extensions"],
            false,
            true,
            false,
        ),
        Builtin::TokenReview => review(
            "authentication.k8s.io",
            "TokenReview",
            "tokenreviews",
            false,
        ),
        Builtin::SelfSubjectReview => review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        ),
        Builtin::SubjectAccessReview => review(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ),
        Builtin::SelfSubjectAccessReview => review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        Builtin::LocalSubjectAccessReview => review(
            "authorization.k8s.io",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
        Builtin::SelfSubjectRulesReview => review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ),
        Builtin::CustomResourceDefinition => Descriptor {
            unconditional_update: false,
            ..d(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                &["crd", "crds"],
                &["api-extensions"],
                false,
                true,
                true,
            )
        },
    }
}

/// Every built-in kind as a served resource.
pub(super) fn all() -> Vec<ResourceType> {
    ALL_KINDS
        .iter()
        .map(|&b| {
            let d = descriptor(b);
            ResourceType {
                group: d.group.to_owned(),
                version: d.version.to_owned(),
                kind: d.kind.to_owned(),
                plural: d.plural.to_owned(),
                singular: d.kind.to_ascii_lowercase(),
                short_names: d.short.iter().map(|s| (*s).to_owned()).collect(),
                categories: d.categories.iter().map(|s| (*s).to_owned()).collect(),
                namespaced: d.namespaced,
                status_subresource: d.status,
                generation: d.generation,
                unconditional_update: d.unconditional_update,
                builtin: Some(b),
                custom: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_per_group_version() {
        let all = all();
        let mut seen = std::collections::BTreeSet::new();
        for rt in &all {
            assert!(
                seen.insert((rt.group.clone(), rt.version.clone(), rt.plural.clone())),
                "{}",
                rt.kind
            );
        }
        assert_eq!(
            Builtin::Event.storage_key(),
            Builtin::CoreEvent.storage_key()
        );
        let ns = all.iter().find(|r| r.kind == "Namespace").unwrap();
        assert!(!ns.namespaced);
    }
}
