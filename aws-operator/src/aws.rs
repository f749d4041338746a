//! One AWS account as an AWSConfig reaches it: SDK clients built from its
//! credentials, its region and `--endpoint-url`, the account's id (STS
//! `GetCallerIdentity`), and how AWS errors become step errors.
//!
//! Throttling and 5xx answers are retried by the SDK's standard retry mode
//! (exponential backoff with jitter, 3 attempts); what still fails is a
//! transient step error, tried again with operatorkit's backoff. Refused
//! credentials are permanent (`CredentialsInvalid`): trying again does not
//! help until the Secret changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_http_client::tls;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::{RetryConfig, SharedHttpClient, TimeoutConfig};
use operatorkit::StepError;

use crate::calls::{CallMetrics, LimitedClient, Limiter};

/// Reasons of the conditions AWS errors set.
pub mod reasons {
    /// AWS does not accept the credentials (or there are none usable).
    pub const CREDENTIALS_INVALID: &str = "CredentialsInvalid";
    /// AWS could not be reached or answered with an error; retried.
    pub const AWS_ERROR: &str = "AWSError";
}

/// Error codes with which AWS refuses the credentials themselves.
const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "InvalidSignatureException",
];

/// Builds the SDK configuration of each account the operator reaches:
/// one HTTP client, a rate limiter per set of credentials, the calls
/// counted per cluster.
#[derive(Clone, Debug)]
pub struct Connector {
    endpoint: Option<String>,
    timeout: Duration,
    http: SharedHttpClient,
    rate: u32,
    limiters: Arc<Mutex<HashMap<String, Arc<Limiter>>>>,
    metrics: CallMetrics,
}

/// One account in one region: its id and the clients of the services the
/// operator uses.
#[derive(Clone, Debug)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// The region.
    pub region: String,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// CloudFormation.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// Route53.
    pub route53: aws_sdk_route53::Client,
    /// Resource Groups Tagging (finding by tag).
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// S3 (path-style addressing when an endpoint is set).
    pub s3: aws_sdk_s3::Client,
}

impl Connector {
    /// AWS's own endpoints, or `endpoint` for every service; each call
    /// (retries included) ends after `timeout`; `rate` calls a second per
    /// set of credentials; calls counted in `metrics`.
    pub fn new(
        endpoint: Option<String>,
        timeout: Duration,
        rate: u32,
        metrics: CallMetrics,
    ) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        Self {
            endpoint,
            timeout,
            http,
            rate,
            limiters: Arc::default(),
            metrics,
        }
    }

    /// The limiter of the credentials with access key `key`.
    fn limiter(&self, key: &str) -> Arc<Limiter> {
        // Only inserted into: a panic while held left it whole.
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        limiters
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(Limiter::new(self.rate)))
            .clone()
    }

    /// The SDK configuration [`Connector::account`]'s clients are built
    /// from (rate limit, timeouts, endpoint), without its call counter:
    /// for a client of a service [`Account`] does not hold.
    pub fn sdk_config(&self, credentials: Credentials, region: &str) -> SdkConfig {
        let limiter = self.limiter(credentials.access_key_id());
        let mut builder = SdkConfig::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(LimitedClient::shared(self.http.clone(), limiter))
            .retry_config(RetryConfig::standard())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(self.timeout)
                    .build(),
            );
        if let Some(url) = &self.endpoint {
            builder = builder.endpoint_url(url.clone());
        }
        builder.build()
    }

    /// The account `credentials` belong to, in `region`, checked with STS,
    /// its calls counted for `cluster`.
    pub async fn account(
        &self,
        credentials: Credentials,
        region: &str,
        cluster: &str,
    ) -> Result<Account, StepError> {
        let config = self.sdk_config(credentials, region);
        let counter = self.metrics.counter(cluster);
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&config)
                        .interceptor(counter.clone())
                        .build(),
                )
            };
        }
        let sts: aws_sdk_sts::Client = client!(aws_sdk_sts);
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| step_error("checking the credentials (STS GetCallerIdentity)", &e))?;
        let id = identity.account().unwrap_or_default().to_owned();
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(self.endpoint.is_some())
            .interceptor(counter.clone())
            .build();
        Ok(Account {
            id,
            region: region.to_owned(),
            kms: client!(aws_sdk_kms),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            cloudformation: client!(aws_sdk_cloudformation),
            ec2: client!(aws_sdk_ec2),
            autoscaling: client!(aws_sdk_autoscaling),
            route53: client!(aws_sdk_route53),
            tagging: client!(aws_sdk_resourcegroupstagging),
        })
    }
}

