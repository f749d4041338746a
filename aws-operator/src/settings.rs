//! aws-operator's command line: operatorkit's standard flags plus where AWS
//! answers and which cert-operator version serves what it asks for.

use std::time::Duration;

/// What `aws-operator --help` says it does.
pub const ABOUT: &str =
    "Runs guest Kubernetes clusters on AWS as CloudFormation stacks (AWSConfig)";

/// aws-operator's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct AwsArgs {
    /// One endpoint for every AWS service instead of AWS's own, e.g. a
    /// local moto server (the SDK's `AWS_ENDPOINT_URL` convention). S3 is
    /// then addressed by path.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// How long one AWS call may take, retries included.
    #[arg(long, default_value = "30s", value_parser = operatorkit::duration::parse_arg)]
    pub aws_timeout: Duration,
    /// How often a Ready cluster is looked at again even if nothing
    /// changed, e.g. `5m`.
    #[arg(long, default_value = "5m", value_parser = operatorkit::duration::parse_arg)]
    pub recheck: Duration,
    /// AWS calls a second per set of credentials (bursts of twice that);
    /// the clusters of one account share it.
    #[arg(long, default_value_t = 10)]
    pub aws_rate: u32,
    /// Version label put on the CertConfigs it creates: the cert-operator
    /// version that should issue them (default: this operator's version).
    #[arg(long)]
    pub cert_operator_version: Option<String>,
}

/// The flags a command line (`args[0]` is the program) gives, for tests.
pub fn parse(args: &[&str]) -> Result<AwsArgs, clap::Error> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: AwsArgs,
    }
    Cli::try_parse_from(args).map(|c| c.flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_a_flag() {
        let flags = parse(&["x", "--endpoint-url=http://127.0.0.1:5000"]).unwrap();
        assert_eq!(flags.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(flags.recheck, Duration::from_secs(300));
        assert_eq!(flags.aws_rate, 10);
        assert!(parse(&["x", "--recheck=soon"]).is_err());
        let flags = parse(&["x", "--cert-operator-version=2.0.0"]).unwrap();
        assert_eq!(flags.cert_operator_version.as_deref(), Some("2.0.0"));
    }
}
