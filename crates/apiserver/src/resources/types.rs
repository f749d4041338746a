//! The k8s-openapi Rust type of each built-in kind, for code that is generic
//! over it (the kinds' JSON Schemas, for typed decoding and OpenAPI).

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use schemars::JsonSchema;

use super::Builtin;

/// Something done with a built-in kind's Rust type.
pub(crate) trait KindVisitor {
    /// What it gives.
    type Output;
    /// Does it with `T`.
    fn visit<T: JsonSchema>(self) -> Self::Output;
}

/// Calls `v` with the k8s-openapi type of `b`.
pub(crate) fn visit<V: KindVisitor>(b: Builtin, v: V) -> V::Output {
    use api::admissionregistration::v1 as admission;
    use api::{apps::v1 as apps, authentication::v1 as authn, authorization::v1 as authz};
    use api::{batch::v1 as batch, core::v1 as core, networking::v1 as networking};
    match b {
        Builtin::Namespace => v.visit::<core::Namespace>(),
        Builtin::ConfigMap => v.visit::<core::ConfigMap>(),
        Builtin::Secret => v.visit::<core::Secret>(),
        Builtin::Service => v.visit::<core::Service>(),
        Builtin::Endpoints => v.visit::<core::Endpoints>(),
        Builtin::EndpointSlice => v.visit::<api::discovery::v1::EndpointSlice>(),
        Builtin::ServiceAccount => v.visit::<core::ServiceAccount>(),
        Builtin::Pod => v.visit::<core::Pod>(),
        Builtin::PersistentVolumeClaim => v.visit::<core::PersistentVolumeClaim>(),
        Builtin::PersistentVolume => v.visit::<core::PersistentVolume>(),
        Builtin::Node => v.visit::<core::Node>(),
        Builtin::CoreEvent => v.visit::<core::Event>(),
        Builtin::Event => v.visit::<api::events::v1::Event>(),
        Builtin::Deployment => v.visit::<apps::Deployment>(),
        Builtin::DaemonSet => v.visit::<apps::DaemonSet>(),
        Builtin::StatefulSet => v.visit::<apps::StatefulSet>(),
        Builtin::ReplicaSet => v.visit::<apps::ReplicaSet>(),
        Builtin::Job => v.visit::<batch::Job>(),
        Builtin::CronJob => v.visit::<batch::CronJob>(),
        Builtin::Ingress => v.visit::<networking::Ingress>(),
        Builtin::IngressClass => v.visit::<networking::IngressClass>(),
        Builtin::PodDisruptionBudget => v.visit::<api::policy::v1::PodDisruptionBudget>(),
        Builtin::Role => v.visit::<api::rbac::v1::Role>(),
        Builtin::RoleBinding => v.visit::<api::rbac::v1::RoleBinding>(),
        Builtin::ClusterRole => v.visit::<api::rbac::v1::ClusterRole>(),
        Builtin::ClusterRoleBinding => v.visit::<api::rbac::v1::ClusterRoleBinding>(),
        Builtin::Lease => v.visit::<api::coordination::v1::Lease>(),
        Builtin::CustomResourceDefinition => v.visit::<apiextensions::CustomResourceDefinition>(),
        Builtin::ReplicationController => v.visit::<core::ReplicationController>(),
        Builtin::ResourceQuota => v.visit::<core::ResourceQuota>(),
        Builtin::LimitRange => v.visit::<core::LimitRange>(),
        Builtin::NetworkPolicy => v.visit::<networking::NetworkPolicy>(),
        Builtin::PriorityClass => v.visit::<api::scheduling::v1::PriorityClass>(),
        Builtin::StorageClass => v.visit::<api::storage::v1::StorageClass>(),
        Builtin::HorizontalPodAutoscaler => {
            v.visit::<api::autoscaling::v2::HorizontalPodAutoscaler>()
        }
        Builtin::ControllerRevision => v.visit::<apps::ControllerRevision>(),
        Builtin::RuntimeClass => v.visit::<api::node::v1::RuntimeClass>(),
        Builtin::ValidatingWebhookConfiguration => {
            v.visit::<admission::ValidatingWebhookConfiguration>()
        }
        Builtin::MutatingWebhookConfiguration => {
            v.visit::<admission::MutatingWebhookConfiguration>()
        }
        Builtin::CertificateSigningRequest => {
            v.visit::<api::certificates::v1::CertificateSigningRequest>()
        }
        Builtin::ComponentStatus => v.visit::<core::ComponentStatus>(),
        Builtin::APIService => v.visit::<APIService>(),
        Builtin::TokenReview => v.visit::<authn::TokenReview>(),
        Builtin::SelfSubjectReview => v.visit::<authn::SelfSubjectReview>(),
        Builtin::SubjectAccessReview => v.visit::<authz::SubjectAccessReview>(),
        Builtin::SelfSubjectAccessReview => v.visit::<authz::SelfSubjectAccessReview>(),
        Builtin::LocalSubjectAccessReview => v.visit::<authz::LocalSubjectAccessReview>(),
        Builtin::SelfSubjectRulesReview => v.visit::<authz::SelfSubjectRulesReview>(),
    }
}
