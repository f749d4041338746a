//! aws-operator test helpers: an environment with the AWSConfig CRD, a
//! moto server and cert-operator, credentials Secrets, AWSConfigs from the example, the
//! operator under test running as its ServiceAccount with the roles of
//! `manifests/aws-operator/`, and an account of moto to look at what the
//! operator made.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{AWSConfig, CertConfig, OperatorStatus};
use aws_operator::aws::{Account, Connector};
use aws_operator::calls::CallMetrics;
use aws_operator::credentials::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResourceExt;
use kube::api::PostParams;
use operatorkit::testing::{OperatorRun, ServiceAccountIdentity, TestEnv, wait_for};
use serde_json::json;

use crate::moto::Moto;

/// How long tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The operator version the test objects are labelled for.
pub const VERSION: &str = "0.1.0";
/// The region of the test clusters (the example's).
pub const REGION: &str = "eu-central-1";

/// The hosted zone of the example's records.
pub const EXAMPLE_ZONE: &str = "aws.example.com";

/// Makes hosted zone `name` in `moto`'s Route53.
pub async fn hosted_zone(moto: &Moto, name: &str) {
    account(moto)
        .await
        .route53
        .create_hosted_zone()
        .name(name)
        .caller_reference(name)
        .send()
        .await
        .unwrap();
}

/// moto, with cert-operator issuing the certificates aws-operator asks
/// for (both stop when this is dropped).
pub struct Aws {
    moto: Moto,
    _cert_operator: OperatorRun,
}

impl std::ops::Deref for Aws {
    type Target = Moto;

    fn deref(&self) -> &Moto {
        &self.moto
    }
}

/// A test environment with the AWSConfig and CertConfig CRDs and
/// cert-operator running (built-in CA), and a moto server with the
/// example's hosted zone.
pub async fn env() -> (TestEnv, Aws) {
    if let Ok(filter) = std::env::var("AWS_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let moto = Moto::start().await.unwrap();
    hosted_zone(&moto, EXAMPLE_ZONE).await;
    let env = TestEnv::start().await.unwrap();
    env.install_crds([AWSConfig::crd(), CertConfig::crd()])
        .await
        .unwrap();
    let cert_operator = crate::certs::start(&env, &crate::certs::args("24h")).await;
    let aws = Aws {
        moto,
        _cert_operator: cert_operator,
    };
    (env, aws)
}

/// Starts aws-operator against `moto` as its own ServiceAccount under the
/// roles of `manifests/aws-operator/`.
pub async fn start(env: &TestEnv, moto: &Moto) -> OperatorRun {
    start_at(env, &moto.endpoint()).await
}

/// Starts aws-operator as [`start`] does, reaching AWS at `endpoint` (a
/// [`crate::aws_proxy::FaultProxy`] in front of moto).
pub async fn start_at(env: &TestEnv, endpoint: &str) -> OperatorRun {
    start_counted(env, endpoint).await.0
}

/// [`start_at`], with the operator's AWS call metrics.
pub async fn start_counted(env: &TestEnv, endpoint: &str) -> (OperatorRun, CallMetrics) {
    let (cluster_roles, roles) = crate::manifests::rbac_roles("aws-operator");
    let identity = env
        .service_account(&env.name("aws-operator"), cluster_roles, roles)
        .await
        .unwrap();
    let metrics = CallMetrics::new().unwrap();
    let run = run(env, endpoint, &identity, false, metrics.clone()).await;
    (run, metrics)
}

/// Starts aws-operator against AWS at `endpoint` as `identity`, with
/// leader election on its Lease when `elect` is set (as its Deployment
/// will run).
pub async fn start_as(
    env: &TestEnv,
    endpoint: &str,
    identity: &ServiceAccountIdentity,
    elect: bool,
) -> OperatorRun {
    run(env, endpoint, identity, elect, CallMetrics::new().unwrap()).await
}

async fn run(
    env: &TestEnv,
    endpoint: &str,
    identity: &ServiceAccountIdentity,
    elect: bool,
    metrics: CallMetrics,
) -> OperatorRun {
    let endpoint = format!("--endpoint-url={endpoint}");
    let flags = aws_operator::settings::parse(&["aws-operator", &endpoint]).unwrap();
    let op = aws_operator::operator(VERSION, flags, metrics);
    let settings = crate::support::operator_settings(env, identity, &aws_operator::OPERATOR, elect);
    env.run_operator_as(identity, op, settings).await.unwrap()
}

/// Creates credentials Secret `name` in the test namespace with `pairs`.
pub async fn credentials(env: &TestEnv, name: &str, pairs: &[(&str, &str)]) {
    let data: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// moto's test credentials (any are accepted).
pub fn moto_credentials() -> [(&'static str, &'static str); 2] {
    [(ACCESS_KEY_ID, "testing"), (SECRET_ACCESS_KEY, "testing")]
}

/// A guest cluster ID no other test uses.
pub fn cluster_id(env: &TestEnv, prefix: &str) -> String {
    let name = env.name(prefix);
    let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    id.to_lowercase()
}

/// The example AWSConfig as `name` of cluster `cluster` in the test
/// namespace, its credentials in Secret `secret` there.
pub fn aws_config(env: &TestEnv, name: &str, cluster: &str, secret: &str) -> AWSConfig {
    let path = crate::examples::examples_dir().join("awsconfig.yaml");
    let mut config: AWSConfig =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config.metadata.name = Some(name.to_owned());
    config.metadata.namespace = Some(env.namespace().to_owned());
    let labels = config.metadata.labels.get_or_insert_default();
    labels.insert(
        apiextensions::keys::CLUSTER_LABEL.to_owned(),
        cluster.to_owned(),
    );
    labels.insert(aws_operator::OPERATOR.version_label(), VERSION.to_owned());
    config.spec.cluster.id = cluster.to_owned();
    config.spec.credential_secret.name = secret.to_owned();
    config.spec.credential_secret.namespace = env.namespace().to_owned();
    config
}

/// Creates `config`.
pub async fn create(env: &TestEnv, config: &AWSConfig) {
    env.api::<AWSConfig>()
        .create(&PostParams::default(), config)
        .await
        .unwrap();
}

/// The condition `type_` of `config`, if any.
pub fn condition<'a>(config: Option<&'a AWSConfig>, type_: &str) -> Option<&'a Condition> {
    config?.status.as_ref()?.condition(type_)
}

