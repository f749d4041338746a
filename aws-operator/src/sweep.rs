//! The sweep after a cluster's stacks are gone: whatever is still tagged
//! with the cluster (or inside its tagged VPC) is deleted, in dependency
//! order, so that nothing of the cluster is left in the account.
//!
//! A deleted stack can leave things behind: moto's DeleteStack answers
//! `DependencyViolation` for the VPC and keeps it (with its NAT gateways);
//! real AWS has its cousin, `DELETE_FAILED` on network interfaces that
//! outlive their load balancer for a while. The order:
//!
//! ```text
//!   instances (terminated)  ─┐ wait until they are gone
//!   NAT gateways (deleted)  ─┘
//!   elastic IPs (released)
//!   peering connections (the routes through them first: in the peer's
//!   tables too)
//!   per VPC: internet gateways (detached, deleted), subnets, route tables
//!   but the main one, security groups but the default (their rules first:
//!   groups refer to each other), then the VPC
//! ```
//!
//! Everything AWS refuses (a dependency not gone yet) is a transient error
//! naming it: the sweep runs again with backoff until the account is clean.

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, InstanceStateName, NatGatewayState};
use operatorkit::{Outcome, StepError};

use crate::aws::{Account, step_error};
use apiextensions::keys::CLUSTER_LABEL;

/// The wait while terminated instances and deleted NAT gateways go.
const PENDING: Duration = Duration::from_secs(5);

fn tagged(cluster: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{CLUSTER_LABEL}"))
        .values(cluster)
        .build()
}

fn in_vpc(vpc: &str) -> Filter {
    Filter::builder().name("vpc-id").values(vpc).build()
}

/// Deletes what is left of `cluster`: `Done` once nothing is, `Wait` while
/// something is on its way out.
pub async fn sweep(account: &Account, cluster: &str) -> Result<Outcome, StepError> {
    let ec2 = &account.ec2;
    let vpcs: Vec<String> = ec2
        .describe_vpcs()
        .filters(tagged(cluster))
        .send()
        .await
        .map_err(|e| step_error("listing the cluster's VPCs", &e))?
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_owned))
        .collect();
    let mut pending = terminate_instances(account, cluster, &vpcs).await?;
    for vpc in &vpcs {
        pending |= delete_nat_gateways(account, vpc).await?;
    }
    if pending {
        return Ok(Outcome::Wait(PENDING));
    }
    release_addresses(account, cluster).await?;
    delete_peerings(account, cluster).await?;
    for vpc in &vpcs {
        delete_vpc(account, vpc).await?;
    }
    Ok(Outcome::Done)
}

/// Terminates the cluster's instances; whether any is not gone yet.
async fn terminate_instances(
    account: &Account,
    cluster: &str,
    vpcs: &[String],
) -> Result<bool, StepError> {
    // Tagged, or inside a tagged VPC.
    let mut filters = vec![tagged(cluster)];
    if !vpcs.is_empty() {
        let vpc_ids = Some(vpcs.to_vec());
        filters.push(Filter::builder().name("vpc-id").set_values(vpc_ids).build());
    }
    let mut pending = false;
    for filter in filters {
        let out = account
            .ec2
            .describe_instances()
            .filters(filter)
            .send()
            .await
            .map_err(|e| step_error("listing the cluster's instances", &e))?;
        let live: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        if live.is_empty() {
            continue;
        }
        pending = true;
        tracing::info!(cluster, instances = ?live, "sweep: terminating instances left behind");
        account
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(live))
            .send()
            .await
            .map_err(|e| step_error("terminating the cluster's instances", &e))?;
    }
    Ok(pending)
}

/// Deletes the VPC's NAT gateways; whether any is not gone yet.
async fn delete_nat_gateways(account: &Account, vpc: &str) -> Result<bool, StepError> {
    let out = account
        .ec2
        .describe_nat_gateways()
        .filter(in_vpc(vpc))
        .send()
        .await
        .map_err(|e| step_error(&format!("listing the NAT gateways of {vpc}"), &e))?;
    let mut pending = false;
    for nat in out.nat_gateways() {
        let (Some(id), Some(state)) = (nat.nat_gateway_id(), nat.state()) else {
            continue;
        };
        match state {
            NatGatewayState::Deleted => {}
            NatGatewayState::Deleting => pending = true,
            _ => {
                pending = true;
                tracing::info!(vpc, nat = id, "sweep: deleting a NAT gateway left behind");
                account
                    .ec2
                    .delete_nat_gateway()
                    .nat_gateway_id(id)
                    .send()
                    .await
                    .map_err(|e| step_error(&format!("deleting NAT gateway {id}"), &e))?;
            }
        }
    }
    Ok(pending)
}

/// Releases the cluster's elastic IPs.
async fn release_addresses(account: &Account, cluster: &str) -> Result<(), StepError> {
    let out = account
        .ec2
        .describe_addresses()
        .filters(tagged(cluster))
        .send()
        .await
        .map_err(|e| step_error("listing the cluster's elastic IPs", &e))?;
    for address in out.addresses() {
        let Some(id) = address.allocation_id() else {
            continue;
        };
        account
            .ec2
            .release_address()
            .allocation_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("releasing elastic IP {id}"), &e))?;
    }
    Ok(())
}

