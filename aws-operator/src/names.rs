//! Names and tags of what aws-operator makes in an AWS account (pure).
//! Everything carries the cluster's tag, so that it can be found again (a
//! crash between creating and naming something) and nothing is orphaned.

use apiextensions::ClusterSpec;
use apiextensions::keys::{CLUSTER_LABEL, MANAGED_BY_LABEL};

use crate::OPERATOR;

/// The KMS alias of a cluster's key: `alias/operatorkit/<cluster-id>`.
pub fn key_alias(cluster: &str) -> String {
    format!("alias/operatorkit/{cluster}")
}

/// The S3 bucket of a cluster's boot configurations:
/// `<cluster-id>-<account-id>-boot` (cluster IDs are DNS labels of at most
/// 40 characters, so at most 58 characters; unique across AWS accounts).
pub fn bucket(cluster: &str, account: &str) -> String {
    format!("{cluster}-{account}-boot")
}

/// The guest API's endpoint: `https://api.<id>.<baseDomain>`, the API
/// load balancer's CNAME (it listens on 443).
pub fn api_endpoint(cluster: &ClusterSpec) -> String {
    format!("https://{}", cluster.domain("api"))
}

/// The name of a cluster's stack `kind` (`guest`, `host`):
/// `<cluster-id>-<kind>`.
pub fn stack(cluster: &str, kind: &str) -> String {
    format!("{cluster}-{kind}")
}

/// The stack tag holding the hash of the template and parameters the
/// stack was last created or updated with.
pub const TEMPLATE_HASH_TAG: &str = operatorkit::key!("aws-operator", "template-hash");

/// The bucket object of a node's boot configuration: `boot/master-<i>.json`
/// for master `i`, `boot/worker.json` for every worker (they are alike and
/// started by auto scaling groups).
pub fn boot_object(role: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("boot/{role}-{i}.json"),
        None => format!("boot/{role}.json"),
    }
}

/// The tags of everything made for `cluster` by aws-operator `version`:
/// the cluster, the operator and its version.
pub fn tags(cluster: &str, version: &str) -> Vec<(String, String)> {
    vec![
        (CLUSTER_LABEL.to_owned(), cluster.to_owned()),
        (MANAGED_BY_LABEL.to_owned(), OPERATOR.to_string()),
        (OPERATOR.version_label(), version.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_aws_limits() {
        let longest = "a".repeat(40);
        assert!(bucket(&longest, "123456789012").len() <= 63);
        assert_eq!(key_alias("xyz89"), "alias/operatorkit/xyz89");
        let tags = tags("xyz89", "0.1.0");
        assert_eq!(
            tags[0],
            ("operatorkit.dev/cluster".to_owned(), "xyz89".to_owned())
        );
        assert_eq!(tags[2].0, "aws-operator.operatorkit.dev/version");
    }
}
