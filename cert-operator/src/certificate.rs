//! The one resource of cert-operator: a CertConfig's certificate in Secret
//! `<clusterID>-<clusterComponent>` (`ca.crt`, `tls.crt`, `tls.key`,
//! `kubernetes.io/tls`), issued when missing, re-issued when the spec hash
//! changes or the remaining lifetime falls under the renewal threshold, and
//! removed on deletion once no pod of the cluster runs any more — the
//! cluster's CA with the last of its CertConfigs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, ObjectMeta};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use operatorkit::{Context, Outcome, Step, StepError, condition};

use apiextensions::CertConfig;
use apiextensions::core::cert_config::KeyAlgorithm;
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};

use crate::backend::{Backend, BackendError, Scope};
use crate::metrics::CertMetrics;
use crate::pki::{CertInfo, CertRequest, IssuedCert, spec_hash, verify_bundle};
use crate::{CERTCONFIG_ANNOTATION, HASH_ANNOTATION, OPERATOR};
use apiextensions::waiting::PodWaiters;

/// How long a deletion waiting for pods waits at most before looking at them
/// again. A pod event of the cluster brings it back sooner ([`PodWaiters`]);
/// this is the safety net.
pub const PODS_RECHECK: Duration = Duration::from_secs(60);

/// Settings of the certificate resource.
#[derive(Clone, Debug)]
pub struct CertSettings {
    /// Key algorithm of CertConfigs that name none.
    pub default_key: KeyAlgorithm,
    /// Re-issue when less than this much lifetime remains (at most a third of
    /// the certificate's lifetime).
    pub renew_before: Duration,
    /// Namespace of the Secrets (default: the CertConfig's).
    pub secret_namespace: Option<String>,
}

/// The name of a CertConfig's Secret.
pub fn secret_name(config: &CertConfig) -> String {
    format!(
        "{}-{}",
        config.spec.cluster_id, config.spec.cluster_component
    )
}

/// The certificate resource.
pub struct Certificate {
    backend: Arc<dyn Backend>,
    settings: CertSettings,
    metrics: CertMetrics,
    waiters: PodWaiters<CertConfig>,
}

/// What to do with the current certificate.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// It is fine.
    Keep,
    /// Issue one: missing, broken or its spec changed.
    Issue,
    /// Issue one: it nears expiry.
    Renew,
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The renewal threshold of a certificate of lifetime `ttl`.
fn threshold(renew_before: Duration, ttl: Duration) -> i64 {
    i64::try_from(renew_before.min(ttl / 3).as_secs()).unwrap_or(i64::MAX)
}

fn decide(
    current: Option<(&CertInfo, &str)>,
    hash: &str,
    now: i64,
    threshold: i64,
    frozen: bool,
) -> Decision {
    match current {
        None => Decision::Issue,
        Some(_) if frozen => Decision::Keep,
        Some((_, h)) if h != hash => Decision::Issue,
        Some((info, _)) if info.not_after - now < threshold => Decision::Renew,
        Some(_) => Decision::Keep,
    }
}

impl Certificate {
    /// The resource, issuing from `backend`.
    pub fn new(backend: Arc<dyn Backend>, settings: CertSettings, metrics: CertMetrics) -> Self {
        Self {
            backend,
            settings,
            metrics,
            waiters: PodWaiters::default(),
        }
    }

    /// The current certificate of the Secret `name`, if whole and valid,
    /// with the spec hash it was issued for. Read through the context, so a
    /// loop that runs right after the one that wrote the Secret (before the
    /// Secret's watch event) sees that write, and one after a write whose
    /// answer was lost (the server restarting) reads the Secret live: a
    /// lagging cache must not cost a second certificate.
    async fn current_secret(
        cx: &Context<CertConfig>,
        scope: &Scope,
        name: &str,
        now: i64,
    ) -> Result<Option<(CertInfo, String)>, kube::Error> {
        let secret = cx.get::<Secret>(&scope.namespace, name).await?;
        Ok(secret.and_then(|s| Self::current(&s, now)))
    }

    /// Whether another CertConfig, not being deleted, uses `scope`'s CA.
    /// The cache answers first; it holds only this operator version's
    /// CertConfigs, so when it shows none the CertConfigs of every version
    /// are listed from the API server (during an upgrade a cluster's
    /// CertConfigs are split between two versions, and the old one must not
    /// delete a CA the new one's still use). One list per cluster deleted.
    async fn ca_still_used(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
    ) -> Result<bool, kube::Error> {
        let uid = cx.uid();
        let sibling = |c: &CertConfig| {
            c.uid().as_deref() != Some(uid.as_str())
                && c.metadata.deletion_timestamp.is_none()
                && c.spec.cluster_id == scope.cluster_id
                && self.scope(c) == *scope
        };
        let cached = cx
            .cache::<CertConfig>()
            .is_some_and(|s| s.state().iter().any(|c| sibling(c)));
        if cached {
            return Ok(true);
        }
        // Siblings share the Secret namespace: with one set by flag, they
        // may live in any namespace.
        let api = match self.settings.secret_namespace {
            Some(_) => Api::<CertConfig>::all(cx.client()),
            None => cx.api_in::<CertConfig>(&cx.namespace()),
        };
        let listed = api.list(&ListParams::default()).await?;
        Ok(listed.items.iter().any(sibling))
    }

