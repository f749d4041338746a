//! `manifests/aws-operator/`: rendered with `kubectl kustomize`, validated
//! with kubernetes-validate against Kubernetes 1.33, and read for what the
//! deployment promises: least-privilege RBAC (the exact grants of the
//! ClusterRole and of the leader-election Role), a hardened Deployment with
//! probes, resources and leader election, a metrics Service, all in
//! namespace operatorkit-system; no AWS endpoint override (real AWS), and
//! the IAM policy document parses. That the ClusterRole is enough, and that
//! every rule is needed, is shown by the API server's RBAC itself
//! (`aws_operator_rbac.rs`); that the IAM policy allows every call the
//! operator makes, by `aws_operator_stacks.rs`.
//!
//! The checks every operator's manifests share are `e2e::deployment`'s.
//! `a_broken_manifest_is_caught` breaks the rendered objects one way at a
//! time and expects each break to be reported, so none of the checks can
//! pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::{AWSConfig, CertConfig};
use aws_operator::settings::AwsArgs;
use e2e::deployment::{
    self, Break, COMMON_BREAKS, Expected, ExpectedRole, Problems, array_mut, assert_no_problems,
    container_mut, first_mut, flag_value, grant, one, remove_arg, rules_mut, set_arg,
};
use e2e::manifests::{self, strings};
use k8s_openapi::api::core::v1::Secret;
use operatorkit::cli::RunArgs;
use serde_json::{Value, json};

/// The verbs of a kind the operator keeps.
const OWNED: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// Where everything runs.
const NAMESPACE: &str = "operatorkit-system";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/aws-operator";
/// The workspace version: the image tag, and the version label of the
/// AWSConfigs the operator reconciles.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn objects() -> Vec<Value> {
    manifests::objects("aws-operator")
}

/// What manifests/aws-operator holds: everything in operatorkit-system, a
/// ClusterRole granting what aws-operator calls (see cluster-role.yaml):
/// its AWSConfigs and their Events, the CertConfigs it owns, Secrets (the
/// credentials read by name, the certificates watched, the kubeconfig
/// written); and the leader-election Role.
fn expected() -> Expected {
    let operator = aws_operator::OPERATOR;
    let operator = operator.as_str();
    Expected {
        operator: operator.to_owned(),
        namespace: NAMESPACE,
        elsewhere: Vec::new(),
        extra_kinds: Vec::new(),
        image: format!("{IMAGE}:{VERSION}"),
        parse_args: |args| parse_args(args).map(drop),
        roles: vec![
            ExpectedRole::cluster_role::<AWSConfig>(
                operator,
                [
                    grant::<CertConfig>("", OWNED, &[]),
                    grant::<Secret>("", OWNED, &[]),
                ],
            ),
            ExpectedRole::leader_election(operator),
        ],
    }
}

/// `args` read by aws-operator's own command line: the flags of `run`.
fn parse_args(args: &[String]) -> Result<RunArgs<AwsArgs>, clap::Error> {
    deployment::parse_run_args(aws_operator::OPERATOR.as_str(), args)
}

/// Real AWS: no endpoint override, by flag or by environment.
fn check_aws(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    p.check(
        !args.iter().any(|a| a.starts_with("--endpoint-url")),
        || "--endpoint-url is set: the operator would not talk to AWS".to_owned(),
    );
    let env = container["env"].as_array().cloned().unwrap_or_default();
    p.check(!env.iter().any(|e| e["name"] == "AWS_ENDPOINT_URL"), || {
        "AWS_ENDPOINT_URL is set: the operator would not talk to AWS".to_owned()
    });
    p.0
}

/// The version of cert-operator the CertConfigs ask for: given explicitly
/// (left out, it would follow aws-operator's own version, so upgrading
/// aws-operator would silently move every cluster's certificates to a
/// cert-operator that may not be deployed), and the workspace version, the
/// cert-operator the repository's manifests deploy.
fn check_versions(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let args = strings(&d["spec"]["template"]["spec"]["containers"][0]["args"]);
    let flag = "--cert-operator-version";
    let given = flag_value(&args, flag).is_some();
    p.check(given, || {
        format!(
            "{flag} is not in the arguments: cert-operator's version would follow aws-operator's"
        )
    });
    if let (true, Ok(cli)) = (given, parse_args(&args)) {
        let version = cli.own.cert_operator_version;
        p.check(version.as_deref() == Some(VERSION), || {
            format!("{flag} {version:?} is not the workspace version {VERSION}")
        });
    }
    p.0
}

