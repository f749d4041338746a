//! The guest cluster's CloudFormation stack (pure): the template of an
//! AWSConfig's cluster and its parameters, built from typed values
//! ([`crate::template`], [`crate::resources`]).
//!
//! ```text
//!   VPC ─── internet gateway
//!    ├── per zone: public subnet (NAT gateway, public load balancers)
//!    │             private subnet (nodes, the internal etcd balancer)
//!    ├── routes: public → internet gateway; private, per zone → its NAT
//!    ├── security groups: masters, workers, one per load balancer
//!    ├── IAM roles and instance profiles: masters, workers (each reads
//!    │   its own boot configuration from the bucket, decrypted by the key)
//!    ├── masters: an instance each, spread over the zones in order
//!    ├── workers: a launch template and an auto scaling group per
//!    │   distinct node spec (identical workers share a group)
//!    ├── load balancers (classic, TCP; TLS ends on the nodes):
//!    │   api :443 → masters :apiPort, etcd :etcdPort (internal),
//!    │   ingress :80/:443 → workers :30010/:30011
//!    └── Route53 CNAMEs: api, etcd, ingress and *.<id>.<baseDomain>
//! ```
//!
//! The availability zones are a parameter (typed, so CloudFormation checks
//! them); everything else is in the template.

use std::collections::BTreeMap;

use apiextensions::AWSConfig;
use apiextensions::provider::aws_config::AWSNode;
use ipnet::Ipv4Net;
use serde_json::json;

use crate::names::{boot_object, tags};
use crate::resources::*;
use crate::template::{Expr, Tag, Template, TemplateError, attribute, refer, tag_list};

/// Node port of the ingress controller's HTTP, on every worker.
pub const INGRESS_HTTP_NODE_PORT: i64 = 30010;
/// Node port of the ingress controller's HTTPS, on every worker.
pub const INGRESS_HTTPS_NODE_PORT: i64 = 30011;
/// The parameter naming the availability zones.
pub const ZONES_PARAMETER: &str = "AvailabilityZones";
/// The smallest subnet AWS allows.
const SMALLEST_SUBNET: u8 = 28;

/// Outputs of the stack.
pub mod outputs {
    /// The VPC's id.
    pub const VPC_ID: &str = "VpcId";
    /// The masters' instance ids, comma-separated.
    pub const MASTER_INSTANCES: &str = "MasterInstances";
    /// The workers' auto scaling groups, comma-separated.
    pub const WORKER_GROUPS: &str = "WorkerGroups";
    /// The API load balancer's DNS name.
    pub const API_LOAD_BALANCER: &str = "ApiLoadBalancerDNSName";
    /// The private route tables, comma-separated (for peering routes).
    pub const PRIVATE_ROUTE_TABLES: &str = "PrivateRouteTables";
}

/// Why no template could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The spec asks for something AWS cannot do.
    #[error("{0}")]
    InvalidSpec(String),
    /// A bug.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// A stack's template and parameters.
#[derive(Clone, Debug)]
pub struct StackInput {
    /// The template.
    pub template: Template,
    /// Parameter values by name.
    pub parameters: BTreeMap<String, String>,
}

impl StackInput {
    /// The hash of template and parameters.
    pub fn hash(&self) -> String {
        self.template.hash(&self.parameters)
    }
}

/// What the guest stack refers to outside itself.
pub struct Inputs<'a> {
    /// The AWSConfig.
    pub config: &'a AWSConfig,
    /// The bucket of the boot configurations.
    pub bucket: &'a str,
    /// The ARN of the cluster's KMS key.
    pub key_arn: &'a str,
    /// aws-operator's version (a tag).
    pub version: &'a str,
}

