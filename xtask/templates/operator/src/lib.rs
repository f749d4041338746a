//! {{name}}: for every {{Kind}} ({{group}}), a ConfigMap holding its message.
//!
//! Written on [operatorkit](https://docs.rs/operatorkit): the kind and its
//! status contract ([`crd`]), one step ([`resource`]), and the definition
//! below. `main.rs` hands it to `operatorkit::main`, which gives it the
//! command line (`run`, `crd`), logging, metrics, health endpoints and leader
//! election.

#![forbid(unsafe_code)]

pub mod crd;
pub mod resource;

use operatorkit::k8s_openapi::api::core::v1::ConfigMap;
use operatorkit::keys::OperatorName;

pub use crate::crd::{{{Kind}}, {{Kind}}Spec, {{Kind}}Status};

/// The operator's name: its finalizer is `operatorkit.dev/{{name}}` and it
/// reconciles the {{Kind}}s labelled `{{name}}.operatorkit.dev/version` with
/// its version.
pub const NAME: OperatorName = OperatorName::from_static("{{name}}");

/// What `{{name}} --help` says it does.
pub const ABOUT: &str = "Keeps a ConfigMap for every {{Kind}}";

/// {{name}} at `version` (the value of the version label it reconciles).
pub fn operator(version: &str) -> operatorkit::Operator<{{Kind}}> {
    operatorkit::Operator::new(NAME, version)
        .owns::<ConfigMap>()
        .step(resource::Message)
}
