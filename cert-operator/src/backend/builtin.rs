//! The built-in CA backend: one CA per guest cluster, generated once and kept
//! in Secret `<clusterID>-ca` (`ca.crt`, `ca.key`) next to the cluster's
//! certificates; it signs in-process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use operatorkit::Context;

use apiextensions::CertConfig;
use apiextensions::keys::CLUSTER_LABEL;

use super::{Backend, BackendError, Scope};
use crate::pki::{Ca, CertRequest, IssuedCert};
use crate::{CA_LABEL, OPERATOR};

/// The CA Secret of a cluster.
pub fn ca_secret_name(cluster_id: &str) -> String {
    format!("{cluster_id}-ca")
}

/// Parsed CAs by (namespace, cluster): the Secret's uid/resourceVersion and the CA.
type ParsedCas = HashMap<(String, String), (String, Arc<Ca>)>;

/// The built-in CA backend. Parsed CAs are kept in memory, keyed by their
/// Secret's uid and resourceVersion, so a CA is read once, not per certificate.
#[derive(Default)]
pub struct Builtin {
    parsed: Mutex<ParsedCas>,
}

impl Builtin {
    /// The CA of `scope`'s cluster: from the cache, else created.
    async fn ca(&self, cx: &Context<CertConfig>, scope: &Scope) -> Result<Arc<Ca>, BackendError> {
        let name = ca_secret_name(&scope.cluster_id);
        // Sees a CA this process created a moment ago even if the cache
        // does not yet (another CertConfig of the cluster, in a parallel loop).
        let current = cx
            .get::<Secret>(&scope.namespace, &name)
            .await
            .map_err(|e| BackendError::Unavailable(format!("reading CA Secret {name}: {e}")))?;
        let secret = match current {
            Some(s) => Secret::clone(&s),
            None => self.create_ca(cx, scope, &name).await?,
        };
        self.parse(scope, &secret)
    }

    async fn create_ca(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
        name: &str,
    ) -> Result<Secret, BackendError> {
        let api: Api<Secret> = Api::namespaced(cx.client(), &scope.namespace);
        let cluster = scope.cluster_id.clone();
        let ca = tokio::task::spawn_blocking(move || Ca::generate(&cluster))
            .await
            .map_err(|e| BackendError::Unavailable(format!("CA generation stopped: {e}")))?
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        let key = ca
            .key_pem()
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(scope.namespace.clone()),
                labels: Some(
                    [
                        (CLUSTER_LABEL.to_owned(), scope.cluster_id.clone()),
                        (CA_LABEL.to_owned(), "true".to_owned()),
                        (
                            apiextensions::keys::MANAGED_BY_LABEL.to_owned(),
                            OPERATOR.as_str().to_owned(),
                        ),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(
                [
                    (
                        "ca.crt".to_owned(),
                        ByteString(ca.cert_pem().as_bytes().to_vec()),
                    ),
                    ("ca.key".to_owned(), ByteString(key.as_bytes().to_vec())),
                ]
                .into(),
            ),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(created) => {
                tracing::info!(cluster = %scope.cluster_id, secret = %name, "created the cluster CA");
                cx.record_write(&created);
                Ok(created)
            }
            // Made meanwhile by another loop, not yet in the cache: use it.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let current = api.get(name).await.map_err(|e| {
                    BackendError::Unavailable(format!("reading CA Secret {name}: {e}"))
                })?;
                cx.record_write(&current);
                Ok(current)
            }
            Err(e) => Err(BackendError::Unavailable(format!(
                "creating CA Secret {name}: {e}"
            ))),
        }
    }

    fn parse(&self, scope: &Scope, secret: &Secret) -> Result<Arc<Ca>, BackendError> {
        let version = format!(
            "{}/{}",
            secret.uid().unwrap_or_default(),
            secret.resource_version().unwrap_or_default()
        );
        let key = (scope.namespace.clone(), scope.cluster_id.clone());
        if let Some((v, ca)) = self.lock().get(&key)
            && *v == version
        {
            return Ok(ca.clone());
        }
        let field = |k: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .ok_or_else(|| {
                    BackendError::Invalid(format!(
                        "CA Secret {} has no usable {k}; delete it to get a new CA",
                        secret.name_any()
                    ))
                })
        };
        let ca = Ca::from_pem(&field("ca.crt")?, &field("ca.key")?)
            .map_err(|e| BackendError::Invalid(format!("CA Secret {}: {e}", secret.name_any())))?;
        let ca = Arc::new(ca);
        self.lock().insert(key, (version, ca.clone()));
        Ok(ca)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ParsedCas> {
        // Plain data: usable after a panic elsewhere.
        self.parsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Backend for Builtin {
    fn name(&self) -> &'static str {
        "builtin"
    }

    async fn issue(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
        cert: &CertRequest,
    ) -> Result<IssuedCert, BackendError> {
        let ca = self.ca(cx, scope).await?;
        let cert = cert.clone();
        // Key generation (RSA above all) is CPU work: off the async threads.
        tokio::task::spawn_blocking(move || ca.issue(&cert))
            .await
            .map_err(|e| BackendError::Unavailable(format!("issuing stopped: {e}")))?
            .map_err(|e| BackendError::Invalid(e.to_string()))
    }

    async fn delete_cluster(
        &self,
        cx: &Context<CertConfig>,
        scope: &Scope,
    ) -> Result<(), BackendError> {
        let name = ca_secret_name(&scope.cluster_id);
        self.lock()
            .remove(&(scope.namespace.clone(), scope.cluster_id.clone()));
        // Through the context: a CertConfig of the cluster created right
        // after must not find this CA in a lagging cache.
        let unavailable =
            |e: kube::Error| BackendError::Unavailable(format!("deleting CA Secret {name}: {e}"));
        if let Some(ca) = cx
            .get::<Secret>(&scope.namespace, &name)
            .await
            .map_err(unavailable)?
        {
            cx.delete(ca.as_ref()).await.map_err(unavailable)?;
            tracing::info!(cluster = %scope.cluster_id, secret = %name, "deleted the cluster CA");
        }
        Ok(())
    }
}
