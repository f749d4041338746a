//! `CertConfig`: one TLS certificate of one guest-cluster component, issued by
//! cert-operator into Secret `<clusterID>-<clusterComponent>`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::status;

/// Desired certificate of one component of a guest cluster.
#[allow(
    clippy::duplicated_attributes,
    reason = "printcolumn(...) entries legitimately repeat type_ = ...; a known clippy false positive on derive helpers"
)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "core.operatorkit.dev",
    version = "v1alpha1",
    kind = "CertConfig",
    plural = "certconfigs",
    singular = "certconfig",
    shortname = "certcfg",
    category = "operatorkit",
    namespaced,
    status = "CertConfigStatus",
    derive = "PartialEq",
    doc = "A TLS certificate for one component of a guest cluster, issued by cert-operator.",
    selectable = ".spec.clusterID",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterID"),
    printcolumn(
        name = "Component",
        type_ = "string",
        json_path = ".spec.clusterComponent"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Expires", type_ = "string", json_path = ".status.notAfter"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.allowBareDomains || !self.altNames.exists(n, n == self.commonName)")
    .message("altNames may repeat commonName only when allowBareDomains is true"))]
pub struct CertConfigSpec {
    /// Guest cluster the certificate belongs to.
    #[serde(rename = "clusterID")]
    #[schemars(length(min = 3, max = 40), regex(pattern = schema::DNS_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterID is immutable"))]
    pub cluster_id: String,

    /// Component of the guest cluster (`api`, `etcd`, `worker`, `service-account`, ...).
    #[schemars(length(min = 1, max = 40), regex(pattern = schema::DNS_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterComponent is immutable"))]
    pub cluster_component: String,

    /// Subject common name.
    #[schemars(length(min = 1, max = 64), regex(pattern = schema::DNS_NAME_OR_WILDCARD))]
    pub common_name: String,

    /// DNS subject alternative names.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 253), regex(pattern = schema::DNS_NAME_OR_WILDCARD)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub alt_names: Vec<String>,

    /// IP subject alternative names.
    #[serde(default, rename = "ipSans")]
    #[schemars(length(max = 32), inner(length(max = 39)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(ip, isIP(ip))").message("every ipSans entry must be an IP address"))]
    pub ip_sans: Vec<String>,

    /// Subject organisations; Kubernetes reads them as RBAC groups (`system:masters`).
    #[serde(default)]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub organizations: Vec<String>,

    /// Lifetime of the certificate, a duration such as `2160h`.
    #[serde(default = "default_ttl")]
    #[schemars(length(max = 32), regex(pattern = schema::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1h')").message("ttl must be at least 1h"))]
    pub ttl: String,

    /// Key algorithm; the operator's `--key-algorithm` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Also allow the bare domain of `commonName` as a name.
    #[serde(default)]
    pub allow_bare_domains: bool,

    /// Never re-issue, even when the spec changes or the certificate nears expiry.
    #[serde(default)]
    pub disable_regeneration: bool,
}

fn default_ttl() -> String {
    "2160h".to_owned()
}

/// Algorithm of a certificate's private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum KeyAlgorithm {
    /// ECDSA on curve P-256.
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    /// ECDSA on curve P-384.
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "RSA-4096")]
    Rsa4096,
}

/// Observed state of a `CertConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertConfigStatus {
    /// `Ready` and kind-specific conditions.
    #[serde(default)]
    #[schemars(schema_with = "status::conditions")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Secret holding `ca.crt`, `tls.crt` and `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Serial number of the current certificate, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Start of the current certificate's validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Time>,
    /// End of the current certificate's validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
}