/// The guest cluster's stack.
pub fn guest_stack(inputs: &Inputs<'_>) -> Result<StackInput, BuildError> {
    let spec = &inputs.config.spec;
    let mut b = Builder {
        t: Template::new(format!(
            "Guest Kubernetes cluster {} (aws-operator {})",
            spec.cluster.id, inputs.version
        )),
        inputs,
        tags: tags(&spec.cluster.id, inputs.version),
    };
    b.t.parameter(
        ZONES_PARAMETER,
        "List<AWS::EC2::AvailabilityZone::Name>",
        "The availability zones of the subnets, in order",
    );
    b.network()?;
    b.security_groups()?;
    b.roles()?;
    b.masters()?;
    b.load_balancers()?;
    b.workers()?;
    b.records()?;
    b.outputs();
    let parameters = BTreeMap::from([(
        ZONES_PARAMETER.to_owned(),
        spec.availability_zones.join(","),
    )]);
    Ok(StackInput {
        template: b.t,
        parameters,
    })
}

/// `cidr` split into `n` equal subnets (`n` rounded up to a power of two).
pub fn split(cidr: &str, n: usize) -> Result<Vec<String>, String> {
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| format!("{cidr} is not an IPv4 CIDR"))?;
    let bits = n.max(1).next_power_of_two().trailing_zeros();
    let prefix = u32::from(net.prefix_len()) + bits;
    let too_small = || {
        format!(
            "{cidr} is too small for {n} subnets of at least /{SMALLEST_SUBNET}, AWS's smallest"
        )
    };
    let prefix = u8::try_from(prefix)
        .ok()
        .filter(|p| *p <= SMALLEST_SUBNET)
        .ok_or_else(too_small)?;
    let subnets = net.subnets(prefix).map_err(|_| too_small())?;
    Ok(subnets.take(n).map(|s| s.to_string()).collect())
}

/// A quantity (`50Gi`, `100G`, `1Ti`, `53687091200`) in GiB, rounded up.
pub fn gib(quantity: &str) -> Result<i64, String> {
    let bad = || format!("{quantity} is not a size");
    let split = quantity
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        _ => return Err(bad()),
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let gib = (number * factor / 1024f64.powi(3)).ceil();
    if !(1.0..=16384.0).contains(&gib) {
        return Err(format!(
            "{quantity} is outside what an EBS volume can be (1 GiB to 16 TiB)"
        ));
    }
    // In 1..=16384 by the check above: the cast is exact.
    Ok(gib as i64)
}

/// Logical ids, so every reference names what exists.
mod ids {
    pub const VPC: &str = "Vpc";
    pub const GATEWAY: &str = "InternetGateway";
    pub const ATTACHMENT: &str = "InternetGatewayAttachment";
    pub const PUBLIC_ROUTES: &str = "PublicRouteTable";
    pub const MASTER_SG: &str = "MasterSecurityGroup";
    pub const WORKER_SG: &str = "WorkerSecurityGroup";
    pub const API_SG: &str = "ApiLoadBalancerSecurityGroup";
    pub const ETCD_SG: &str = "EtcdLoadBalancerSecurityGroup";
    pub const INGRESS_SG: &str = "IngressLoadBalancerSecurityGroup";
    pub const MASTER_ROLE: &str = "MasterRole";
    pub const WORKER_ROLE: &str = "WorkerRole";
    pub const MASTER_PROFILE: &str = "MasterInstanceProfile";
    pub const WORKER_PROFILE: &str = "WorkerInstanceProfile";
    pub const API_LB: &str = "ApiLoadBalancer";
    pub const ETCD_LB: &str = "EtcdLoadBalancer";
    pub const INGRESS_LB: &str = "IngressLoadBalancer";

    pub fn public_subnet(i: usize) -> String {
        format!("PublicSubnet{i}")
    }
    pub fn private_subnet(i: usize) -> String {
        format!("PrivateSubnet{i}")
    }
    pub fn private_routes(i: usize) -> String {
        format!("PrivateRouteTable{i}")
    }
    pub fn nat(i: usize) -> String {
        format!("NatGateway{i}")
    }
    pub fn master(i: usize) -> String {
        format!("Master{i}")
    }
    pub fn worker_group(i: usize) -> String {
        format!("WorkerGroup{i}")
    }
    pub fn launch_template(i: usize) -> String {
        format!("WorkerLaunchTemplate{i}")
    }
}

struct Builder<'a> {
    t: Template,
    inputs: &'a Inputs<'a>,
    tags: Vec<(String, String)>,
}