/// Waits until AWSConfig `name`'s condition `type_` has `reason`.
pub async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> AWSConfig {
    wait_condition(env, name, type_, reason, |c| c.reason == reason).await
}

/// Waits until AWSConfig `name`'s condition `type_` says `text`.
pub async fn wait_message(env: &TestEnv, name: &str, type_: &str, text: &str) -> AWSConfig {
    let what = format!("saying {text:?}");
    wait_condition(env, name, type_, &what, |c| c.message.contains(text)).await
}

/// Waits until AWSConfig `name`'s condition `type_` is `what` (`done`);
/// panics with the last status otherwise.
async fn wait_condition(
    env: &TestEnv,
    name: &str,
    type_: &str,
    what: &str,
    done: impl Fn(&Condition) -> bool,
) -> AWSConfig {
    let api = env.api::<AWSConfig>();
    let found = wait_for(&api, name, WAIT, |c| condition(c, type_).is_some_and(&done)).await;
    match found {
        Ok(Some(c)) => c,
        other => {
            let last = api.get_opt(name).await.ok().flatten();
            panic!(
                "{name}: {type_} never {what}: {:?}; status: {:#?}",
                other.err(),
                last.and_then(|c| c.status)
            )
        }
    }
}

/// Changes an annotation of AWSConfig `name` (`test/touch: <n>`): a
/// change that reconciles it again and changes nothing wanted.
pub async fn touch(env: &TestEnv, name: &str, n: &str) {
    let patch = json!({"metadata": {"annotations": {"test/touch": n}}});
    env.api::<AWSConfig>()
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(patch),
        )
        .await
        .unwrap();
}

/// Deletes AWSConfig `name` and waits until it is gone (its finalizer
/// removed: everything in AWS deleted).
pub async fn delete(env: &TestEnv, name: &str) {
    env.api::<AWSConfig>()
        .delete(name, &kube::api::DeleteParams::default())
        .await
        .unwrap();
    wait_gone(env, name).await;
}

/// Waits until AWSConfig `name` is gone.
pub async fn wait_gone(env: &TestEnv, name: &str) {
    let api = env.api::<AWSConfig>();
    wait_for(&api, name, WAIT, |c| c.is_none())
        .await
        .unwrap_or_else(|e| panic!("{name} never deleted: {e}"));
}

