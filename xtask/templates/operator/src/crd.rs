//! The {{Kind}} custom resource ({{group}}/v1alpha1): what users write, the
//! spec, and what {{name}} reports, the status.

use operatorkit::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use operatorkit::kube::CustomResource;
use operatorkit::schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a {{Kind}} asks for. Replace `message` with your own fields; the
/// schema the API server validates against is derived from this type
/// (`{{name}} crd` prints it).
#[allow(
    clippy::duplicated_attributes,
    reason = "printcolumn(..) entries repeat type_ = ..: a clippy false positive on derive helpers"
)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "{{group}}",
    version = "v1alpha1",
    kind = "{{Kind}}",
    plural = "{{plural}}",
    namespaced,
    status = "{{Kind}}Status",
    crates(
        kube_core = "::operatorkit::kube::core",
        k8s_openapi = "::operatorkit::k8s_openapi",
        schemars = "::operatorkit::schemars"
    )
)]
#[kube(printcolumn(
    name = "Ready",
    type_ = "string",
    json_path = ".status.conditions[?(@.type==\"Ready\")].status"
))]
#[kube(printcolumn(
    name = "Reason",
    type_ = "string",
    json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
))]
#[kube(printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"))]
#[schemars(crate = "::operatorkit::schemars")]
#[serde(rename_all = "camelCase")]
pub struct {{Kind}}Spec {
    /// What the ConfigMap of this {{Kind}} holds; must not be empty.
    pub message: String,
}

/// Written by {{name}} only: the status contract every operatorkit operator
/// keeps (conditions and observedGeneration) and what this one made.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(crate = "::operatorkit::schemars")]
#[serde(rename_all = "camelCase")]
pub struct {{Kind}}Status {
    /// Ready, with the reason when it is not.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The ConfigMap {{name}} keeps for this {{Kind}}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_name: Option<String>,
}
operatorkit::operator_status!({{Kind}}Status);
