//! The CloudFormation resource types aws-operator's stacks are made of,
//! each with the properties it sets (pure). Field names are
//! CloudFormation's, in snake case; `serde` writes them back in Pascal
//! case (the few that do not convert say so). What a type leaves out takes
//! CloudFormation's default.

use serde::Serialize;

use crate::template::{Expr, Properties, Tag};

macro_rules! resource_type {
    ($name:ident, $type_:literal) => {
        impl Properties for $name {
            const TYPE: &'static str = $type_;
        }
    };
}

/// `AWS::EC2::VPC`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    /// The VPC's CIDR.
    pub cidr_block: Expr,
    /// DNS resolution in the VPC.
    pub enable_dns_support: bool,
    /// DNS names for instances.
    pub enable_dns_hostnames: bool,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(Vpc, "AWS::EC2::VPC");

/// `AWS::EC2::InternetGateway`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetGateway {
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(InternetGateway, "AWS::EC2::InternetGateway");

/// `AWS::EC2::VPCGatewayAttachment`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayAttachment {
    /// The VPC.
    pub vpc_id: Expr,
    /// The internet gateway.
    pub internet_gateway_id: Expr,
}
resource_type!(GatewayAttachment, "AWS::EC2::VPCGatewayAttachment");

/// `AWS::EC2::Subnet`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subnet {
    /// The VPC.
    pub vpc_id: Expr,
    /// The subnet's CIDR.
    pub cidr_block: Expr,
    /// Its availability zone.
    pub availability_zone: Expr,
    /// Whether instances get public addresses.
    pub map_public_ip_on_launch: bool,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(Subnet, "AWS::EC2::Subnet");

/// `AWS::EC2::EIP` (for a NAT gateway).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ElasticIp {
    /// Always `vpc`.
    pub domain: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(ElasticIp, "AWS::EC2::EIP");

/// `AWS::EC2::NatGateway`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NatGateway {
    /// Its elastic IP's allocation.
    pub allocation_id: Expr,
    /// The public subnet it is in.
    pub subnet_id: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(NatGateway, "AWS::EC2::NatGateway");

/// `AWS::EC2::RouteTable`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTable {
    /// The VPC.
    pub vpc_id: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(RouteTable, "AWS::EC2::RouteTable");

/// `AWS::EC2::Route`: to an internet gateway, a NAT gateway or a peering
/// connection.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    /// The route table.
    pub route_table_id: Expr,
    /// Where the route goes.
    pub destination_cidr_block: Expr,
    /// Through an internet gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<Expr>,
    /// Through a NAT gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<Expr>,
    /// Through a VPC peering connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_peering_connection_id: Option<Expr>,
}
resource_type!(Route, "AWS::EC2::Route");

/// `AWS::EC2::SubnetRouteTableAssociation`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTableAssociation {
    /// The route table.
    pub route_table_id: Expr,
    /// The subnet.
    pub subnet_id: Expr,
}
resource_type!(
    RouteTableAssociation,
    "AWS::EC2::SubnetRouteTableAssociation"
);

/// One rule of a security group.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ingress {
    /// `tcp` or `udp` (not `-1`: moto needs ports, which cfn-lint warns
    /// are ignored for `-1`).
    pub ip_protocol: String,
    /// First port.
    pub from_port: i64,
    /// Last port.
    pub to_port: i64,
    /// From addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ip: Option<Expr>,
    /// From members of a security group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_security_group_id: Option<Expr>,
    /// What it is for.
    pub description: String,
}

/// `AWS::EC2::SecurityGroup`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    /// What it is for.
    pub group_description: String,
    /// The VPC.
    pub vpc_id: Expr,
    /// Inbound rules.
    pub security_group_ingress: Vec<Ingress>,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(SecurityGroup, "AWS::EC2::SecurityGroup");

/// An inline IAM policy.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// Its name.
    pub policy_name: String,
    /// The policy document.
    pub policy_document: serde_json::Value,
}

/// `AWS::IAM::Role`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// Who may assume it.
    pub assume_role_policy_document: serde_json::Value,
    /// Inline policies.
    pub policies: Vec<Policy>,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(Role, "AWS::IAM::Role");

/// `AWS::IAM::InstanceProfile`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceProfile {
    /// Its role.
    pub roles: Vec<Expr>,
}
resource_type!(InstanceProfile, "AWS::IAM::InstanceProfile");

/// An EBS volume of an instance.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ebs {
    /// Size in GiB.
    pub volume_size: i64,
    /// `gp3`.
    pub volume_type: String,
    /// Deleted with the instance.
    pub delete_on_termination: bool,
    /// Encrypted at rest.
    pub encrypted: bool,
}

