//! The custom resource types of the operatorkit operators.
//!
//! This crate owns the five APIs as Rust types (`core.operatorkit.dev/v1alpha1`:
//! [`CertConfig`], [`FlannelConfig`], [`IngressConfig`];
//! `provider.operatorkit.dev/v1alpha1`: [`KVMConfig`], [`AWSConfig`]), the
//! [`ClusterSpec`] the provider kinds share, the well-known [`keys`] (labels,
//! annotations, finalizers) operators use to coordinate through the API server,
//! and what the provider operators share about a guest cluster: its
//! [`certificates`] (components, CertConfigs, the admin kubeconfig) and
//! [`waiting`], deletions that wait for its pods.
//!
//! Validation lives in the types: OpenAPI constraints through schemars attributes
//! and cross-field rules as CEL `x-kubernetes-validations`, so the CRDs generated
//! from these types (see [`crds`]) make the API server refuse bad input at
//! admission with a clear message.

#![forbid(unsafe_code)]

pub mod certificates;
pub mod cluster;
pub mod core;
pub mod crds;
pub mod keys;
pub mod names;
pub mod provider;
pub mod schema;
pub mod status;
pub mod waiting;

pub use crate::cluster::ClusterSpec;
pub use crate::core::cert_config::{CertConfig, CertConfigSpec, CertConfigStatus};
pub use crate::core::flannel_config::{FlannelConfig, FlannelConfigSpec, FlannelConfigStatus};
pub use crate::core::ingress_config::{IngressConfig, IngressConfigSpec, IngressConfigStatus};
pub use crate::provider::aws_config::{AWSConfig, AWSConfigSpec, AWSConfigStatus};
pub use crate::provider::kvm_config::{KVMConfig, KVMConfigSpec, KVMConfigStatus};
pub use crate::status::OperatorStatus;