    /// The deletions of this resource waiting for pods: map pod events
    /// through [`PodWaiters::waiting_for`] to finish them when the pods go.
    pub fn pod_waiters(&self) -> PodWaiters<CertConfig> {
        self.waiters.clone()
    }

    fn scope(&self, config: &CertConfig) -> Scope {
        Scope {
            namespace: self
                .settings
                .secret_namespace
                .clone()
                .or_else(|| config.namespace())
                .unwrap_or_default(),
            cluster_id: config.spec.cluster_id.clone(),
        }
    }

    /// What the current Secret holds, if it is a whole, valid bundle.
    fn current(secret: &Secret, now: i64) -> Option<(CertInfo, String)> {
        let data = secret.data.as_ref()?;
        let text = |k: &str| data.get(k).and_then(|b| std::str::from_utf8(&b.0).ok());
        let info = verify_bundle(text("ca.crt")?, text("tls.crt")?, text("tls.key")?, now);
        match info {
            Ok(info) => {
                let hash = secret
                    .annotations()
                    .get(HASH_ANNOTATION)
                    .cloned()
                    .unwrap_or_default();
                Some((info, hash))
            }
            Err(e) => {
                tracing::warn!(secret = %secret.name_any(), error = %e, "the Secret's certificate is unusable; re-issuing");
                None
            }
        }
    }