impl Builder<'_> {
    fn zones(&self) -> usize {
        self.inputs.config.spec.availability_zones.len()
    }

    fn tags(&self, name: &str) -> Vec<Tag> {
        let mut tags = tag_list(&self.tags);
        tags.push(Tag {
            key: "Name".into(),
            value: format!("{}-{name}", self.inputs.config.spec.cluster.id).into(),
            propagate_at_launch: None,
        });
        tags
    }

    fn zone(&self, i: usize) -> Expr {
        Expr::Select(i, Box::new(refer(ZONES_PARAMETER)))
    }

    fn network(&mut self) -> Result<(), BuildError> {
        let vpc = &self.inputs.config.spec.vpc;
        let n = self.zones();
        let public = split(&vpc.public_subnet_cidr, n).map_err(BuildError::InvalidSpec)?;
        let private = split(&vpc.private_subnet_cidr, n).map_err(BuildError::InvalidSpec)?;
        let vpc_resource = Vpc {
            cidr_block: vpc.cidr.as_str().into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
            tags: self.tags("vpc"),
        };
        self.t.resource(ids::VPC, &vpc_resource, &[])?;
        let gateway = InternetGateway {
            tags: self.tags("gateway"),
        };
        self.t.resource(ids::GATEWAY, &gateway, &[])?;
        let attachment = GatewayAttachment {
            vpc_id: refer(ids::VPC),
            internet_gateway_id: refer(ids::GATEWAY),
        };
        self.t.resource(ids::ATTACHMENT, &attachment, &[])?;
        let table = RouteTable {
            vpc_id: refer(ids::VPC),
            tags: self.tags("public"),
        };
        self.t.resource(ids::PUBLIC_ROUTES, &table, &[])?;
        let route = Route {
            route_table_id: refer(ids::PUBLIC_ROUTES),
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: Some(refer(ids::GATEWAY)),
            nat_gateway_id: None,
            vpc_peering_connection_id: None,
        };
        self.t.resource("PublicRoute", &route, &[ids::ATTACHMENT])?;
        for i in 0..n {
            self.zone_network(i, &public[i], &private[i])?;
        }
        Ok(())
    }

    /// Zone `i`'s subnets, NAT gateway and private routes.
    fn zone_network(&mut self, i: usize, public: &str, private: &str) -> Result<(), BuildError> {
        for (id, cidr, is_public) in [
            (ids::public_subnet(i), public, true),
            (ids::private_subnet(i), private, false),
        ] {
            let subnet = Subnet {
                vpc_id: refer(ids::VPC),
                cidr_block: cidr.into(),
                availability_zone: self.zone(i),
                map_public_ip_on_launch: false,
                tags: self.tags(&id.to_lowercase()),
            };
            self.t.resource(&id, &subnet, &[])?;
            let table = if is_public {
                ids::PUBLIC_ROUTES.to_owned()
            } else {
                ids::private_routes(i)
            };
            let association = RouteTableAssociation {
                route_table_id: refer(&table),
                subnet_id: refer(&id),
            };
            self.t.resource(&format!("{id}Routes"), &association, &[])?;
        }
        let ip = format!("NatIp{i}");
        let eip = ElasticIp {
            domain: "vpc".into(),
            tags: self.tags(&format!("nat{i}")),
        };
        self.t.resource(&ip, &eip, &[ids::ATTACHMENT])?;
        let nat = NatGateway {
            allocation_id: attribute(&ip, "AllocationId"),
            subnet_id: refer(&ids::public_subnet(i)),
            tags: self.tags(&format!("nat{i}")),
        };
        self.t.resource(&ids::nat(i), &nat, &[])?;
        let table = RouteTable {
            vpc_id: refer(ids::VPC),
            tags: self.tags(&format!("private{i}")),
        };
        self.t.resource(&ids::private_routes(i), &table, &[])?;
        let route = Route {
            route_table_id: refer(&ids::private_routes(i)),
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: None,
            nat_gateway_id: Some(refer(&ids::nat(i))),
            vpc_peering_connection_id: None,
        };
        self.t.resource(&format!("PrivateRoute{i}"), &route, &[])?;
        Ok(())
    }

    fn security_groups(&mut self) -> Result<(), BuildError> {
        let cluster = &self.inputs.config.spec.cluster;
        let vpc_cidr = self.inputs.config.spec.vpc.cidr.clone();
        let (api_port, etcd_port) = (
            i64::from(cluster.kubernetes.api_port),
            i64::from(cluster.etcd.port),
        );
        let from_cidr = |port: i64, cidr: &str, what: &str| Ingress {
            ip_protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr_ip: Some(cidr.into()),
            source_security_group_id: None,
            description: what.into(),
        };
        let from_group = |port: i64, group: &str, what: &str| Ingress {
            ip_protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr_ip: None,
            source_security_group_id: Some(refer(group)),
            description: what.into(),
        };
        let inside = ["tcp", "udp"].map(|protocol| Ingress {
            ip_protocol: protocol.into(),
            from_port: 0,
            to_port: 65535,
            cidr_ip: Some(vpc_cidr.as_str().into()),
            source_security_group_id: None,
            description: "the cluster's own traffic".into(),
        });
        let groups = [
            (ids::API_SG, vec![from_cidr(443, "0.0.0.0/0", "the API")]),
            (ids::ETCD_SG, vec![from_cidr(etcd_port, &vpc_cidr, "etcd")]),
            (
                ids::INGRESS_SG,
                vec![
                    from_cidr(80, "0.0.0.0/0", "HTTP"),
                    from_cidr(443, "0.0.0.0/0", "HTTPS"),
                ],
            ),
            (
                ids::MASTER_SG,
                vec![
                    from_group(api_port, ids::API_SG, "the API from its load balancer"),
                    from_group(etcd_port, ids::ETCD_SG, "etcd from its load balancer"),
                ]
                .into_iter()
                .chain(inside.clone())
                .collect(),
            ),
            (
                ids::WORKER_SG,
                vec![
                    from_group(INGRESS_HTTP_NODE_PORT, ids::INGRESS_SG, "ingress HTTP"),
                    from_group(INGRESS_HTTPS_NODE_PORT, ids::INGRESS_SG, "ingress HTTPS"),
                ]
                .into_iter()
                .chain(inside)
                .collect(),
            ),
        ];
        for (id, rules) in groups {
            let group = SecurityGroup {
                group_description: format!("{} of cluster {}", id, cluster.id),
                vpc_id: refer(ids::VPC),
                security_group_ingress: rules,
                tags: self.tags(&id.to_lowercase()),
            };
            self.t.resource(id, &group, &[])?;
        }
        Ok(())
    }

    fn roles(&mut self) -> Result<(), BuildError> {
        let bucket = self.inputs.bucket;
        for (role, profile, prefix) in [
            (ids::MASTER_ROLE, ids::MASTER_PROFILE, "master"),
            (ids::WORKER_ROLE, ids::WORKER_PROFILE, "worker"),
        ] {
            let document = json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": format!("arn:aws:s3:::{bucket}/boot/{prefix}*"),
                    },
                    {
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": self.inputs.key_arn,
                    },
                ],
            });
            let r = Role {
                assume_role_policy_document: json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": "ec2.amazonaws.com" },
                        "Action": "sts:AssumeRole",
                    }],
                }),
                policies: vec![Policy {
                    policy_name: "boot-configuration".into(),
                    policy_document: document,
                }],
                tags: self.tags(prefix),
            };
            self.t.resource(role, &r, &[])?;
            let p = InstanceProfile {
                roles: vec![refer(role)],
            };
            self.t.resource(profile, &p, &[])?;
        }
        Ok(())
    }

    /// The volumes of a node: its Docker volume.
    fn volumes(&self, node: &AWSNode) -> Result<Vec<BlockDevice>, BuildError> {
        let size = gib(&node.docker_volume_size.0)
            .map_err(|m| BuildError::InvalidSpec(format!("dockerVolumeSize: {m}")))?;
        Ok(vec![BlockDevice {
            device_name: "/dev/xvdh".into(),
            ebs: Ebs {
                volume_size: size,
                volume_type: "gp3".into(),
                delete_on_termination: true,
                encrypted: true,
            },
        }])
    }

    /// What a node runs at boot: fetch its configuration from the bucket.
    fn user_data(&self, object: &str) -> Expr {
        let script = format!(
            "#!/bin/sh\n# aws-operator: this node's boot configuration.\nset -eu\n\
             mkdir -p /etc/operatorkit\n\
             aws s3 cp s3://{}/{object} /etc/operatorkit/node.json\n",
            self.inputs.bucket
        );
        Expr::Base64(Box::new(script.into()))
    }

    fn masters(&mut self) -> Result<(), BuildError> {
        let masters = self.inputs.config.spec.masters.clone();
        for (i, node) in masters.iter().enumerate() {
            let instance = Instance {
                image_id: node.image_id.as_str().into(),
                instance_type: node.instance_type.as_str().into(),
                iam_instance_profile: refer(ids::MASTER_PROFILE),
                subnet_id: refer(&ids::private_subnet(i % self.zones())),
                security_group_ids: vec![refer(ids::MASTER_SG)],
                block_device_mappings: self.volumes(node)?,
                user_data: self.user_data(&boot_object("master", Some(i))),
                tags: self.tags(&format!("master{i}")),
            };
            self.t.resource(&ids::master(i), &instance, &[])?;
        }
        Ok(())
    }

    /// The workers, grouped: identical specs share an auto scaling group.
    fn worker_groups(&self) -> Vec<(AWSNode, usize)> {
        let mut groups: Vec<(AWSNode, usize)> = Vec::new();
        for node in &self.inputs.config.spec.workers {
            match groups.iter_mut().find(|(n, _)| n == node) {
                Some((_, count)) => *count += 1,
                None => groups.push((node.clone(), 1)),
            }
        }
        groups
    }

    fn workers(&mut self) -> Result<(), BuildError> {
        let subnets: Vec<Expr> = (0..self.zones())
            .map(|i| refer(&ids::private_subnet(i)))
            .collect();
        for (i, (node, count)) in self.worker_groups().into_iter().enumerate() {
            let data = LaunchTemplateData {
                image_id: node.image_id.as_str().into(),
                instance_type: node.instance_type.as_str().into(),
                iam_instance_profile: ProfileArn {
                    arn: attribute(ids::WORKER_PROFILE, "Arn"),
                },
                security_group_ids: vec![refer(ids::WORKER_SG)],
                block_device_mappings: self.volumes(&node)?,
                user_data: self.user_data(&boot_object("worker", None)),
                tag_specifications: ["instance", "volume"]
                    .map(|r| TagSpecification {
                        resource_type: r.into(),
                        tags: self.tags(&format!("worker{i}")),
                    })
                    .into(),
            };
            let launch = LaunchTemplate {
                launch_template_data: data,
            };
            self.t.resource(&ids::launch_template(i), &launch, &[])?;
            let mut tags = self.tags(&format!("worker{i}"));
            tags.iter_mut()
                .for_each(|t| t.propagate_at_launch = Some(true));
            let group = AutoScalingGroup {
                min_size: count.to_string(),
                max_size: count.to_string(),
                desired_capacity: count.to_string(),
                launch_template: LaunchTemplateRef {
                    launch_template_id: refer(&ids::launch_template(i)),
                    version: attribute(&ids::launch_template(i), "LatestVersionNumber"),
                },
                vpc_zone_identifier: subnets.clone(),
                load_balancer_names: vec![refer(ids::INGRESS_LB)],
                tags,
            };
            // The NAT routes first: a worker without them cannot boot.
            let routes: Vec<String> = (0..self.zones())
                .map(|z| format!("PrivateRoute{z}"))
                .collect();
            let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
            self.t.resource(&ids::worker_group(i), &group, &routes)?;
            self.t.rolling_update(&ids::worker_group(i), count);
        }
        Ok(())
    }

    fn load_balancers(&mut self) -> Result<(), BuildError> {
        let cluster = &self.inputs.config.spec.cluster;
        let (api_port, etcd_port) = (cluster.kubernetes.api_port, cluster.etcd.port);
        let public: Vec<Expr> = (0..self.zones())
            .map(|i| refer(&ids::public_subnet(i)))
            .collect();
        let private: Vec<Expr> = (0..self.zones())
            .map(|i| refer(&ids::private_subnet(i)))
            .collect();
        let masters: Vec<Expr> = (0..self.inputs.config.spec.masters.len())
            .map(|i| refer(&ids::master(i)))
            .collect();
        let listener = |from: i64, to: i64| Listener {
            load_balancer_port: from.to_string(),
            instance_port: to.to_string(),
            protocol: "TCP".into(),
        };
        let check = |port: i64| HealthCheck {
            target: format!("TCP:{port}"),
            healthy_threshold: "2".into(),
            unhealthy_threshold: "3".into(),
            interval: "10".into(),
            timeout: "5".into(),
        };
        let balancers = [
            (
                ids::API_LB,
                "internet-facing",
                public.clone(),
                ids::API_SG,
                vec![listener(443, api_port.into())],
                check(api_port.into()),
                masters.clone(),
            ),
            (
                ids::ETCD_LB,
                "internal",
                private,
                ids::ETCD_SG,
                vec![listener(etcd_port.into(), etcd_port.into())],
                check(etcd_port.into()),
                masters,
            ),
            (
                ids::INGRESS_LB,
                "internet-facing",
                public,
                ids::INGRESS_SG,
                vec![
                    listener(80, INGRESS_HTTP_NODE_PORT),
                    listener(443, INGRESS_HTTPS_NODE_PORT),
                ],
                check(INGRESS_HTTPS_NODE_PORT),
                vec![],
            ),
        ];
        for (id, scheme, subnets, group, listeners, health_check, instances) in balancers {
            let lb = LoadBalancer {
                scheme: scheme.into(),
                subnets,
                security_groups: vec![refer(group)],
                listeners,
                health_check,
                instances,
                tags: self.tags(&id.to_lowercase()),
            };
            self.t.resource(id, &lb, &[ids::ATTACHMENT])?;
        }
        Ok(())
    }

    fn records(&mut self) -> Result<(), BuildError> {
        let spec = &self.inputs.config.spec;
        let zones = &spec.hosted_zones;
        let ingress = spec.cluster.domain("ingress");
        let wildcard = format!("*.{}.{}", spec.cluster.id, spec.cluster.base_domain);
        let records = [
            (
                "ApiRecord",
                &zones.api,
                spec.cluster.domain("api"),
                ids::API_LB,
            ),
            (
                "EtcdRecord",
                &zones.etcd,
                spec.cluster.domain("etcd"),
                ids::ETCD_LB,
            ),
            ("IngressRecord", &zones.ingress, ingress, ids::INGRESS_LB),
            (
                "IngressWildcardRecord",
                &zones.ingress,
                wildcard,
                ids::INGRESS_LB,
            ),
        ];
        for (id, zone, name, balancer) in records {
            let zone = zone.trim_end_matches('.');
            if !name.ends_with(&format!(".{zone}")) {
                return Err(BuildError::InvalidSpec(format!(
                    "record {name} is not inside hosted zone {zone} (spec.hostedZones)"
                )));
            }
            let record = RecordSet {
                hosted_zone_name: format!("{zone}."),
                name,
                type_: "CNAME".into(),
                ttl: "300".into(),
                resource_records: vec![attribute(balancer, "DNSName")],
            };
            self.t.resource(id, &record, &[])?;
        }
        Ok(())
    }

    fn outputs(&mut self) {
        let join =
            |ids: Vec<String>| Expr::Join(",".into(), ids.iter().map(|i| refer(i)).collect());
        let masters = (0..self.inputs.config.spec.masters.len())
            .map(ids::master)
            .collect();
        let groups = (0..self.worker_groups().len())
            .map(ids::worker_group)
            .collect();
        let tables = (0..self.zones()).map(ids::private_routes).collect();
        self.t.output(outputs::VPC_ID, refer(ids::VPC), "The VPC");
        self.t.output(
            outputs::MASTER_INSTANCES,
            join(masters),
            "The masters' instances",
        );
        if !self.inputs.config.spec.workers.is_empty() {
            self.t.output(
                outputs::WORKER_GROUPS,
                join(groups),
                "The workers' auto scaling groups",
            );
        }
        self.t.output(
            outputs::API_LOAD_BALANCER,
            attribute(ids::API_LB, "DNSName"),
            "The API load balancer's DNS name",
        );
        self.t.output(
            outputs::PRIVATE_ROUTE_TABLES,
            join(tables),
            "The private route tables",
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    /// The example AWSConfig of `manifests/examples/awsconfig.yaml`.
    pub(crate) fn example() -> AWSConfig {
        let yaml = include_str!("../../manifests/examples/awsconfig.yaml");
        serde_yaml::from_str(yaml).unwrap()
    }

    pub(crate) fn inputs(config: &AWSConfig) -> Inputs<'_> {
        Inputs {
            config,
            bucket: "xyz89-123456789012-boot",
            key_arn: "arn:aws:kms:eu-central-1:123456789012:key/k",
            version: "0.1.0",
        }
    }

    #[test]
    fn splits_a_cidr_per_zone() {
        assert_eq!(
            split("10.10.0.0/17", 3).unwrap(),
            ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"]
        );
        assert_eq!(split("10.0.0.0/16", 1).unwrap(), ["10.0.0.0/16"]);
        assert_eq!(
            split("10.0.0.0/27", 2).unwrap(),
            ["10.0.0.0/28", "10.0.0.16/28"]
        );
        assert!(split("10.0.0.0/27", 3).unwrap_err().contains("too small"));
        assert!(split("nonsense", 2).is_err());
    }

    #[test]
    fn sizes_in_gib_round_up() {
        assert_eq!(gib("50Gi").unwrap(), 50);
        assert_eq!(gib("100G").unwrap(), 94);
        assert_eq!(gib("1Ti").unwrap(), 1024);
        assert_eq!(gib("1500Mi").unwrap(), 2);
        assert!(gib("1Ei").is_err());
        assert!(gib("big").is_err());
    }

    #[test]
    fn the_example_has_what_the_cluster_needs() {
        let config = example();
        let stack = guest_stack(&inputs(&config)).unwrap();
        let t = &stack.template;
        assert_eq!(t.resources_of("AWS::EC2::Subnet").len(), 6);
        assert_eq!(t.resources_of("AWS::EC2::Instance").len(), 3);
        // Three identical workers: one group of three.
        assert_eq!(
            t.resources_of("AWS::AutoScaling::AutoScalingGroup"),
            ["WorkerGroup0"]
        );
        assert_eq!(
            t.resources_of("AWS::ElasticLoadBalancing::LoadBalancer")
                .len(),
            3
        );
        assert_eq!(t.resources_of("AWS::Route53::RecordSet").len(), 4);
        let body: Value = serde_json::from_str(&t.body()).unwrap();
        let group = &body["Resources"]["WorkerGroup0"]["Properties"];
        assert_eq!(group["DesiredCapacity"], "3");
        let record = &body["Resources"]["ApiRecord"]["Properties"];
        assert_eq!(record["Name"], "api.xyz89.aws.example.com");
        assert_eq!(record["HostedZoneName"], "aws.example.com.");
        let volume = &body["Resources"]["WorkerLaunchTemplate0"]["Properties"]["LaunchTemplateData"]
            ["BlockDeviceMappings"][0]["Ebs"];
        assert_eq!(volume["VolumeSize"], 100);
        assert_eq!(
            stack.parameters[ZONES_PARAMETER],
            "eu-central-1a,eu-central-1b,eu-central-1c"
        );
    }

    #[test]
    fn a_worker_more_changes_the_hash_and_nothing_else_does() {
        let config = example();
        let before = guest_stack(&inputs(&config)).unwrap().hash();
        assert_eq!(before, guest_stack(&inputs(&config)).unwrap().hash());
        let mut more = config.clone();
        more.spec.workers.push(more.spec.workers[0].clone());
        assert_ne!(before, guest_stack(&inputs(&more)).unwrap().hash());
    }

    #[test]
    fn records_outside_their_zone_are_refused() {
        let mut config = example();
        config.spec.hosted_zones.api = "other.example.org".into();
        let err = guest_stack(&inputs(&config)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not inside hosted zone other.example.org"),
            "{err}"
        );
    }
}