/// moto's account, to look at what the operator made.
pub async fn account(moto: &Moto) -> Account {
    connector(moto)
        .account(moto_account_credentials(), REGION, "test")
        .await
        .unwrap()
}

/// A connector to `moto` (calls counted in metrics of its own).
fn connector(moto: &Moto) -> Connector {
    let metrics = CallMetrics::new().unwrap();
    Connector::new(
        Some(moto.endpoint()),
        Duration::from_secs(10),
        1000,
        metrics,
    )
}

/// What `moto` still holds of AWS guest cluster `cluster`, as `<kind>
/// <id>`: EC2 resources tagged with it ([`ec2_leftovers`]) and what its
/// stacks made outside EC2 ([`stack_leftovers`]).
pub async fn tagged_leftovers(moto: &Moto, cluster: &str) -> Vec<String> {
    let mut left = ec2_leftovers(moto, cluster).await;
    left.extend(stack_leftovers(moto, cluster).await);
    left
}

/// The load balancers, Auto Scaling groups, IAM roles and instance
/// profiles of `cluster`'s stacks and the Route53 records naming it that
/// `moto` still holds, as `<kind> <name>`. By name (moto's CloudFormation
/// names them `<stack>-<logical id>-<suffix>`, and a stack's name holds the
/// cluster ID; real CloudFormation cuts a classic load balancer's name to
/// 32 characters, which this does not allow for): moto's CloudFormation
/// drops a load balancer's tags, IAM is not in the Tagging API, and
/// records carry no tags.
pub async fn stack_leftovers(moto: &Moto, cluster: &str) -> Vec<String> {
    let account = account(moto).await;
    let config = connector(moto).sdk_config(moto_account_credentials(), REGION);
    let mut left = Vec::new();
    let mut add = |kind: &str, names: Vec<&str>| {
        let mine = names.into_iter().filter(|n| n.contains(cluster));
        left.extend(mine.map(|n| format!("{kind} {n}")));
    };
    let elb = aws_sdk_elasticloadbalancing::Client::new(&config);
    let balancers = elb.describe_load_balancers().into_paginator().items();
    let balancers = balancers.send().try_collect().await.unwrap();
    add(
        "load-balancer",
        balancers
            .iter()
            .filter_map(|b| b.load_balancer_name())
            .collect(),
    );
    let groups = account.autoscaling.describe_auto_scaling_groups();
    let groups = groups.into_paginator().items().send().try_collect().await;
    add(
        "auto-scaling-group",
        groups
            .unwrap()
            .iter()
            .filter_map(|g| g.auto_scaling_group_name())
            .collect(),
    );
    let iam = aws_sdk_iam::Client::new(&config);
    let roles = iam.list_roles().into_paginator().items().send();
    let roles = roles.try_collect().await.unwrap();
    add("iam-role", roles.iter().map(|r| r.role_name()).collect());
    let profiles = iam.list_instance_profiles().into_paginator().items().send();
    let profiles = profiles.try_collect().await.unwrap();
    add(
        "instance-profile",
        profiles.iter().map(|p| p.instance_profile_name()).collect(),
    );
    for name in record_names(&account).await {
        add("record", vec![name.as_str()]);
    }
    left
}

/// The names of every Route53 record set of every hosted zone.
async fn record_names(account: &Account) -> Vec<String> {
    let zones = account.route53.list_hosted_zones().into_paginator().send();
    let zones = zones.try_collect().await.unwrap();
    let mut names = Vec::new();
    for zone in zones.iter().flat_map(|page| page.hosted_zones()) {
        let mut start: Option<(String, aws_sdk_route53::types::RrType)> = None;
        loop {
            let mut list = account.route53.list_resource_record_sets();
            list = list.hosted_zone_id(zone.id());
            if let Some((name, kind)) = start.take() {
                list = list.start_record_name(name).start_record_type(kind);
            }
            let page = list.send().await.unwrap();
            let sets = page.resource_record_sets().iter();
            names.extend(sets.map(|r| r.name().to_owned()));
            match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(name), Some(kind)) => start = Some((name.to_owned(), kind.clone())),
                _ => break,
            }
        }
    }
    names
}

/// moto's credentials, as the SDK takes them.
fn moto_account_credentials() -> aws_credential_types::Credentials {
    let [(_, id), (_, secret)] = moto_credentials();
    aws_credential_types::Credentials::new(id, secret, None, None, "test")
}