/// Deletes the cluster's peering connections and every route through them.
async fn delete_peerings(account: &Account, cluster: &str) -> Result<(), StepError> {
    let out = account
        .ec2
        .describe_vpc_peering_connections()
        .filters(tagged(cluster))
        .send()
        .await
        .map_err(|e| step_error("listing the cluster's peering connections", &e))?;
    for peering in out.vpc_peering_connections() {
        let code = peering.status().and_then(|s| s.code()).map(|c| c.as_str());
        let gone = matches!(code, Some("deleted" | "rejected" | "failed" | "expired"));
        let Some(id) = peering.vpc_peering_connection_id().filter(|_| !gone) else {
            continue;
        };
        let through = Filter::builder()
            .name("route.vpc-peering-connection-id")
            .values(id)
            .build();
        let tables = account
            .ec2
            .describe_route_tables()
            .filters(through)
            .send()
            .await
            .map_err(|e| step_error(&format!("listing the routes through {id}"), &e))?;
        for table in tables.route_tables() {
            let Some(table_id) = table.route_table_id() else {
                continue;
            };
            let routes = table
                .routes()
                .iter()
                .filter(|r| r.vpc_peering_connection_id() == Some(id));
            for destination in routes.filter_map(|r| r.destination_cidr_block()) {
                account
                    .ec2
                    .delete_route()
                    .route_table_id(table_id)
                    .destination_cidr_block(destination)
                    .send()
                    .await
                    .map_err(|e| {
                        step_error(
                            &format!("deleting the route to {destination} of {table_id}"),
                            &e,
                        )
                    })?;
            }
        }
        tracing::info!(
            cluster,
            peering = id,
            "sweep: deleting a peering connection left behind"
        );
        account
            .ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting peering connection {id}"), &e))?;
    }
    Ok(())
}

/// Deletes the VPC and what is in it.
async fn delete_vpc(account: &Account, vpc: &str) -> Result<(), StepError> {
    let ec2 = &account.ec2;
    let gateways = ec2
        .describe_internet_gateways()
        .filters(
            Filter::builder()
                .name("attachment.vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .map_err(|e| step_error(&format!("listing the internet gateways of {vpc}"), &e))?;
    for id in gateways
        .internet_gateways()
        .iter()
        .filter_map(|g| g.internet_gateway_id())
    {
        ec2.detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| step_error(&format!("detaching internet gateway {id}"), &e))?;
        ec2.delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting internet gateway {id}"), &e))?;
    }
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc(vpc))
        .send()
        .await
        .map_err(|e| step_error(&format!("listing the subnets of {vpc}"), &e))?;
    for id in subnets.subnets().iter().filter_map(|s| s.subnet_id()) {
        ec2.delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting subnet {id}"), &e))?;
    }
    delete_route_tables(account, vpc).await?;
    delete_security_groups(account, vpc).await?;
    ec2.delete_vpc()
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| step_error(&format!("deleting VPC {vpc}"), &e))?;
    tracing::info!(vpc, "sweep: deleted a VPC left behind");
    Ok(())
}

async fn delete_route_tables(account: &Account, vpc: &str) -> Result<(), StepError> {
    let tables = account
        .ec2
        .describe_route_tables()
        .filters(in_vpc(vpc))
        .send()
        .await
        .map_err(|e| step_error(&format!("listing the route tables of {vpc}"), &e))?;
    for table in tables.route_tables() {
        let main = table.associations().iter().any(|a| a.main() == Some(true));
        let Some(id) = table.route_table_id().filter(|_| !main) else {
            continue;
        };
        for association in table.associations() {
            if let Some(a) = association.route_table_association_id() {
                account
                    .ec2
                    .disassociate_route_table()
                    .association_id(a)
                    .send()
                    .await
                    .map_err(|e| step_error(&format!("disassociating route table {id}"), &e))?;
            }
        }
        account
            .ec2
            .delete_route_table()
            .route_table_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting route table {id}"), &e))?;
    }
    Ok(())
}

async fn delete_security_groups(account: &Account, vpc: &str) -> Result<(), StepError> {
    let groups = account
        .ec2
        .describe_security_groups()
        .filters(in_vpc(vpc))
        .send()
        .await
        .map_err(|e| step_error(&format!("listing the security groups of {vpc}"), &e))?;
    let ours: Vec<_> = groups
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .collect();
    // Rules first: a group another group's rule names cannot be deleted.
    for group in &ours {
        let (Some(id), rules) = (group.group_id(), group.ip_permissions()) else {
            continue;
        };
        if rules.is_empty() {
            continue;
        }
        account
            .ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(rules.to_vec()))
            .send()
            .await
            .map_err(|e| step_error(&format!("removing the rules of security group {id}"), &e))?;
    }
    for id in ours.iter().filter_map(|g| g.group_id()) {
        account
            .ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting security group {id}"), &e))?;
    }
    Ok(())
}
