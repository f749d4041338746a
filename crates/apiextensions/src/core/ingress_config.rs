//! `IngressConfig`: the TCP/UDP ports of one guest cluster exposed through the host
//! cluster's ingress controller, mapped by ingress-operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::status;

/// Desired port mappings of a guest cluster on the host ingress controller.
#[allow(
    clippy::duplicated_attributes,
    reason = "printcolumn(...) entries legitimately repeat type_ = ...; a known clippy false positive on derive helpers"
)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "core.operatorkit.dev",
    version = "v1alpha1",
    kind = "IngressConfig",
    plural = "ingressconfigs",
    singular = "ingressconfig",
    shortname = "ingresscfg",
    category = "operatorkit",
    namespaced,
    status = "IngressConfigStatus",
    derive = "PartialEq",
    doc = "Ports of a guest cluster exposed on the host ingress controller by ingress-operator.",
    selectable = ".spec.guestCluster.id",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.guestCluster.id"
    ),
    printcolumn(
        name = "Ports",
        type_ = "string",
        json_path = ".spec.protocolPorts[*].lbPort"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IngressConfigSpec {
    /// The guest cluster whose service is exposed.
    pub guest_cluster: GuestCluster,

    /// The host cluster's ingress controller that exposes it.
    pub host_cluster: HostCluster,

    /// Ports to map: `lbPort` on the ingress controller to `ingressPort` of the
    /// guest cluster's service.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.lbPort == p.lbPort && q.protocol == p.protocol))")
        .message("lbPort values must be unique per protocol"))]
    pub protocol_ports: Vec<ProtocolPort>,
}

/// The guest cluster side of the mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestCluster {
    /// Guest cluster ID.
    #[schemars(length(min = 3, max = 40), regex(pattern = schema::DNS_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("guestCluster.id is immutable"))]
    pub id: String,
    /// Namespace on the host cluster that holds the guest cluster's Service.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub namespace: String,
    /// Name of that Service.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub service: String,
}

/// The host cluster's ingress controller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostCluster {
    /// Where the ingress controller lives.
    pub ingress_controller: IngressController,
}

/// Location of the ingress controller and its port-mapping ConfigMap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressController {
    /// ConfigMap holding the controller's TCP (or UDP) service mappings.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub config_map: String,
    /// Namespace of the controller and its ConfigMap.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub namespace: String,
    /// Service of the controller, on which the ports are opened.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub service: String,
}

/// One port mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolPort {
    /// Port of the guest cluster's Service traffic is sent to.
    #[schemars(range(min = 1, max = 65535))]
    pub ingress_port: i32,
    /// Port opened on the host ingress controller.
    #[schemars(range(min = 1, max = 65535))]
    pub lb_port: i32,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol of a port mapping.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum Protocol {
    /// TCP, mapped through the controller's `tcp-services` ConfigMap.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP, mapped through the controller's `udp-services` ConfigMap.
    #[serde(rename = "UDP")]
    Udp,
}

/// Observed state of an `IngressConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressConfigStatus {
    /// `Ready` and kind-specific conditions.
    #[serde(default)]
    #[schemars(schema_with = "status::conditions")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The ports of `spec.protocolPorts` mapped on the ingress controller now;
    /// the others are named by the `PortsMapped` condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapped_ports: Vec<ProtocolPort>,
}