/// A block device of an instance.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockDevice {
    /// e.g. `/dev/xvdh`.
    pub device_name: String,
    /// Its volume.
    pub ebs: Ebs,
}

/// `AWS::EC2::Instance`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    /// The AMI.
    pub image_id: Expr,
    /// The instance type.
    pub instance_type: Expr,
    /// Its instance profile.
    pub iam_instance_profile: Expr,
    /// Its subnet.
    pub subnet_id: Expr,
    /// Its security groups.
    pub security_group_ids: Vec<Expr>,
    /// Its volumes.
    pub block_device_mappings: Vec<BlockDevice>,
    /// What it runs at boot.
    pub user_data: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(Instance, "AWS::EC2::Instance");

/// The instance profile of a launch template, by ARN.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileArn {
    /// The ARN.
    pub arn: Expr,
}

/// Tags of what a launch template starts.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSpecification {
    /// `instance` or `volume`.
    pub resource_type: String,
    /// The tags.
    pub tags: Vec<Tag>,
}

/// What a launch template starts.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LaunchTemplateData {
    /// The AMI.
    pub image_id: Expr,
    /// The instance type.
    pub instance_type: Expr,
    /// The instance profile.
    pub iam_instance_profile: ProfileArn,
    /// Security groups.
    pub security_group_ids: Vec<Expr>,
    /// Volumes.
    pub block_device_mappings: Vec<BlockDevice>,
    /// What it runs at boot.
    pub user_data: Expr,
    /// Tags of instances and volumes.
    pub tag_specifications: Vec<TagSpecification>,
}

/// `AWS::EC2::LaunchTemplate`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LaunchTemplate {
    /// What it starts.
    pub launch_template_data: LaunchTemplateData,
}
resource_type!(LaunchTemplate, "AWS::EC2::LaunchTemplate");

/// A launch template by id and version.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LaunchTemplateRef {
    /// Its id.
    pub launch_template_id: Expr,
    /// Its version.
    pub version: Expr,
}

/// `AWS::AutoScaling::AutoScalingGroup`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutoScalingGroup {
    /// Fewest instances (CloudFormation takes a string).
    pub min_size: String,
    /// Most instances.
    pub max_size: String,
    /// Instances wanted.
    pub desired_capacity: String,
    /// What it starts.
    pub launch_template: LaunchTemplateRef,
    /// The subnets it starts instances in.
    #[serde(rename = "VPCZoneIdentifier")]
    pub vpc_zone_identifier: Vec<Expr>,
    /// Classic load balancers its instances join.
    pub load_balancer_names: Vec<Expr>,
    /// Tags (propagated to instances).
    pub tags: Vec<Tag>,
}
resource_type!(AutoScalingGroup, "AWS::AutoScaling::AutoScalingGroup");

/// A listener of a classic load balancer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listener {
    /// Port it listens on (a string for CloudFormation).
    pub load_balancer_port: String,
    /// Port of the instances.
    pub instance_port: String,
    /// `TCP`: TLS ends on the instances.
    pub protocol: String,
}

/// A classic load balancer's health check.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    /// e.g. `TCP:443`.
    pub target: String,
    /// Checks passed to be healthy.
    pub healthy_threshold: String,
    /// Checks failed to be unhealthy.
    pub unhealthy_threshold: String,
    /// Seconds between checks.
    pub interval: String,
    /// Seconds a check may take.
    pub timeout: String,
}

/// `AWS::ElasticLoadBalancing::LoadBalancer` (classic: TCP passes TLS
/// through to the nodes).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancer {
    /// `internet-facing` or `internal`.
    pub scheme: String,
    /// Its subnets.
    pub subnets: Vec<Expr>,
    /// Its security groups.
    pub security_groups: Vec<Expr>,
    /// Its listeners.
    pub listeners: Vec<Listener>,
    /// Its health check.
    pub health_check: HealthCheck,
    /// Its instances (masters; workers join through their group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Expr>,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(LoadBalancer, "AWS::ElasticLoadBalancing::LoadBalancer");

/// `AWS::Route53::RecordSet`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordSet {
    /// The zone, with its trailing dot.
    pub hosted_zone_name: String,
    /// The record's name.
    pub name: String,
    /// `CNAME`.
    #[serde(rename = "Type")]
    pub type_: String,
    /// Seconds (a string for CloudFormation).
    #[serde(rename = "TTL")]
    pub ttl: String,
    /// Its values.
    pub resource_records: Vec<Expr>,
}
resource_type!(RecordSet, "AWS::Route53::RecordSet");

/// `AWS::EC2::VPCPeeringConnection`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeeringConnection {
    /// The requesting VPC.
    pub vpc_id: Expr,
    /// The accepting VPC.
    pub peer_vpc_id: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}
resource_type!(PeeringConnection, "AWS::EC2::VPCPeeringConnection");
