//! The step of a cluster's S3 bucket, `<cluster-id>-<account-id>-boot`: where
//! the nodes' boot configurations go, encrypted by default with the
//! cluster's KMS key (SSE-KMS), public access blocked, tagged with the
//! cluster. Each setting is read and written only when it differs: a
//! steady state makes no AWS write.
//!
//! Deletion empties the bucket, then deletes it.
//!
//! Condition `BucketReady`.

use apiextensions::AWSConfig;
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::access::Accounts;
use crate::aws::{Account, code, step_error};
use crate::encryption::{Key, cluster_key};
use crate::names::{bucket, tags};

/// Condition: the cluster's bucket exists, encrypted with its key.
pub const BUCKET_READY: &str = "BucketReady";

/// The step.
pub struct Bucket {
    accounts: Accounts,
    version: String,
}

impl Bucket {
    /// The step of aws-operator `version`.
    pub fn new(accounts: Accounts, version: &str) -> Self {
        Self {
            accounts,
            version: version.to_owned(),
        }
    }
}

/// A build error of an S3 type: a bug, not input.
fn build_error(e: impl std::fmt::Display) -> StepError {
    StepError::permanent(format!("building an S3 request: {e}"))
}

/// Whether the bucket exists (and is ours: a bucket of another account is
/// a 403).
async fn exists(account: &Account, name: &str) -> Result<bool, StepError> {
    match account.s3.head_bucket().bucket(name).send().await {
        Ok(_) => Ok(true),
        Err(e) if matches!(code(&e), "NotFound" | "NoSuchBucket") => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(step_error(&format!("reading bucket {name}"), &e)),
    }
}

impl Bucket {
    async fn create(&self, account: &Account, name: &str) -> Result<(), StepError> {
        let mut create = account.s3.create_bucket().bucket(name);
        if account.region != "us-east-1" {
            let location = BucketLocationConstraint::from(account.region.as_str());
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(location)
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {
                tracing::info!(bucket = name, "created the cluster's bucket");
                Ok(())
            }
            Err(e) if code(&e) == "BucketAlreadyOwnedByYou" => Ok(()),
            Err(e) if code(&e) == "BucketAlreadyExists" => Err(StepError::permanent(format!(
                "bucket {name} belongs to another AWS account"
            ))
            .reason("BucketNameTaken")),
            Err(e) => Err(step_error(&format!("creating bucket {name}"), &e)),
        }
    }

    async fn encrypt(&self, account: &Account, name: &str, key: &Key) -> Result<(), StepError> {
        let current = account.s3.get_bucket_encryption().bucket(name).send().await;
        let with_key = current.as_ref().ok().and_then(|c| {
            let rule = c.server_side_encryption_configuration()?.rules().first()?;
            let by_default = rule.apply_server_side_encryption_by_default()?;
            Some(
                by_default.sse_algorithm() == &ServerSideEncryption::AwsKms
                    && by_default.kms_master_key_id() == Some(key.arn.as_str()),
            )
        });
        if with_key == Some(true) {
            return Ok(());
        }
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(&key.arn)
            .build()
            .map_err(build_error)?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .bucket_key_enabled(true)
            .build();
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(build_error)?;
        account
            .s3
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| step_error(&format!("encrypting bucket {name}"), &e))?;
        Ok(())
    }

    async fn tag(&self, account: &Account, name: &str, cluster: &str) -> Result<(), StepError> {
        let wanted = tags(cluster, &self.version);
        let current = account.s3.get_bucket_tagging().bucket(name).send().await;
        let has = |k: &str, v: &str| {
            current
                .as_ref()
                .is_ok_and(|c| c.tag_set().iter().any(|t| t.key() == k && t.value() == v))
        };
        if wanted.iter().all(|(k, v)| has(k, v)) {
            return Ok(());
        }
        let tag_set = wanted
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(build_error)?;
        account
            .s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| step_error(&format!("tagging bucket {name}"), &e))?;
        Ok(())
    }

    async fn block_public_access(&self, account: &Account, name: &str) -> Result<(), StepError> {
        let current = account
            .s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await;
        let blocked = current.as_ref().ok().and_then(|c| {
            let b = c.public_access_block_configuration()?;
            Some(
                b.block_public_acls() == Some(true)
                    && b.ignore_public_acls() == Some(true)
                    && b.block_public_policy() == Some(true)
                    && b.restrict_public_buckets() == Some(true),
            )
        });
        if blocked == Some(true) {
            return Ok(());
        }
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        account
            .s3
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(block)
            .send()
            .await
            .map_err(|e| step_error(&format!("blocking public access to bucket {name}"), &e))?;
        Ok(())
    }

    /// Deletes every object of the bucket.
    async fn empty(&self, account: &Account, name: &str) -> Result<(), StepError> {
        loop {
            let page = account
                .s3
                .list_objects_v2()
                .bucket(name)
                .send()
                .await
                .map_err(|e| step_error(&format!("listing bucket {name}"), &e))?;
            if page.contents().is_empty() {
                return Ok(());
            }
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                account
                    .s3
                    .delete_object()
                    .bucket(name)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| step_error(&format!("deleting {key} of bucket {name}"), &e))?;
            }
        }
    }
}

#[async_trait]
impl Step<AWSConfig> for Bucket {
    fn name(&self) -> &str {
        "bucket"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let account = self.accounts.of(cx).await?;
        let cluster = &cx.object().spec.cluster.id;
        let name = bucket(cluster, &account.id);
        let key = cluster_key(cx, &account).await?;
        if !exists(&account, &name).await? {
            self.create(&account, &name).await?;
        }
        self.encrypt(&account, &name, &key).await?;
        self.block_public_access(&account, &name).await?;
        self.tag(&account, &name, cluster).await?;
        cx.set_condition(
            condition(BUCKET_READY)
                .is(true)
                .because("BucketReady")
                .message(format!("bucket {name}, encrypted with KMS key {}", key.id)),
        );
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let Some(account) = self.accounts.for_deletion(cx).await? else {
            return Ok(Outcome::Done);
        };
        let name = bucket(&cx.object().spec.cluster.id, &account.id);
        if !exists(&account, &name).await? {
            return Ok(Outcome::Done);
        }
        self.empty(&account, &name).await?;
        match account.s3.delete_bucket().bucket(&name).send().await {
            Ok(_) => tracing::info!(bucket = name, "deleted the cluster's bucket"),
            Err(e) if code(&e) == "NoSuchBucket" => {}
            Err(e) => return Err(step_error(&format!("deleting bucket {name}"), &e)),
        }
        Ok(Outcome::Done)
    }
}
