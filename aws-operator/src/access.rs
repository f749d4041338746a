//! The step that checks an AWSConfig's access to AWS, and the account every
//! later step reaches: the credentials Secret read (live: only the
//! cluster's certificate Secrets are watched) once per loop (the account is
//! shared with the loop's later steps), checked once per Secret version and
//! region (the region listed by EC2 `DescribeRegions` and enabled, the
//! credentials accepted by STS), and kept.
//!
//! Condition `CredentialsValid`: True naming the account, or False with
//! `CredentialsInvalid` (no Secret, missing keys, refused by AWS, an
//! unknown or disabled region: a
//! permanent error, looked at again when the AWSConfig changes or every
//! `--recheck`) or `AWSError` (AWS unreachable: retried with backoff).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiextensions::AWSConfig;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::aws::{Account, Connector, RegionState, reasons};
use crate::calls::CallMetrics;
use crate::credentials;

/// Condition: AWS accepts the AWSConfig's credentials.
pub const CREDENTIALS_VALID: &str = "CredentialsValid";

/// What an account is cached by: the credentials Secret at a version, the
/// region, and the cluster (whose calls its clients count).
type AccountKey = (String, String, String);

/// An AWSConfig's account, or why its region cannot be used.
#[derive(Clone)]
enum Reach {
    Account(Account),
    Unusable(String),
}

/// Accounts by credentials Secret version, region and cluster.
#[derive(Clone)]
pub struct Accounts {
    connector: Connector,
    metrics: CallMetrics,
    known: Arc<Mutex<HashMap<AccountKey, Account>>>,
}

impl Accounts {
    /// Accounts reached through `connector`, which counts calls in
    /// `metrics`.
    pub fn new(connector: Connector, metrics: CallMetrics) -> Self {
        Self {
            connector,
            metrics,
            known: Arc::default(),
        }
    }

    /// Forgets `cluster` (deleted): its accounts and its call series.
    pub fn forget(&self, cluster: &str) {
        self.lock().retain(|k, _| k.2 != cluster);
        self.metrics.forget(cluster);
    }

    /// The account of the AWSConfig `cx` reconciles.
    pub async fn of(&self, cx: &Context<AWSConfig>) -> Result<Account, StepError> {
        match self.reach(cx).await? {
            Reach::Account(account) => Ok(account),
            Reach::Unusable(why) => {
                Err(StepError::permanent(why).reason(reasons::CREDENTIALS_INVALID))
            }
        }
    }

    /// The account of the AWSConfig `cx` deletes, or `None` when its region
    /// cannot be used: one that does not exist, where nothing can have been
    /// made (the region is immutable, so it cannot be fixed); or one not
    /// enabled for the account, where AWS lets nothing be read or deleted
    /// (whatever was made there before it was disabled stays, tagged with
    /// the cluster, until the region is enabled again).
    pub async fn for_deletion(
        &self,
        cx: &Context<AWSConfig>,
    ) -> Result<Option<Account>, StepError> {
        Ok(match self.reach(cx).await? {
            Reach::Account(account) => Some(account),
            Reach::Unusable(why) => {
                tracing::warn!(
                    awsconfig = %cx.name(),
                    namespace = %cx.namespace(),
                    "{why}: nothing in AWS to delete"
                );
                None
            }
        })
    }

    /// What an earlier step of this loop found (shared through `cx`), else
    /// looked up and shared with the later steps: the credentials Secret is
    /// read, and an unusable region found, once per loop.
    async fn reach(&self, cx: &Context<AWSConfig>) -> Result<Reach, StepError> {
        if let Some(reach) = cx.shared::<Reach>() {
            return Ok(reach);
        }
        let reach = self.lookup(cx).await?;
        cx.share(reach.clone());
        Ok(reach)
    }

    /// The account, or why the region cannot be used.
    async fn lookup(&self, cx: &Context<AWSConfig>) -> Result<Reach, StepError> {
        let spec = &cx.object().spec;
        let reference = &spec.credential_secret;
        let invalid = |m: String| StepError::permanent(m).reason(reasons::CREDENTIALS_INVALID);
        // Live: the operator's cache of Secrets holds only those labelled
        // with a cluster (the certificates), and would call this one absent.
        let secret = cx
            .api_in::<Secret>(&reference.namespace)
            .get_opt(&reference.name)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "Secret {}/{} (spec.credentialSecret) does not exist",
                    reference.namespace, reference.name
                ))
            })?;
        let key = (
            format!(
                "{}/{}@{}",
                reference.namespace,
                reference.name,
                secret.resource_version().unwrap_or_default()
            ),
            spec.region.clone(),
            spec.cluster.id.clone(),
        );
        if let Some(account) = self.lock().get(&key) {
            return Ok(Reach::Account(account.clone()));
        }
        let creds = credentials::from_secret(&secret).map_err(|why| {
            invalid(format!(
                "Secret {}/{} (spec.credentialSecret): {why}",
                reference.namespace, reference.name
            ))
        })?;
        let cluster = &spec.cluster.id;
        let region = &spec.region;
        match self.connector.region_state(&creds, region, cluster).await? {
            RegionState::Enabled | RegionState::Unchecked => {}
            RegionState::Unknown => {
                return Ok(Reach::Unusable(format!(
                    "unknown region {region} (spec.region): AWS lists no such region"
                )));
            }
            RegionState::NotEnabled => {
                return Ok(Reach::Unusable(format!(
                    "region {region} (spec.region) is not enabled for this account"
                )));
            }
        }
        let account = self.connector.account(creds, region, cluster).await?;
        self.lock().insert(key, account.clone());
        Ok(Reach::Account(account))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Account>> {
        // A panic while the lock was held left nothing half-written: each
        // change is one insert or one retain.
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The step.
pub struct Access {
    accounts: Accounts,
    recheck: Duration,
}

impl Access {
    /// The step, resolving accounts through `accounts`; what it made is
    /// looked at again every `recheck` (drift in AWS sends no event).
    pub fn new(accounts: Accounts, recheck: Duration) -> Self {
        Self { accounts, recheck }
    }
}

#[async_trait]
impl Step<AWSConfig> for Access {
    fn name(&self) -> &str {
        "access"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        match self.accounts.of(cx).await {
            Ok(account) => {
                cx.set_condition(
                    condition(CREDENTIALS_VALID)
                        .is(true)
                        .because("Accepted")
                        .message(format!("account {} in {}", account.id, account.region)),
                );
                Ok(Outcome::RecheckAfter(self.recheck))
            }
            Err(e) => {
                cx.set_condition(
                    condition(CREDENTIALS_VALID)
                        .is(false)
                        .because(e.reason_or_default().to_owned())
                        .message(e.to_string()),
                );
                Err(e)
            }
        }
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        // Deleted last (steps are deleted backwards): every other step is
        // done with the account. Forget it, and the cluster's call series.
        self.accounts.forget(&cx.object().spec.cluster.id);
        Ok(Outcome::Done)
    }
}
