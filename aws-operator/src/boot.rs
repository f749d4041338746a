//! The step of the nodes' boot configurations: one JSON object per master
//! (`boot/master-<i>.json`) and one for every worker (`boot/worker.json`)
//! in the cluster's bucket, which a node fetches at boot (its user data
//! names the object; a worker's instance role may read only the workers'
//! object, a master's only the masters' objects, and each may decrypt with
//! the cluster's key). Each holds the cluster's settings and the
//! node's certificates with their private keys, so it is written with
//! SSE-KMS under the cluster's key, never logged, and never anywhere else.
//!
//! An object is written only when its content (or the key) changed: its
//! hash is the object's metadata `config-hash`, so a steady state makes no
//! AWS write. Each loop lists the boot objects once (ListObjectsV2, with
//! their ETags); an object whose ETag is the one this process wrote or
//! last read back with the same hash is not read again, any other is read
//! with HeadObject (after a restart, or when someone else wrote it). So a
//! steady state costs one AWS call here per loop, not one per node. S3
//! changes an object's ETag when its content changes; an object someone
//! rewrote with the very same bytes keeps it (moto: even under another key),
//! and is not looked at again until the operator restarts. Objects under `boot/` that no node
//! needs any more (fewer masters) are deleted by a second step,
//! [`PruneBoot`], which runs after the stacks have settled: until the stack
//! update removing those masters is complete (or should it roll back), the
//! instances may still boot from them. On deletion there is nothing to do
//! here: the bucket step empties the bucket.
//!
//! Condition `BootConfigReady`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use apiextensions::AWSConfig;
use apiextensions::certificates::{Certificates, Component, issued};
use apiextensions::names::fnv1a;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use operatorkit::{Context, Outcome, Step, StepError, condition};
use serde_json::{Value, json};

use crate::access::Accounts;
use crate::aws::{Account, code, step_error};
use crate::encryption::{Key, cluster_key};
use crate::names::{api_endpoint, boot_object, bucket};

/// Condition: every node's boot configuration is in the bucket.
pub const BOOT_CONFIG_READY: &str = "BootConfigReady";

/// The object metadata holding the hash of what was written.
const HASH_METADATA: &str = "config-hash";

/// Where the boot configurations live in the bucket.
const PREFIX: &str = "boot/";

/// The step.
pub struct Boot {
    accounts: Accounts,
    known: Known,
}

impl Boot {
    /// The step.
    pub fn new(accounts: Accounts) -> Self {
        Self {
            accounts,
            known: Known::default(),
        }
    }
}

/// A boot object this process knows: cluster, bucket, object key.
type ObjectId = (String, String, String);

/// What this process wrote or read back of each boot object: the hash and
/// the object's ETag then.
#[derive(Clone, Default)]
struct Known(Arc<Mutex<HashMap<ObjectId, (String, String)>>>);

impl Known {
    /// Whether the object at `etag` is known to hold `hash`.
    fn holds(&self, id: &ObjectId, etag: &str, hash: &str) -> bool {
        !etag.is_empty()
            && self
                .lock()
                .get(id)
                .is_some_and(|(h, e)| h == hash && e == etag)
    }

    fn record(&self, id: ObjectId, hash: String, etag: String) {
        self.lock().insert(id, (hash, etag));
    }

