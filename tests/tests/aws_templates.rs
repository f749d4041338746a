//! Every CloudFormation template aws-operator generates passes `cfn-lint`
//! (PyPI, pinned in `cargo xtask tools`): no error and no warning, for the
//! example AWSConfig and for the shapes a spec can take (one zone, six
//! zones, one master and no workers, workers of several kinds), and for the
//! host-side peering stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::AWSConfig;
use aws_operator::guest_stack::{Inputs, guest_stack};
use aws_operator::host_stack::{HostInputs, host_stack};
use e2e::support::find_tool;

fn example() -> AWSConfig {
    let path = e2e::examples::examples_dir().join("awsconfig.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The example and its variants, by name.
fn shapes() -> Vec<(&'static str, AWSConfig)> {
    let example = example();
    let mut one_zone = example.clone();
    one_zone.spec.availability_zones = vec!["eu-central-1a".into()];
    let mut six_zones = example.clone();
    six_zones.spec.region = "us-east-1".into();
    six_zones.spec.availability_zones = "abcdef".chars().map(|c| format!("us-east-1{c}")).collect();
    let mut small = example.clone();
    small.spec.masters.truncate(1);
    small.spec.workers.clear();
    let mut mixed = example.clone();
    mixed.spec.workers[1].instance_type = "c5.2xlarge".into();
    mixed.spec.workers[2].docker_volume_size.0 = "1Ti".into();
    vec![
        ("example", example),
        ("one-zone", one_zone),
        ("six-zones", six_zones),
        ("one-master", small),
        ("mixed-workers", mixed),
    ]
}

#[test]
fn every_generated_template_passes_cfn_lint() {
    let cfn_lint = find_tool(
        "OPERATORKIT_CFN_LINT",
        "tools/venv/bin/cfn-lint",
        "cfn-lint",
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("cfn-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One cfn-lint run per region (it starts slowly), every shape's
    // template a file of its own.
    let mut by_region: std::collections::BTreeMap<String, Vec<std::path::PathBuf>> =
        Default::default();
    for (name, config) in shapes() {
        let inputs = Inputs {
            config: &config,
            bucket: "xyz89-123456789012-boot",
            key_arn: "arn:aws:kms:eu-central-1:123456789012:key/0dd0ab4f-c681-4562-bb2e-b28f13600c80",
            version: "0.1.0",
        };
        let stack = guest_stack(&inputs).unwrap();
        // Pretty: cfn-lint names lines.
        let body: serde_json::Value = serde_json::from_str(&stack.template.body()).unwrap();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&body).unwrap()).unwrap();
        by_region
            .entry(config.spec.region.clone())
            .or_default()
            .push(path);
    }
    // The host-side stack (peering), with ids of the shape AWS gives.
    let guest_tables = vec![
        "rtb-0a1b2c3d4e5f60718".to_owned(),
        "rtb-0a1b2c3d4e5f60719".to_owned(),
    ];
    let peer_tables = vec!["rtb-0f1e2d3c4b5a69788".to_owned()];
    let host = host_stack(&HostInputs {
        cluster: "xyz89",
        version: "0.1.0",
        guest_vpc: "vpc-0123456789abcdef0",
        guest_cidr: "10.10.0.0/16",
        guest_route_tables: &guest_tables,
        peer_vpc: "vpc-0fedcba9876543210",
        peer_cidr: "10.0.0.0/16",
        peer_route_tables: &peer_tables,
    })
    .unwrap();
    let body: serde_json::Value = serde_json::from_str(&host.template.body()).unwrap();
    let path = dir.join("host.json");
    std::fs::write(&path, serde_json::to_string_pretty(&body).unwrap()).unwrap();
    by_region
        .entry("eu-central-1".to_owned())
        .or_default()
        .push(path);
    for (region, paths) in by_region {
        let out = std::process::Command::new(&cfn_lint)
            .args(["--regions", &region, "--"])
            .args(&paths)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cfn-lint on {paths:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cfn_lint_is_not_a_rubber_stamp() {
    // A template cfn-lint must refuse: a master with an instance type that
    // does not exist. If this passed, the test above would prove nothing.
    let cfn_lint = find_tool(
        "OPERATORKIT_CFN_LINT",
        "tools/venv/bin/cfn-lint",
        "cfn-lint",
    )
    .unwrap();
    let mut config = example();
    config.spec.masters[0].instance_type = "m5.nonexistent".into();
    let inputs = Inputs {
        config: &config,
        bucket: "b",
        key_arn: "arn:aws:kms:eu-central-1:123456789012:key/k",
        version: "0.1.0",
    };
    let body = guest_stack(&inputs).unwrap().template.body();
    let path = std::env::temp_dir().join(format!("cfn-lint-bad-{}.json", std::process::id()));
    std::fs::write(&path, body).unwrap();
    let out = std::process::Command::new(&cfn_lint)
        .args(["--regions", "eu-central-1", "--"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && stdout.contains("m5.nonexistent"),
        "{stdout}"
    );
}
