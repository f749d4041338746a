//! What EC2 and Auto Scaling say about a cluster's surroundings: how many of
//! its nodes are up (master instances `running`, worker instances
//! `InService` and `Healthy` in their groups), and the peer VPC it is
//! connected to (CIDR, route tables). Read only.

use aws_sdk_ec2::types::InstanceStateName;
use operatorkit::StepError;

use crate::aws::{Account, step_error};

/// Comma-separated ids (a stack output) as a list.
fn ids(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// How many of the instances `list` names are running.
pub async fn running_instances(account: &Account, list: &str) -> Result<i32, StepError> {
    let ids = ids(list);
    if ids.is_empty() {
        return Ok(0);
    }
    let out = account
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .map_err(|e| step_error("reading the master instances", &e))?;
    let running = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Running))
        .count();
    Ok(count(running))
}

/// How many instances of the auto scaling groups `list` names are in
/// service and healthy.
pub async fn in_service(account: &Account, list: &str) -> Result<i32, StepError> {
    let names = ids(list);
    if names.is_empty() {
        return Ok(0);
    }
    let out = account
        .autoscaling
        .describe_auto_scaling_groups()
        .set_auto_scaling_group_names(Some(names))
        .send()
        .await
        .map_err(|e| step_error("reading the worker groups", &e))?;
    let ready = out
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
        .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
        .filter(|i| i.health_status() == Some("Healthy"))
        .count();
    Ok(count(ready))
}

/// The CIDR and route tables of VPC `id`, if the account has it.
pub async fn peer_vpc(
    account: &Account,
    id: &str,
) -> Result<Option<(String, Vec<String>)>, StepError> {
    let vpcs = match account.ec2.describe_vpcs().vpc_ids(id).send().await {
        Ok(out) => out,
        Err(e) if crate::aws::code(&e).starts_with("InvalidVpcID") => return Ok(None),
        Err(e) => return Err(step_error(&format!("reading peer VPC {id}"), &e)),
    };
    let Some(cidr) = vpcs.vpcs().first().and_then(|v| v.cidr_block()) else {
        return Ok(None);
    };
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(id)
        .build();
    let tables = account
        .ec2
        .describe_route_tables()
        .filters(filter)
        .send()
        .await
        .map_err(|e| step_error(&format!("reading the route tables of peer VPC {id}"), &e))?;
    let ids = tables
        .route_tables()
        .iter()
        .filter_map(|t| t.route_table_id().map(str::to_owned))
        .collect();
    Ok(Some((cidr.to_owned(), ids)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_split_into_ids() {
        assert_eq!(super::ids("i-1, i-2,"), ["i-1", "i-2"]);
        assert!(super::ids("").is_empty());
    }
}