    /// Forgets the objects of `cluster` (deleted).
    fn forget(&self, cluster: &str) {
        self.lock().retain(|(c, _, _), _| c != cluster);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectId, (String, String)>> {
        // A panic while the lock was held left nothing half-written: each
        // change is one insert or one retain.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The boot objects of a bucket, as listed in this loop: key and ETag
/// (shared with [`PruneBoot`]).
#[derive(Clone, Debug, Default)]
struct Listed(HashMap<String, String>);

/// The objects under `boot/` in `bucket`.
async fn list(account: &Account, bucket: &str) -> Result<Listed, StepError> {
    let mut listed = HashMap::new();
    let mut token = None;
    loop {
        let page = account
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(PREFIX)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| step_error(&format!("listing bucket {bucket}"), &e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                let etag = object.e_tag().unwrap_or_default();
                listed.insert(key.to_owned(), etag.to_owned());
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(Listed(listed)),
        }
    }
}

/// The hash object `key` of `bucket` was written with, read with
/// HeadObject; `None` when it has none or is gone.
async fn written_hash(
    account: &Account,
    bucket: &str,
    key: &str,
) -> Result<Option<String>, StepError> {
    let head = account
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    match &head {
        Ok(h) => Ok(h.metadata().and_then(|m| m.get(HASH_METADATA)).cloned()),
        Err(e) if matches!(code(e), "NotFound" | "NoSuchKey") => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(step_error(&format!("reading {key}"), e)),
    }
}

/// One node's boot configuration: its object name and content.
pub struct BootObject {
    /// The object's key in the bucket.
    pub key: String,
    /// The JSON it holds.
    pub content: Vec<u8>,
}

impl BootObject {
    /// The hash recorded with the object: its content and the key that
    /// encrypts it (a new key rewrites every object).
    fn hash(&self, key_arn: &str) -> String {
        let mut bytes = self.content.clone();
        bytes.extend_from_slice(key_arn.as_bytes());
        format!("{:016x}", fnv1a(&bytes))
    }
}

/// The certificates of a node: the CA and, per component, its certificate
/// and key, as PEM text.
fn node_certificates(certs: &Certificates, components: &[Component]) -> Value {
    let text = |b: &k8s_openapi::ByteString| String::from_utf8_lossy(&b.0).into_owned();
    let mut out = serde_json::Map::new();
    for component in components {
        if let Some(pem) = certs.get(component) {
            out.insert("ca.crt".into(), text(&pem.ca).into());
            out.insert(format!("{}.crt", component.as_str()), text(&pem.crt).into());
            out.insert(format!("{}.key", component.as_str()), text(&pem.key).into());
        }
    }
    Value::Object(out)
}

/// The object keys of the boot configurations the cluster's nodes need
/// (pure): one per master, one for the workers if there are any.
pub fn boot_keys(config: &AWSConfig) -> Vec<String> {
    let spec = &config.spec;
    let mut keys: Vec<String> = (0..spec.masters.len())
        .map(|i| boot_object("master", Some(i)))
        .collect();
    if !spec.workers.is_empty() {
        keys.push(boot_object("worker", None));
    }
    keys
}

/// The boot configurations of the cluster's nodes (pure), in the order of
/// [`boot_keys`].
pub fn boot_objects(config: &AWSConfig, certs: &Certificates) -> Vec<BootObject> {
    let spec = &config.spec;
    let cluster = &spec.cluster;
    let k8s = &cluster.kubernetes;
    let settings = json!({
        "id": cluster.id,
        "version": cluster.version,
        "region": spec.region,
        "apiEndpoint": api_endpoint(cluster),
        "apiDomain": cluster.domain("api"),
        "etcdDomain": cluster.domain("etcd"),
        "apiPort": k8s.api_port,
        "etcdPort": cluster.etcd.port,
        "serviceCIDR": k8s.service_cidr,
        "podCIDR": k8s.pod_cidr,
        "dnsIP": k8s.dns_ip,
        "clusterDomain": k8s.cluster_domain,
        "masters": spec.masters.len(),
    });
    let object = |role: &str, index: Option<usize>, components: &[Component]| {
        let content = json!({
            "cluster": settings,
            "node": {"role": role, "index": index},
            "certificates": node_certificates(certs, components),
        });
        BootObject {
            key: boot_object(role, index),
            // A `Value` always serializes.
            content: serde_json::to_vec_pretty(&content).unwrap_or_default(),
        }
    };
    let mut objects: Vec<BootObject> = (0..spec.masters.len())
        .map(|i| object("master", Some(i), &Component::MASTER))
        .collect();
    if !spec.workers.is_empty() {
        objects.push(object("worker", None, &[Component::Worker]));
    }
    objects
}

/// Where a boot object goes: the cluster's bucket, the key that encrypts
/// it, and what the bucket held when this loop listed it.
struct Target<'a> {
    account: &'a Account,
    cluster: &'a str,
    bucket: &'a str,
    key: &'a Key,
    listed: &'a Listed,
}

impl Boot {
    /// Writes `object` unless it is there with the same hash. Whether it
    /// wrote.
    async fn put(&self, to: &Target<'_>, object: BootObject) -> Result<bool, StepError> {
        let hash = object.hash(&to.key.arn);
        let id = (
            to.cluster.to_owned(),
            to.bucket.to_owned(),
            object.key.clone(),
        );
        if let Some(etag) = to.listed.0.get(&object.key) {
            if self.known.holds(&id, etag, &hash) {
                return Ok(false);
            }
            let current = written_hash(to.account, to.bucket, &object.key).await?;
            if current.as_deref() == Some(hash.as_str()) {
                self.known.record(id, hash, etag.clone());
                return Ok(false);
            }
        }
        let written = to
            .account
            .s3
            .put_object()
            .bucket(to.bucket)
            .key(&object.key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&to.key.arn)
            .metadata(HASH_METADATA, &hash)
            .body(ByteStream::from(object.content))
            .send()
            .await
            .map_err(|e| step_error(&format!("writing {}", object.key), &e))?;
        tracing::info!(
            bucket = to.bucket,
            object = object.key,
            "wrote a boot configuration"
        );
        if let Some(etag) = written.e_tag() {
            self.known.record(id, hash, etag.to_owned());
        }
        Ok(true)
    }
}

#[async_trait]
impl Step<AWSConfig> for Boot {
    fn name(&self) -> &str {
        "boot-configuration"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let cluster = &config.spec.cluster.id;
        let certs = issued(cx, cluster, &Component::GUEST)
            .await?
            .map_err(|missing| {
                StepError::transient(format!("certificates missing: {}", missing.join(", ")))
            })?;
        let account = self.accounts.of(cx).await?;
        let name = bucket(cluster, &account.id);
        let key = cluster_key(cx, &account).await?;
        let listed = list(&account, &name).await?;
        let to = Target {
            account: &account,
            cluster,
            bucket: &name,
            key: &key,
            listed: &listed,
        };
        let objects = boot_objects(config, &certs);
        let wanted = objects.len();
        let mut written = 0;
        for object in objects {
            written += usize::from(self.put(&to, object).await?);
        }
        cx.share(listed);
        cx.set_condition(
            condition(BOOT_CONFIG_READY)
                .is(true)
                .because("Written")
                .message(format!(
                    "{wanted} boot configurations in bucket {name} ({written} written now)"
                )),
        );
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        // The bucket step empties the bucket; forget what was in it.
        self.known.forget(&cx.object().spec.cluster.id);
        Ok(Outcome::Done)
    }
}

/// The step that deletes the boot objects no node needs any more; it runs
/// after the stack steps, so only once the stacks have settled.
pub struct PruneBoot {
    accounts: Accounts,
}

impl PruneBoot {
    /// The step.
    pub fn new(accounts: Accounts) -> Self {
        Self { accounts }
    }
}

/// Deletes the boot objects of `bucket` that `listed` names and that are
/// not `wanted` (a listing from before this loop's writes will do: they
/// are all wanted).
async fn prune(
    account: &Account,
    bucket: &str,
    listed: &Listed,
    wanted: &[String],
) -> Result<(), StepError> {
    for key in listed.0.keys() {
        if wanted.iter().any(|w| w == key) {
            continue;
        }
        account
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| step_error(&format!("deleting {key} of bucket {bucket}"), &e))?;
        tracing::info!(
            bucket,
            object = key,
            "deleted a boot configuration no node needs"
        );
    }
    Ok(())
}

#[async_trait]
impl Step<AWSConfig> for PruneBoot {
    fn name(&self) -> &str {
        "boot-configuration-prune"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let account = self.accounts.of(cx).await?;
        let name = bucket(&config.spec.cluster.id, &account.id);
        let listed = match cx.shared::<Listed>() {
            Some(listed) => listed,
            None => list(&account, &name).await?,
        };
        prune(&account, &name, &listed, &boot_keys(config)).await?;
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, _cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        // The bucket step empties the bucket.
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::certificates::Pem;
    use k8s_openapi::ByteString;

    fn config() -> AWSConfig {
        let yaml = include_str!("../../manifests/examples/awsconfig.yaml");
        serde_yaml::from_str(yaml).unwrap()
    }

    fn certs() -> Certificates {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        Component::GUEST
            .into_iter()
            .map(|c| {
                let pem = Pem {
                    ca: b("CA"),
                    crt: b(&format!("CRT-{}", c.as_str())),
                    key: b(&format!("KEY-{}", c.as_str())),
                };
                (c, pem)
            })
            .collect()
    }

    #[test]
    fn a_worker_gets_its_own_certificate_only() {
        let config = config();
        let objects = boot_objects(&config, &certs());
        let keys: Vec<_> = objects.iter().map(|o| o.key.as_str()).collect();
        let mut expected: Vec<String> = (0..config.spec.masters.len())
            .map(|i| format!("boot/master-{i}.json"))
            .collect();
        expected.push("boot/worker.json".into());
        assert_eq!(keys, expected);
        let worker: Value = serde_json::from_slice(&objects.last().unwrap().content).unwrap();
        let certs = worker["certificates"].as_object().unwrap();
        let names: Vec<_> = certs.keys().map(String::as_str).collect();
        assert_eq!(names, ["ca.crt", "worker.crt", "worker.key"]);
        let master: Value = serde_json::from_slice(&objects[0].content).unwrap();
        assert_eq!(master["certificates"]["api.key"], "KEY-api");
        assert!(master["certificates"].get("admin.key").is_none());
        assert_eq!(master["node"]["index"], 0);
    }

    #[test]
    fn the_keys_are_the_objects_keys() {
        let config = config();
        let objects: Vec<String> = boot_objects(&config, &certs())
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(objects, boot_keys(&config));
    }

    #[test]
    fn the_hash_follows_content_and_key() {
        let objects = boot_objects(&config(), &certs());
        let o = &objects[0];
        assert_eq!(o.hash("arn:a"), o.hash("arn:a"));
        assert_ne!(o.hash("arn:a"), o.hash("arn:b"));
        assert_ne!(o.hash("arn:a"), objects[1].hash("arn:a"));
    }
}
