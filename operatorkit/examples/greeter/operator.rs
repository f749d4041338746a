//! The greeter operator: for every `Greeting`, a ConfigMap holding its
//! message. A complete operatorkit operator: kind, one step, definition.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::api::ObjectMeta;
use operatorkit::keys::OperatorName;
use operatorkit::{Context, Operator, StepError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a greeting says, and to whom.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "example.operatorkit.dev",
    version = "v1alpha1",
    kind = "Greeting"
)]
#[kube(namespaced, status = "GreetingStatus", shortname = "greet")]
#[kube(printcolumn(
    name = "Ready",
    type_ = "string",
    json_path = ".status.conditions[?(@.type==\"Ready\")].status"
))]
pub struct GreetingSpec {
    /// The message, e.g. "Hello".
    pub message: String,
    /// Who is greeted (default: "world").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Written by the operator: the status contract (conditions and
/// observedGeneration), nothing of its own.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GreetingStatus {
    /// Ready and friends.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
operatorkit::operator_status!(GreetingStatus);

/// The operator's name: its finalizer is `operatorkit.dev/greeter-operator`
/// and it reconciles Greetings labelled `greeter-operator.operatorkit.dev/version`.
pub const NAME: OperatorName = OperatorName::from_static("greeter-operator");

/// The ConfigMap a greeting should have.
pub fn desired_configmap(cx: &Context<Greeting>) -> Result<Vec<ConfigMap>, StepError> {
    let spec = &cx.object().spec;
    if spec.message.trim().is_empty() {
        // Bad input the schema let through: retrying cannot fix it.
        return Err(StepError::permanent("spec.message is empty").reason("InvalidSpec"));
    }
    let who = spec.name.as_deref().unwrap_or("world");
    Ok(vec![ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{}-greeting", cx.name())),
            ..Default::default()
        },
        data: Some([("greeting".to_owned(), format!("{}, {who}!", spec.message))].into()),
        ..Default::default()
    }])
}

/// The greeter operator at `version`.
pub fn operator(version: &str) -> Operator<Greeting> {
    Operator::new(NAME, version).children("configmap", desired_configmap)
}
