//! ingress-operator: maps a guest cluster's ports on the host's ingress
//! controller (ingress-nginx), reconciling `IngressConfig`.
//!
//! ```text
//!   lib (operator) ── the watches: IngressConfigs, and the controller
//!      │               namespace's ConfigMaps and Services mapped by claims
//!   ports ─────────── the step: read, plan, apply, status, deletion
//!      │
//!   plan ──────────── what to write, from the host objects as they are (pure)
//!      │
//!   claims, nginx ─── who asked for what; the ingress-nginx contract and
//!                     the ownership rule
//! ```
//!
//! docs/ingress-operator.md has the contract, the ownership rule, conflicts
//! and deletion.

#![forbid(unsafe_code)]

pub mod claims;
pub mod nginx;
pub mod plan;
pub mod ports;
pub mod settings;

use apiextensions::IngressConfig;
use apiextensions::keys::{INGRESS_OPERATOR, OperatorName};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::runtime::watcher;
use operatorkit::Operator;

use crate::claims::Claims;
use crate::ports::Ports;
use crate::settings::IngressArgs;

/// This operator.
pub const OPERATOR: OperatorName = INGRESS_OPERATOR;

/// ingress-operator at `version`, for the ingress controller in the
/// namespace `flags` name.
pub fn operator(version: &str, flags: &IngressArgs) -> Operator<IngressConfig> {
    let claims = Claims::default();
    let (in_config_maps, in_services) = (claims.clone(), claims.clone());
    let namespace = flags.controller_namespace.clone();
    Operator::new(OPERATOR, version)
        .watches_in::<ConfigMap>(namespace.clone(), watcher::Config::default(), move |cm| {
            in_config_maps.unmet_in_config_map(cm)
        })
        .watches_in::<Service>(namespace.clone(), watcher::Config::default(), move |s| {
            in_services.unmet_in_service(s)
        })
        .step(Ports::new(namespace, claims))
}