fn all_problems(objects: &[Value]) -> Vec<String> {
    [
        expected().all_problems(objects),
        check_aws(objects),
        check_versions(objects),
    ]
    .concat()
}

e2e::manifest_tests!("aws-operator", expected());

#[test]
fn everything_is_in_operatorkit_system_and_talks_to_aws() {
    assert_no_problems(expected().check_objects(&objects()));
    assert_no_problems(check_aws(&objects()));
    assert_no_problems(check_versions(&objects()));
}

#[test]
fn the_iam_policy_is_a_policy() {
    let actions = e2e::aws::iam_policy_actions();
    assert!(actions.iter().all(|a| a.contains(':')), "{actions:?}");
    assert!(e2e::aws::allowed(&actions, "cloudformation:CreateStack"));
    assert!(!e2e::aws::allowed(&actions, "iam:CreateUser"));
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as: every operator's ([`COMMON_BREAKS`]) and aws-operator's.
#[test]
fn a_broken_manifest_is_caught() {
    fn cluster_role(objects: &mut [Value]) -> &mut Vec<Value> {
        rules_mut(first_mut(objects, "ClusterRole"))
    }
    fn rule<'a>(objects: &'a mut [Value], resource: &str) -> &'a mut Value {
        cluster_role(objects)
            .iter_mut()
            .find(|r| strings(&r["resources"]).iter().any(|r| r == resource))
            .unwrap_or_else(|| panic!("no rule on {resource} to break"))
    }
    fn verbs<'a>(objects: &'a mut [Value], resource: &str) -> &'a mut Vec<Value> {
        array_mut(&mut rule(objects, resource)["verbs"])
    }
    const MORE: &str = "grants more than it needs (operatorkit:aws-operator)";
    const LACKS: &str = "lacks grants it needs (operatorkit:aws-operator)";
    let own: &[Break] = &[
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--vm-image", "x"),
            "do not parse",
        ),
        (
            "a value the operator refuses",
            |o| set_arg(o, "--aws-rate", "fast"),
            "do not parse",
        ),
        (
            "moto instead of AWS",
            |o| set_arg(o, "--endpoint-url", "http://moto:5000"),
            "--endpoint-url is set",
        ),
        (
            "moto by environment",
            |o| {
                array_mut(&mut container_mut(o)["env"])
                    .push(json!({"name": "AWS_ENDPOINT_URL", "value": "http://moto:5000"}));
            },
            "AWS_ENDPOINT_URL is set",
        ),
        (
            "the cert-operator version left to its default",
            |o| remove_arg(o, "--cert-operator-version"),
            "--cert-operator-version is not in the arguments",
        ),
        (
            "cert-operator of an older version",
            |o| set_arg(o, "--cert-operator-version", "0.0.9"),
            "--cert-operator-version Some(\"0.0.9\") is not the workspace version",
        ),
        (
            "Secrets not watched",
            |o| verbs(o, "secrets").retain(|v| v != "watch"),
            LACKS,
        ),
        (
            "CertConfigs not deleted",
            |o| verbs(o, "certconfigs").retain(|v| v != "delete"),
            LACKS,
        ),
        (
            "Secrets by name only",
            |o| rule(o, "secrets")["resourceNames"] = json!(["aws-creds"]),
            LACKS,
        ),
        (
            "no Secret read",
            |o| {
                cluster_role(o)
                    .retain(|r| !strings(&r["resources"]).iter().any(|r| r == "secrets"));
            },
            LACKS,
        ),
        (
            "status not patched",
            |o| verbs(o, "awsconfigs/status").retain(|v| v != "patch"),
            LACKS,
        ),
        (
            "AWSConfigs deleted",
            |o| verbs(o, "awsconfigs").push(json!("delete")),
            MORE,
        ),
        (
            "image of another operator",
            |o| {
                container_mut(o)["image"] =
                    json!(format!("ghcr.io/operatorkit/kvm-operator:{VERSION}"));
            },
            "image is",
        ),
    ];
    deployment::assert_breaks_caught(&objects(), &[COMMON_BREAKS, own].concat(), all_problems);
}
