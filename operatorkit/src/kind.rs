//! The kinds operatorkit works with: a [`Kind`] is any namespaced object it
//! can watch and cache (children, watched objects); an [`OperatorKind`] is a
//! kind an operator reconciles: a `Kind` whose status keeps the
//! [`OperatorStatus`] contract (conditions and observedGeneration), so that
//! operatorkit can write it without knowing its JSON.
//!
//! A custom resource with a status that keeps the contract is an
//! `OperatorKind`:
//!
//! ```
//! use operatorkit::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
//! use operatorkit::keys::OperatorName;
//! use operatorkit::kube::CustomResource;
//! use operatorkit::schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
//! #[kube(group = "example.dev", version = "v1", kind = "Thing", namespaced)]
//! #[kube(status = "ThingStatus")]
//! pub struct ThingSpec { size: u32 }
//!
//! #[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! pub struct ThingStatus {
//!     #[serde(default)]
//!     conditions: Vec<Condition>,
//!     #[serde(default, skip_serializing_if = "Option::is_none")]
//!     observed_generation: Option<i64>,
//! }
//! operatorkit::operator_status!(ThingStatus);
//!
//! let operator = operatorkit::Operator::<Thing>::new(OperatorName::from_static("thing-operator"), "1.0.0");
//! ```
//!
//! A kind without a status does not compile as an operator's kind:
//!
//! ```compile_fail,E0277
//! use operatorkit::k8s_openapi::api::core::v1::ConfigMap;
//! use operatorkit::keys::OperatorName;
//! let operator = operatorkit::Operator::<ConfigMap>::new(OperatorName::from_static("x"), "1");
//! ```
//!
//! Nor does a status without conditions and observedGeneration:
//!
//! ```compile_fail,E0609
//! #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
//! pub struct BareStatus { phase: String }
//! operatorkit::operator_status!(BareStatus);
//! ```

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::core::object::HasStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::status::OperatorStatus;

/// A namespaced Kubernetes type with static type information that
/// operatorkit can watch and cache.
pub trait Kind:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Kind for T where
    T: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// A kind an operator reconciles: its status keeps the [`OperatorStatus`]
/// contract. Implemented for every [`Kind`] whose `status` type (kube's
/// `HasStatus`, which `#[derive(CustomResource)]` with `status = ".."`
/// implements) is an [`OperatorStatus`].
pub trait OperatorKind: Kind + HasStatus<Status: OperatorStatus> {}

impl<T> OperatorKind for T where T: Kind + HasStatus<Status: OperatorStatus> {}