/// The region to ask which regions of `region`'s partition exist: the
/// commercial partition's `us-east-1`, China's `cn-north-1`, GovCloud's
/// `us-gov-west-1`; in the isolated partitions (`us-iso*`, the European
/// Sovereign Cloud `eusc-*`), whose home this operator does not know, the
/// region itself (an unknown one there fails as transient, named).
fn home_region(region: &str) -> &str {
    if region.starts_with("cn-") {
        "cn-north-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else if region.starts_with("us-iso") || region.starts_with("eusc-") {
        region
    } else {
        "us-east-1"
    }
}

/// What EC2 says of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionState {
    /// It exists and the account may use it.
    Enabled,
    /// It exists, and is not enabled for the account (an opt-in region).
    NotEnabled,
    /// AWS lists no such region.
    Unknown,
    /// The credentials may not list regions (`ec2:DescribeRegions` is not
    /// granted): not checked, STS will tell.
    Unchecked,
}

/// Error codes of a call the credentials are not allowed to make.
const DENIED_CODES: &[&str] = &[
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
];

impl Connector {
    /// What EC2 (`DescribeRegions`, asked in the partition's home region
    /// with `credentials`, the call counted for `cluster`) says of
    /// `region`. A region that does not exist has no endpoint to answer for
    /// itself (real AWS: a name that does not resolve, retried forever;
    /// moto: an HTTP 500), hence the home region.
    pub async fn region_state(
        &self,
        credentials: &Credentials,
        region: &str,
        cluster: &str,
    ) -> Result<RegionState, StepError> {
        let config = self.sdk_config(credentials.clone(), home_region(region));
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&config)
                .interceptor(self.metrics.counter(cluster))
                .build(),
        );
        let regions = match ec2.describe_regions().all_regions(true).send().await {
            Ok(r) => r,
            Err(e) if DENIED_CODES.contains(&code(&e)) => {
                tracing::warn!(
                    cluster,
                    region,
                    "ec2:DescribeRegions is not granted (see the IAM policy in docs/aws-operator.md): region not checked"
                );
                return Ok(RegionState::Unchecked);
            }
            Err(e) => return Err(step_error("checking the region (EC2 DescribeRegions)", &e)),
        };
        let found = regions
            .regions()
            .iter()
            .find(|r| r.region_name() == Some(region));
        Ok(match found {
            None => RegionState::Unknown,
            Some(r) if r.opt_in_status() == Some("not-opted-in") => RegionState::NotEnabled,
            Some(_) => RegionState::Enabled,
        })
    }
}

/// The step error of a failed AWS call doing `what`: permanent
/// `CredentialsInvalid` when AWS refuses the credentials, transient
/// otherwise.
pub fn step_error<E>(what: &str, e: &E) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or_default();
    let message = match e.message() {
        Some(m) => format!("{what}: {code}: {m}"),
        None => format!("{what}: {}", DisplayErrorContext(e)),
    };
    if CREDENTIAL_CODES.contains(&code) {
        StepError::permanent(message).reason(reasons::CREDENTIALS_INVALID)
    } else {
        StepError::transient(message).reason(reasons::AWS_ERROR)
    }
}

/// The error code of a failed AWS call, if AWS answered one.
pub fn code<E: ProvideErrorMetadata>(e: &E) -> &str {
    e.code().unwrap_or_default()
}