/// What EC2 in `moto` still holds tagged with `cluster`, as `<kind>
/// <id>`: terminated instances and deleted NAT gateways do not count (AWS
/// forgets them). Each kind is listed by its own Describe call with a tag
/// filter (moto's DescribeTags keeps tags of deleted resources).
pub async fn ec2_leftovers(moto: &Moto, cluster: &str) -> Vec<String> {
    use aws_sdk_ec2::types::{Filter, InstanceStateName, NatGatewayState};
    let ec2 = account(moto).await.ec2;
    let tag = Filter::builder()
        .name(format!("tag:{}", apiextensions::keys::CLUSTER_LABEL))
        .values(cluster)
        .build();
    let mut left = Vec::new();
    let mut add = |kind: &str, ids: Vec<Option<&str>>| {
        left.extend(ids.into_iter().flatten().map(|id| format!("{kind} {id}")));
    };
    let vpcs = ec2
        .describe_vpcs()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add("vpc", vpcs.vpcs().iter().map(|v| v.vpc_id()).collect());
    let subnets = ec2
        .describe_subnets()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "subnet",
        subnets.subnets().iter().map(|v| v.subnet_id()).collect(),
    );
    let groups = ec2
        .describe_security_groups()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "security-group",
        groups
            .security_groups()
            .iter()
            .map(|v| v.group_id())
            .collect(),
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "internet-gateway",
        gateways
            .internet_gateways()
            .iter()
            .map(|v| v.internet_gateway_id())
            .collect(),
    );
    let tables = ec2
        .describe_route_tables()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "route-table",
        tables
            .route_tables()
            .iter()
            .map(|v| v.route_table_id())
            .collect(),
    );
    let addresses = ec2
        .describe_addresses()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "address",
        addresses
            .addresses()
            .iter()
            .map(|v| v.allocation_id())
            .collect(),
    );
    let templates = ec2
        .describe_launch_templates()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    add(
        "launch-template",
        templates
            .launch_templates()
            .iter()
            .map(|v| v.launch_template_id())
            .collect(),
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(tag.clone())
        .send()
        .await
        .unwrap();
    let live_nats = nats
        .nat_gateways()
        .iter()
        .filter(|n| n.state() != Some(&NatGatewayState::Deleted));
    add(
        "nat-gateway",
        live_nats.map(|v| v.nat_gateway_id()).collect(),
    );
    let peerings = ec2
        .describe_vpc_peering_connections()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    let live_peerings = peerings.vpc_peering_connections().iter().filter(|p| {
        let code = p.status().and_then(|s| s.code()).map(|c| c.as_str());
        !matches!(code, Some("deleted" | "rejected" | "failed" | "expired"))
    });
    add(
        "vpc-peering-connection",
        live_peerings
            .map(|v| v.vpc_peering_connection_id())
            .collect(),
    );
    let instances = ec2.describe_instances().filters(tag).send().await.unwrap();
    let live = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated));
    add("instance", live.map(|v| v.instance_id()).collect());
    left
}

/// The IAM action an SDK call needs, e.g. `ec2:DescribeVpcs`: the
/// service's IAM prefix and, for S3, the action name where it is not the
/// operation's.
pub fn iam_action(service: &str, operation: &str) -> String {
    let prefix = match service {
        "Route 53" => "route53".to_owned(),
        "Auto Scaling" => "autoscaling".to_owned(),
        "Resource Groups Tagging API" => "tag".to_owned(),
        other => other.to_lowercase(),
    };
    let action = match (prefix.as_str(), operation) {
        ("s3", "HeadBucket" | "ListObjectsV2") => "ListBucket",
        ("s3", "HeadObject") => "GetObject",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        ("s3", "PutBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        (_, op) => op,
    };
    format!("{prefix}:{action}")
}

/// The actions `manifests/aws-operator/iam-policy.json` allows (some
/// `<service>:*`).
pub fn iam_policy_actions() -> Vec<String> {
    let path = crate::manifests::manifests_dir("aws-operator").join("iam-policy.json");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Whether `actions` allow `action`.
pub fn allowed(actions: &[String], action: &str) -> bool {
    let service = action.split(':').next().unwrap_or_default();
    actions
        .iter()
        .any(|a| a == action || *a == format!("{service}:*"))
}
