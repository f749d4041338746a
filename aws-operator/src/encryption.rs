//! The step of a cluster's KMS key: the key its boot configurations are
//! encrypted with in S3, alias `alias/operatorkit/<cluster-id>`, tagged with
//! the cluster.
//!
//! # Creation
//! 1. The alias names a usable key: done (no write).
//! 2. Else a key tagged with the cluster that is not pending deletion (one
//!    made before a crash, before its alias) gets the alias.
//! 3. Else a key is created, tagged, then aliased.
//!
//! # Deletion
//! The alias is deleted and every key tagged with the cluster is scheduled
//! for deletion (7 days, KMS's minimum: a key cannot be deleted at once, so
//! it stays listed, `PendingDeletion`, until then).
//!
//! The key is shared with the loop's later steps ([`cluster_key`]), which
//! would otherwise each read the alias again.
//!
//! Condition `EncryptionKeyReady`.

use apiextensions::AWSConfig;
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyState, Tag};
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::access::Accounts;
use crate::aws::{Account, code, step_error};
use crate::names::{key_alias, tags};

/// Condition: the cluster's KMS key exists under its alias.
pub const ENCRYPTION_KEY_READY: &str = "EncryptionKeyReady";
/// Days a deleted cluster's key waits before KMS deletes it.
const PENDING_WINDOW_DAYS: i32 = 7;

/// A cluster's key: id and ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
}

/// The step.
pub struct Encryption {
    accounts: Accounts,
    version: String,
}

impl Encryption {
    /// The step of aws-operator `version`.
    pub fn new(accounts: Accounts, version: &str) -> Self {
        Self {
            accounts,
            version: version.to_owned(),
        }
    }
}

/// The cluster's key: as the encryption step found or made it in this loop
/// (shared through `cx`), else read under its alias (a step on its own).
pub async fn cluster_key(cx: &Context<AWSConfig>, account: &Account) -> Result<Key, StepError> {
    if let Some(key) = cx.shared::<Key>() {
        return Ok(key);
    }
    aliased(account, &key_alias(&cx.object().spec.cluster.id))
        .await?
        .ok_or_else(|| StepError::transient("the cluster's KMS key is gone; made again"))
}

/// The usable key the alias names, if any.
pub async fn aliased(account: &Account, alias: &str) -> Result<Option<Key>, StepError> {
    let described = match account.kms.describe_key().key_id(alias).send().await {
        Ok(d) => d,
        Err(e) if code(&e) == "NotFoundException" => return Ok(None),
        Err(e) => return Err(step_error("reading the KMS key", &e)),
    };
    let Some(meta) = described.key_metadata() else {
        return Ok(None);
    };
    if meta.key_state() == Some(&KeyState::PendingDeletion) {
        return Ok(None);
    }
    Ok(Some(Key {
        id: meta.key_id().to_owned(),
        arn: meta.arn().unwrap_or_default().to_owned(),
    }))
}

/// Every key tagged with `cluster`, with whether it is pending deletion:
/// found by tag in one call (Resource Groups Tagging), not by reading
/// every key of the account.
async fn tagged(account: &Account, cluster: &str) -> Result<Vec<(Key, bool)>, StepError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let filter = TagFilter::builder()
        .key(apiextensions::keys::CLUSTER_LABEL)
        .values(cluster)
        .build();
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = account
            .tagging
            .get_resources()
            .tag_filters(filter.clone())
            .resource_type_filters("kms:key")
            .set_pagination_token(token.take())
            .send()
            .await
            .map_err(|e| step_error("finding the cluster's KMS keys by tag", &e))?;
        for mapping in page.resource_tag_mapping_list() {
            if let Some(arn) = mapping.resource_arn() {
                found.push(describe(account, arn).await?);
            }
        }
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(found),
        }
    }
}

/// Key `id` (its id or ARN), and whether it is pending deletion.
async fn describe(account: &Account, id: &str) -> Result<(Key, bool), StepError> {
    let d = account
        .kms
        .describe_key()
        .key_id(id)
        .send()
        .await
        .map_err(|e| step_error("reading a KMS key", &e))?;
    let meta = d.key_metadata();
    let key = Key {
        id: meta.map_or(id, |m| m.key_id()).to_owned(),
        arn: meta.and_then(|m| m.arn()).unwrap_or_default().to_owned(),
    };
    let pending = meta.and_then(|m| m.key_state()) == Some(&KeyState::PendingDeletion);
    Ok((key, pending))
}

impl Encryption {
    async fn create(&self, account: &Account, cluster: &str) -> Result<Key, StepError> {
        let kms_tags = tags(cluster, &self.version)
            .into_iter()
            .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StepError::permanent(format!("building KMS tags: {e}")))?;
        let created = account
            .kms
            .create_key()
            .description(format!(
                "boot configurations of guest cluster {cluster} (aws-operator)"
            ))
            .set_tags(Some(kms_tags))
            .send()
            .await
            .map_err(|e| step_error("creating the KMS key", &e))?;
        let meta = created
            .key_metadata()
            .ok_or_else(|| StepError::transient("KMS CreateKey answered without the key"))?;
        tracing::info!(
            cluster,
            key = meta.key_id(),
            "created the cluster's KMS key"
        );
        Ok(Key {
            id: meta.key_id().to_owned(),
            arn: meta.arn().unwrap_or_default().to_owned(),
        })
    }

    async fn alias(&self, account: &Account, alias: &str, key: &Key) -> Result<(), StepError> {
        account
            .kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(&key.id)
            .send()
            .await
            .map_err(|e| step_error("creating the KMS alias", &e))?;
        Ok(())
    }
}

#[async_trait]
impl Step<AWSConfig> for Encryption {
    fn name(&self) -> &str {
        "encryption"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let account = self.accounts.of(cx).await?;
        let cluster = &cx.object().spec.cluster.id;
        let alias = key_alias(cluster);
        let key = match aliased(&account, &alias).await? {
            Some(key) => key,
            None => {
                let orphan = tagged(&account, cluster)
                    .await?
                    .into_iter()
                    .find(|(_, pending)| !pending)
                    .map(|(k, _)| k);
                let key = match orphan {
                    Some(k) => k,
                    None => self.create(&account, cluster).await?,
                };
                self.alias(&account, &alias, &key).await?;
                key
            }
        };
        cx.set_condition(
            condition(ENCRYPTION_KEY_READY)
                .is(true)
                .because("KeyReady")
                .message(format!("KMS key {} ({alias})", key.id)),
        );
        cx.share(key);
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let Some(account) = self.accounts.for_deletion(cx).await? else {
            return Ok(Outcome::Done);
        };
        let cluster = &cx.object().spec.cluster.id;
        let alias = key_alias(cluster);
        match account.kms.delete_alias().alias_name(&alias).send().await {
            Ok(_) => tracing::info!(cluster, "deleted the KMS alias"),
            Err(e) if code(&e) == "NotFoundException" => {}
            Err(e) => return Err(step_error("deleting the KMS alias", &e)),
        }
        for (key, pending) in tagged(&account, cluster).await? {
            if pending {
                continue;
            }
            account
                .kms
                .schedule_key_deletion()
                .key_id(&key.id)
                .pending_window_in_days(PENDING_WINDOW_DAYS)
                .send()
                .await
                .map_err(|e| step_error("scheduling the KMS key's deletion", &e))?;
            tracing::info!(cluster, key = key.id, "scheduled the KMS key's deletion");
        }
        Ok(Outcome::Done)
    }
}