    async fn write_secret(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
        name: &str,
        issued: &IssuedCert,
        hash: &str,
    ) -> Result<(), kube::Error> {
        let config = cx.object();
        let same_namespace = config.namespace().as_deref() == Some(scope.namespace.as_str());
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(scope.namespace.clone()),
                labels: Some(
                    [
                        (CLUSTER_LABEL.to_owned(), config.spec.cluster_id.clone()),
                        (
                            COMPONENT_LABEL.to_owned(),
                            config.spec.cluster_component.clone(),
                        ),
                        (MANAGED_BY_LABEL.to_owned(), OPERATOR.as_str().to_owned()),
                    ]
                    .into(),
                ),
                annotations: Some(
                    [
                        (HASH_ANNOTATION.to_owned(), hash.to_owned()),
                        (
                            CERTCONFIG_ANNOTATION.to_owned(),
                            format!("{}/{}", cx.namespace(), cx.name()),
                        ),
                    ]
                    .into(),
                ),
                owner_references: same_namespace.then(|| vec![cx.owner_reference()]),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(
                [
                    (
                        "ca.crt".to_owned(),
                        ByteString(issued.ca_pem.as_bytes().to_vec()),
                    ),
                    (
                        "tls.crt".to_owned(),
                        ByteString(issued.cert_pem.as_bytes().to_vec()),
                    ),
                    (
                        "tls.key".to_owned(),
                        ByteString(issued.key_pem.as_bytes().to_vec()),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        };
        // One write with all three keys: a Secret is never half written.
        cx.apply(&secret).await?;
        Ok(())
    }

    /// Issues, checks and writes a certificate; errors set the Ready reason.
    async fn issue(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
        name: &str,
        cert: &CertRequest,
        hash: &str,
    ) -> Result<CertInfo, StepError> {
        let backend = self.backend.name();
        let issued = match self.backend.issue(cx, scope, cert).await {
            Ok(issued) => issued,
            Err(e) => {
                self.metrics.backend_error(backend);
                return Err(backend_failure(e));
            }
        };
        let info = match verify_bundle(
            &issued.ca_pem,
            &issued.cert_pem,
            &issued.key_pem,
            unix_now(),
        ) {
            Ok(info) => info,
            Err(e) => {
                self.metrics.backend_error(backend);
                return Err(StepError::transient(e).reason("IssueFailed"));
            }
        };
        self.write_secret(cx, scope, name, &issued, hash).await?;
        Ok(info)
    }
}

/// A backend's error as a step error: an unreachable backend or one that
/// could not issue what was asked are both retried (a Vault role can be
/// fixed, a mount recreated), with the reason users see.
fn backend_failure(e: BackendError) -> StepError {
    let reason = match e {
        BackendError::Unavailable(_) => "BackendUnavailable",
        BackendError::Invalid(_) => "IssueFailed",
    };
    StepError::transient(e).reason(reason)
}

fn time(unix: i64) -> Option<Time> {
    jiff::Timestamp::from_second(unix).ok().map(Time)
}

#[async_trait]
impl Step<CertConfig> for Certificate {
    fn name(&self) -> &str {
        "certificate"
    }

    async fn ensure_created(&self, cx: &Context<CertConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        // Bad input the schema could not refuse: Ready False and a Warning
        // Event; nothing is retried until the spec changes.
        let cert = CertRequest::from_spec(&config.spec, self.settings.default_key)
            .map_err(|e| StepError::permanent(e).reason("InvalidSpec"))?;
        let hash = spec_hash(&cert);
        let scope = self.scope(config);
        let name = secret_name(config);
        let now = unix_now();
        let threshold = threshold(self.settings.renew_before, cert.ttl);
        let current = Self::current_secret(cx, &scope, &name, now).await?;
        let decision = decide(
            current.as_ref().map(|(i, h)| (i, h.as_str())),
            &hash,
            now,
            threshold,
            config.spec.disable_regeneration,
        );
        let info = match (decision, current) {
            (Decision::Keep, Some((info, _))) => info,
            (decision, _) => {
                let renewal = decision == Decision::Renew;
                let info = self.issue(cx, &scope, &name, &cert, &hash).await?;
                self.metrics.issued(self.backend.name(), renewal);
                let (reason, verb) = if renewal {
                    ("Renewed", "renewed")
                } else {
                    ("Issued", "issued")
                };
                cx.event(
                    EventType::Normal,
                    reason,
                    format!("certificate {} {verb} into Secret {name}", info.serial),
                )
                .await;
                info
            }
        };
        self.metrics
            .set_expiry(&cx.namespace(), &cx.name(), info.not_after);
        cx.set_condition(
            condition(operatorkit::status::READY)
                .is(true)
                .because("Issued")
                .message(format!("certificate in Secret {}/{name}", scope.namespace)),
        );
        let (serial, not_before, not_after) =
            (info.serial.clone(), info.not_before, info.not_after);
        cx.status(move |s| {
            s.secret_name = Some(name.clone());
            s.serial_number = Some(serial.clone());
            s.not_before = time(not_before);
            s.not_after = time(not_after);
        });
        if config.spec.disable_regeneration {
            return Ok(Outcome::Done);
        }
        // Come back at the renewal time instead of polling.
        let renew_in = (info.not_after - threshold - now).max(1);
        Ok(Outcome::RecheckAfter(Duration::from_secs(
            u64::try_from(renew_in).unwrap_or(1),
        )))
    }

    async fn ensure_deleted(&self, cx: &Context<CertConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let scope = self.scope(config);
        // Certificates outlive the machines that use them: wait for the pods.
        // Registered before the cache is read, so that the event of a pod
        // going meanwhile brings this object back instead of being missed
        // (kube-runtime runs a trigger that arrives during a loop after it).
        let me = ObjectRef::from_obj(config);
        self.waiters.wait(&scope.cluster_id, me.clone());
        let running = cx
            .cache::<Pod>()
            .map(|pods| {
                pods.state()
                    .iter()
                    .filter(|p| p.labels().get(CLUSTER_LABEL) == Some(&scope.cluster_id))
                    .filter(|p| {
                        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                        !matches!(phase, Some("Succeeded" | "Failed"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if running > 0 {
            tracing::info!(cluster = %scope.cluster_id, pods = running, "pods of the cluster still run; keeping the certificate");
            cx.not_ready(
                "WaitingForPods",
                format!("{running} pods of cluster {} still run", scope.cluster_id),
            );
            return Ok(Outcome::Wait(PODS_RECHECK));
        }
        self.waiters.done(&scope.cluster_id, &me);
        let name = secret_name(config);
        if let Some(secret) = cx.get::<Secret>(&scope.namespace, &name).await? {
            cx.delete(secret.as_ref()).await?;
        }
        self.metrics.forget(&cx.namespace(), &cx.name());
        // The cluster's last CertConfig takes the CA with it.
        if !self.ca_still_used(cx, &scope).await?
            && let Err(e) = self.backend.delete_cluster(cx, &scope).await
        {
            self.metrics.backend_error(self.backend.name());
            return Err(backend_failure(e));
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_after: i64) -> CertInfo {
        CertInfo {
            serial: "01".into(),
            not_before: 0,
            not_after,
            common_name: String::new(),
            organizations: vec![],
            dns_names: vec![],
            ip_addresses: vec![],
        }
    }

    #[test]
    fn decisions() {
        let fresh = info(10_000);
        assert_eq!(decide(None, "h", 0, 100, false), Decision::Issue);
        assert_eq!(
            decide(Some((&fresh, "h")), "h", 0, 100, false),
            Decision::Keep
        );
        assert_eq!(
            decide(Some((&fresh, "old")), "h", 0, 100, false),
            Decision::Issue
        );
        assert_eq!(
            decide(Some((&fresh, "h")), "h", 9_950, 100, false),
            Decision::Renew
        );
        // disableRegeneration: keep a valid certificate whatever happens.
        assert_eq!(
            decide(Some((&fresh, "old")), "h", 9_950, 100, true),
            Decision::Keep
        );
        // ... but a missing one is still issued.
        assert_eq!(decide(None, "h", 0, 100, true), Decision::Issue);
    }

    #[test]
    fn threshold_is_at_most_a_third_of_the_lifetime() {
        let day = Duration::from_secs(86_400);
        assert_eq!(threshold(30 * day, 90 * day), 30 * 86_400);
        assert_eq!(threshold(30 * day, 3 * day), 86_400);
    }
}
