//! `ClusterSpec`: what a guest cluster is, independent of where it runs. Shared by
//! `KVMConfig` and `AWSConfig`.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// The guest cluster, independent of the provider that runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Guest cluster ID: a short DNS label, unique on the host cluster. It names every
    /// object of the cluster and is the value of the `operatorkit.dev/cluster` label.
    #[serde(rename = "id")]
    #[schemars(length(min = 3, max = 40), regex(pattern = schema::DNS_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster id is immutable"))]
    pub id: String,

    /// Organisation that owns the cluster.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub organization: String,

    /// Free-form description shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,

    /// Kubernetes version of the guest cluster, e.g. `1.33.4`.
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub version: String,

    /// Base DNS domain: the API is served at `api.<id>.<baseDomain>`.
    #[schemars(length(min = 1, max = 200), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub base_domain: String,

    /// Guest Kubernetes settings.
    #[serde(default)]
    pub kubernetes: KubernetesSpec,

    /// Guest etcd settings.
    #[serde(default)]
    pub etcd: EtcdSpec,
}

impl ClusterSpec {
    /// The DNS name `<name>.<id>.<baseDomain>`: `api`, `etcd`, `ingress`.
    pub fn domain(&self, name: &str) -> String {
        format!("{name}.{}.{}", self.id, self.base_domain)
    }
}

/// Settings of the guest Kubernetes control plane and network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!isCIDR(self.serviceCIDR) || !isIP(self.dnsIP) || cidr(self.serviceCIDR).containsIP(self.dnsIP)"
).message("dnsIP must lie inside serviceCIDR"))]
#[x_kube(validation = Rule::new(
    "!isCIDR(self.serviceCIDR) || !isCIDR(self.podCIDR) || (!cidr(self.serviceCIDR).containsCIDR(self.podCIDR) && !cidr(self.podCIDR).containsCIDR(self.serviceCIDR))"
).message("podCIDR and serviceCIDR must not overlap"))]
pub struct KubernetesSpec {
    /// Port the guest API server listens on.
    #[serde(default = "default_api_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub api_port: i32,

    /// Range Service cluster IPs are allocated from.
    #[serde(rename = "serviceCIDR", default = "default_service_cidr")]
    #[schemars(extend("format" = "cidr"), length(max = 43))]
    pub service_cidr: String,

    /// Range pod IPs are allocated from.
    #[serde(rename = "podCIDR", default = "default_pod_cidr")]
    #[schemars(extend("format" = "cidr"), length(max = 43))]
    pub pod_cidr: String,

    /// Cluster IP of the guest DNS service; inside `serviceCIDR`.
    #[serde(rename = "dnsIP", default = "default_dns_ip")]
    #[schemars(length(max = 39))]
    #[x_kube(validation = Rule::new("isIP(self)").message("dnsIP must be an IP address"))]
    pub dns_ip: String,

    /// Cluster DNS domain.
    #[serde(default = "default_cluster_domain")]
    #[schemars(length(min = 1, max = 200), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub cluster_domain: String,
}

impl Default for KubernetesSpec {
    fn default() -> Self {
        Self {
            api_port: default_api_port(),
            service_cidr: default_service_cidr(),
            pod_cidr: default_pod_cidr(),
            dns_ip: default_dns_ip(),
            cluster_domain: default_cluster_domain(),
        }
    }
}

/// Settings of the guest etcd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdSpec {
    /// Client port of etcd.
    #[serde(default = "default_etcd_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        Self {
            port: default_etcd_port(),
        }
    }
}

fn default_api_port() -> i32 {
    443
}
fn default_service_cidr() -> String {
    "172.31.0.0/16".to_owned()
}
fn default_pod_cidr() -> String {
    "10.2.0.0/16".to_owned()
}
fn default_dns_ip() -> String {
    "172.31.0.10".to_owned()
}
fn default_cluster_domain() -> String {
    "cluster.local".to_owned()
}
fn default_etcd_port() -> i32 {
    2379
}
