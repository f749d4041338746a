//! `KVMConfig`: a guest cluster whose nodes run as KVM virtual machines inside pods
//! of the host cluster, created by kvm-operator.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::node::{ODD_MASTERS_MESSAGE, ODD_MASTERS_RULE};
use crate::cluster::ClusterSpec;
use crate::schema;
use crate::status;

/// Desired guest cluster on KVM.
#[allow(
    clippy::duplicated_attributes,
    reason = "printcolumn(...) entries legitimately repeat type_ = ...; a known clippy false positive on derive helpers"
)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "provider.operatorkit.dev",
    version = "v1alpha1",
    kind = "KVMConfig",
    plural = "kvmconfigs",
    singular = "kvmconfig",
    shortname = "kvmcfg",
    category = "operatorkit",
    namespaced,
    status = "KVMConfigStatus",
    derive = "PartialEq",
    doc = "A guest Kubernetes cluster whose nodes run as KVM virtual machines in pods of the host cluster.",
    selectable = ".spec.cluster.id",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.id"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.cluster.version"
    ),
    printcolumn(
        name = "Masters",
        type_ = "integer",
        json_path = ".status.readyMasters"
    ),
    printcolumn(
        name = "Workers",
        type_ = "integer",
        json_path = ".status.readyWorkers"
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
#[x_kube(validation = Rule::new("self.workers.all(w, !self.masters.exists(m, m.id == w.id))")
    .message("a node id may be used once, by a master or by a worker"))]
pub struct KVMConfigSpec {
    /// The guest cluster.
    pub cluster: ClusterSpec,

    /// Master nodes; an odd number so etcd keeps quorum. The set of master
    /// ids is fixed when the cluster is created (etcd membership); each
    /// master's size may change, which replaces its VM.
    #[schemars(length(min = 1, max = 7))]
    #[x_kube(validation = Rule::new(ODD_MASTERS_RULE).message(ODD_MASTERS_MESSAGE))]
    #[x_kube(validation = Rule::new("self.all(n, self.exists_one(o, o.id == n.id))")
        .message("master ids must be unique"))]
    #[x_kube(validation = Rule::new("self.map(n, n.id) == oldSelf.map(n, n.id)")
        .message("masters cannot be added, removed, renamed or reordered once the cluster exists (etcd membership); change a master's size instead"))]
    pub masters: Vec<KVMNode>,

    /// Worker nodes. A worker is known by its `id`: removing one from the
    /// middle of the list removes that worker's VM.
    #[serde(default)]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new("self.all(n, self.exists_one(o, o.id == n.id))")
        .message("worker ids must be unique"))]
    pub workers: Vec<KVMNode>,

    /// Where VM disks live; fixed when the cluster is created.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("storageType is immutable"))]
    pub storage_type: StorageType,

    /// Flannel overlay settings of the guest cluster.
    pub flannel: KVMFlannel,

    /// Host node ports forwarded into the guest cluster's ingress.
    #[serde(default)]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.nodePort == p.nodePort))")
        .message("nodePort values must be unique"))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.name == p.name))")
        .message("portMappings names must be unique"))]
    pub port_mappings: Vec<PortMapping>,

    /// Container images; the operator's defaults for its version when unset.
    #[serde(default)]
    pub images: KVMImages,
}

/// Size of one KVM node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KVMNode {
    /// The node's identity within the cluster, e.g. `m1` or `w7`: it names
    /// the node's VM, pod, Secret and volumes, and the guest Node. A node
    /// whose id is new is created; one whose id is gone is removed.
    #[schemars(length(min = 1, max = 20), regex(pattern = schema::DNS_LABEL))]
    pub id: String,

    /// Virtual CPUs.
    #[schemars(range(min = 1, max = 64))]
    pub cpus: i32,

    /// Memory, a quantity such as `4Gi`; at least `1Gi`.
    #[schemars(schema_with = "schema::quantity")]
    #[x_kube(validation = Rule::new("!isQuantity(self) || quantity(self).compareTo(quantity('1Gi')) >= 0")
        .message("memory must be at least 1Gi"))]
    pub memory: Quantity,

    /// Root disk, a quantity such as `20Gi`; at least `10Gi`.
    #[schemars(schema_with = "schema::quantity")]
    #[x_kube(validation = Rule::new("!isQuantity(self) || quantity(self).compareTo(quantity('10Gi')) >= 0")
        .message("disk must be at least 10Gi"))]
    pub disk: Quantity,

    /// Docker volume, a quantity such as `50Gi`.
    #[serde(default = "default_docker_volume_size")]
    #[schemars(schema_with = "schema::quantity")]
    #[x_kube(validation = Rule::new("!isQuantity(self) || quantity(self).compareTo(quantity('1Gi')) >= 0")
        .message("dockerVolumeSize must be at least 1Gi"))]
    pub docker_volume_size: Quantity,
}

fn default_docker_volume_size() -> Quantity {
    Quantity("20Gi".to_owned())
}

/// Where the disks of the guest VMs are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StorageType {
    /// A PersistentVolumeClaim per VM: survives a pod moving to another host.
    #[default]
    PersistentVolume,
    /// A directory on the host node: fast, lost when the pod moves.
    HostPath,
}

/// Flannel settings of a KVM guest cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KVMFlannel {
    /// VXLAN network identifier; unique per guest cluster on a host.
    #[schemars(range(min = 1, max = 16_777_215))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("flannel.vni is immutable"))]
    pub vni: i32,
}

/// A host node port forwarded into the guest cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Name of the mapping, e.g. `http`.
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::DNS_LABEL))]
    pub name: String,
    /// Port on every host node, in the NodePort range.
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: i32,
    /// Port in the guest cluster.
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: i32,
}

/// Images kvm-operator runs; each unset one is the operator's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KVMImages {
    /// Image of the pod that runs a VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub vm: Option<String>,
    /// Image that keeps the guest API endpoints up to date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub endpoint_updater: Option<String>,
}

/// Observed state of a `KVMConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KVMConfigStatus {
    /// `Ready` and kind-specific conditions.
    #[serde(default)]
    #[schemars(schema_with = "status::conditions")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Master VMs whose pods are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_masters: Option<i32>,
    /// Worker VMs whose pods are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_workers: Option<i32>,
    /// One entry per node of the spec (and per node still being removed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub nodes: Vec<KVMNodeStatus>,
}

/// Role of a guest node.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum NodeRole {
    /// Runs etcd and the control plane.
    #[serde(rename = "master")]
    Master,
    /// Runs workloads.
    #[serde(rename = "worker")]
    Worker,
}

impl NodeRole {
    /// `master` or `worker`, as in names and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Master => "master",
            NodeRole::Worker => "worker",
        }
    }
}

/// Observed state of one guest node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KVMNodeStatus {
    /// The node's id from the spec.
    pub id: String,
    /// Master or worker.
    pub role: NodeRole,
    /// The VM pod now running the node, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Phase of that pod (`Pending`, `Running`, ...), or `Removing` while
    /// the node is drained and its VM deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Whether the node is ready: its guest Node when the guest API
    /// answers, else its VM pod.
    pub ready: bool,
}
