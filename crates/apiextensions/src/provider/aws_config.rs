//! `AWSConfig`: a guest cluster on AWS, run as CloudFormation stacks by aws-operator.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::node::{ODD_MASTERS_MESSAGE, ODD_MASTERS_RULE};
use crate::cluster::ClusterSpec;
use crate::schema;
use crate::status;

/// Desired guest cluster on AWS.
#[allow(
    clippy::duplicated_attributes,
    reason = "printcolumn(...) entries legitimately repeat type_ = ...; a known clippy false positive on derive helpers"
)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "provider.operatorkit.dev",
    version = "v1alpha1",
    kind = "AWSConfig",
    plural = "awsconfigs",
    singular = "awsconfig",
    shortname = "awscfg",
    category = "operatorkit",
    namespaced,
    status = "AWSConfigStatus",
    derive = "PartialEq",
    doc = "A guest Kubernetes cluster on AWS, run as CloudFormation stacks by aws-operator.",
    selectable = ".spec.cluster.id",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.id"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.cluster.version"
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
#[x_kube(validation = Rule::new("self.availabilityZones.all(z, z.startsWith(self.region))")
    .message("every availability zone must be in the cluster's region"))]
pub struct AWSConfigSpec {
    /// The guest cluster.
    pub cluster: ClusterSpec,

    /// AWS region, e.g. `eu-central-1`.
    #[schemars(
        regex(pattern = "^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$"),
        length(max = 32)
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: String,

    /// Availability zones the nodes are spread over, e.g. `eu-central-1a`.
    #[schemars(
        length(min = 1, max = 6),
        inner(
            regex(pattern = "^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+[a-z]$"),
            length(max = 32)
        )
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub availability_zones: Vec<String>,

    /// Secret holding the AWS credentials (`aws_access_key_id`,
    /// `aws_secret_access_key`) of the account the cluster runs in.
    pub credential_secret: SecretReference,

    /// Route53 hosted zones the cluster's records are written to.
    pub hosted_zones: HostedZones,

    /// Master nodes; an odd number so etcd keeps quorum.
    #[schemars(length(min = 1, max = 7))]
    #[x_kube(validation = Rule::new(ODD_MASTERS_RULE).message(ODD_MASTERS_MESSAGE))]
    pub masters: Vec<AWSNode>,

    /// Worker nodes.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub workers: Vec<AWSNode>,

    /// The cluster's VPC.
    pub vpc: Vpc,
}

/// Reference to a Secret by namespace and name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub name: String,
    /// Namespace of the Secret.
    #[schemars(length(min = 1, max = 63), regex(pattern = schema::DNS_LABEL))]
    pub namespace: String,
}

/// Route53 hosted zones, by domain name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostedZones {
    /// Zone of the API record.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub api: String,
    /// Zone of the etcd record.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub etcd: String,
    /// Zone of the ingress records.
    #[schemars(length(min = 1, max = 253), regex(pattern = schema::DNS_SUBDOMAIN))]
    pub ingress: String,
}

/// One EC2 node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AWSNode {
    /// AMI of the node, e.g. `ami-0123456789abcdef0`.
    #[serde(rename = "imageID")]
    #[schemars(regex(pattern = "^ami-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    pub image_id: String,
    /// EC2 instance type, e.g. `m5.xlarge`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"), length(max = 32))]
    pub instance_type: String,
    /// Docker volume, a quantity such as `50Gi`.
    #[serde(default = "default_docker_volume_size")]
    #[schemars(schema_with = "schema::quantity")]
    #[x_kube(validation = Rule::new("!isQuantity(self) || quantity(self).compareTo(quantity('1Gi')) >= 0")
        .message("dockerVolumeSize must be at least 1Gi"))]
    pub docker_volume_size: Quantity,
}

fn default_docker_volume_size() -> Quantity {
    Quantity("50Gi".to_owned())
}

/// The cluster's VPC and its subnets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!isCIDR(self.cidr) || !isCIDR(self.privateSubnetCIDR) || !isCIDR(self.publicSubnetCIDR) || (cidr(self.cidr).containsCIDR(self.privateSubnetCIDR) && cidr(self.cidr).containsCIDR(self.publicSubnetCIDR))"
).message("privateSubnetCIDR and publicSubnetCIDR must lie inside the VPC cidr"))]
#[x_kube(validation = Rule::new(
    "!isCIDR(self.privateSubnetCIDR) || !isCIDR(self.publicSubnetCIDR) || (!cidr(self.privateSubnetCIDR).containsCIDR(self.publicSubnetCIDR) && !cidr(self.publicSubnetCIDR).containsCIDR(self.privateSubnetCIDR))"
).message("privateSubnetCIDR and publicSubnetCIDR must not overlap"))]
pub struct Vpc {
    /// CIDR of the VPC.
    #[schemars(extend("format" = "cidr"), length(max = 43))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("vpc.cidr is immutable"))]
    pub cidr: String,
    /// CIDR of the private subnets, inside `cidr`.
    #[serde(rename = "privateSubnetCIDR")]
    #[schemars(extend("format" = "cidr"), length(max = 43))]
    pub private_subnet_cidr: String,
    /// CIDR of the public subnets, inside `cidr`.
    #[serde(rename = "publicSubnetCIDR")]
    #[schemars(extend("format" = "cidr"), length(max = 43))]
    pub public_subnet_cidr: String,
    /// VPC to peer with (the host cluster's), e.g. `vpc-0123abcd`.
    #[serde(rename = "peerID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^vpc-[0-9a-f]{8,17}$"))]
    pub peer_id: Option<String>,
}

/// Observed state of an `AWSConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AWSConfigStatus {
    /// `Ready` and kind-specific conditions.
    #[serde(default)]
    #[schemars(schema_with = "status::conditions")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ID of the VPC aws-operator created.
    #[serde(rename = "vpcID", default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Where the guest cluster's API is served, e.g.
    /// `https://api.<id>.<baseDomain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Master instances that are running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_masters: Option<i32>,
    /// Worker instances in service in their auto scaling groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_workers: Option<i32>,
    /// The cluster's CloudFormation stacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub stacks: Vec<AWSStackStatus>,
}

/// One CloudFormation stack of a cluster, as aws-operator last saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AWSStackStatus {
    /// The stack's name, e.g. `<cluster-id>-guest`.
    pub name: String,
    /// CloudFormation's status of it, e.g. `CREATE_COMPLETE`.
    pub status: String,
    /// Hash of the template and parameters aws-operator last asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}
