//! The host-side stack of a cluster whose `vpc.peerID` is set (pure): the
//! VPC peering connection from the guest VPC to the peer (the host
//! cluster's VPC, in the same account and region, where CloudFormation's
//! peering connection needs no acceptance), and the routes both ways: the
//! peer's route tables to the guest VPC, the guest's private route tables to
//! the peer.
//!
//! ```text
//!   guest VPC ══ peering connection ══ peer VPC
//!   guest private route tables: peer CIDR  → the connection
//!   peer route tables:          guest CIDR → the connection
//! ```

use std::collections::BTreeMap;

use crate::guest_stack::{BuildError, StackInput};
use crate::names::tags;
use crate::resources::{PeeringConnection, Route};
use crate::template::{Template, refer, tag_list};

/// Output: the peering connection's id.
pub const PEERING_OUTPUT: &str = "PeeringConnectionId";
const PEERING: &str = "PeeringConnection";

/// What the host-side stack connects.
pub struct HostInputs<'a> {
    /// The cluster ID.
    pub cluster: &'a str,
    /// aws-operator's version (a tag).
    pub version: &'a str,
    /// The guest VPC (the guest stack's output) and its CIDR.
    pub guest_vpc: &'a str,
    /// The guest VPC's CIDR.
    pub guest_cidr: &'a str,
    /// The guest's private route tables (the guest stack's output).
    pub guest_route_tables: &'a [String],
    /// The peer VPC.
    pub peer_vpc: &'a str,
    /// The peer VPC's CIDR.
    pub peer_cidr: &'a str,
    /// The peer VPC's route tables.
    pub peer_route_tables: &'a [String],
}

/// The host-side stack.
pub fn host_stack(inputs: &HostInputs<'_>) -> Result<StackInput, BuildError> {
    let mut t = Template::new(format!(
        "Host side of guest Kubernetes cluster {}: peering with {} (aws-operator {})",
        inputs.cluster, inputs.peer_vpc, inputs.version
    ));
    let tags = tag_list(&tags(inputs.cluster, inputs.version));
    let peering = PeeringConnection {
        vpc_id: inputs.guest_vpc.into(),
        peer_vpc_id: inputs.peer_vpc.into(),
        tags,
    };
    t.resource(PEERING, &peering, &[])?;
    let routes = [
        ("PeerRoute", inputs.peer_route_tables, inputs.guest_cidr),
        ("GuestRoute", inputs.guest_route_tables, inputs.peer_cidr),
    ];
    for (prefix, tables, destination) in routes {
        for (i, table) in tables.iter().enumerate() {
            let route = Route {
                route_table_id: table.as_str().into(),
                destination_cidr_block: destination.into(),
                gateway_id: None,
                nat_gateway_id: None,
                vpc_peering_connection_id: Some(refer(PEERING)),
            };
            t.resource(&format!("{prefix}{i}"), &route, &[])?;
        }
    }
    t.output(PEERING_OUTPUT, refer(PEERING), "The VPC peering connection");
    Ok(StackInput {
        template: t,
        parameters: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn routes_go_both_ways_through_the_connection() {
        let guest_tables = vec!["rtb-g0".to_owned(), "rtb-g1".to_owned()];
        let peer_tables = vec!["rtb-p0".to_owned()];
        let inputs = HostInputs {
            cluster: "xyz89",
            version: "0.1.0",
            guest_vpc: "vpc-guest",
            guest_cidr: "10.10.0.0/16",
            guest_route_tables: &guest_tables,
            peer_vpc: "vpc-peer",
            peer_cidr: "10.0.0.0/16",
            peer_route_tables: &peer_tables,
        };
        let stack = host_stack(&inputs).unwrap();
        let body: Value = serde_json::from_str(&stack.template.body()).unwrap();
        let r = &body["Resources"];
        assert_eq!(
            r["PeeringConnection"]["Properties"]["PeerVpcId"],
            "vpc-peer"
        );
        assert_eq!(
            r["PeerRoute0"]["Properties"]["DestinationCidrBlock"],
            "10.10.0.0/16"
        );
        assert_eq!(
            r["GuestRoute1"]["Properties"]["DestinationCidrBlock"],
            "10.0.0.0/16"
        );
        assert_eq!(
            r["GuestRoute1"]["Properties"]["VpcPeeringConnectionId"],
            serde_json::json!({"Ref": "PeeringConnection"})
        );
        assert_eq!(stack.template.resources_of("AWS::EC2::Route").len(), 3);
    }
}
