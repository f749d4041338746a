//! The step of the admin kubeconfig: Secret `<cluster-id>-kubeconfig`
//! (key `value`) in the AWSConfig's namespace, as kvm-operator writes it
//! ([`apiextensions::certificates::admin_kubeconfig`]): the guest API's
//! endpoint and the admin certificate cert-operator issued. It runs after
//! the stacks, so it names an endpoint that exists; it is owned by the
//! AWSConfig, written only when it differs (a rotated admin certificate
//! rewrites it) and deleted with the cluster.

use std::collections::BTreeMap;

use apiextensions::AWSConfig;
use apiextensions::certificates::{Component, admin_kubeconfig, issued, kubeconfig_secret_name};
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};
use operatorkit::{Context, Outcome, Step, StepError};

use crate::OPERATOR;
use crate::names::api_endpoint;

/// The step.
pub struct AdminKubeconfig;

/// The Secret, for the admin certificate `data` was built from.
fn secret(config: &AWSConfig, data: BTreeMap<String, k8s_openapi::ByteString>) -> Secret {
    let cluster = &config.spec.cluster.id;
    Secret {
        metadata: ObjectMeta {
            name: Some(kubeconfig_secret_name(cluster)),
            namespace: config.namespace(),
            labels: Some(BTreeMap::from([
                (CLUSTER_LABEL.to_owned(), cluster.clone()),
                (MANAGED_BY_LABEL.to_owned(), OPERATOR.to_string()),
                (COMPONENT_LABEL.to_owned(), "kubeconfig".to_owned()),
            ])),
            owner_references: config.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Whether `current` holds `desired`'s data, labels and owner reference.
/// A label or owner someone else added is theirs to keep: it does not make
/// the Secret differ (or every pass would write it again).
fn same(current: &Secret, desired: &Secret) -> bool {
    let labels = current.labels();
    let owners = current.owner_references();
    current.data == desired.data
        && desired
            .labels()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        && desired
            .owner_references()
            .iter()
            .all(|o| owners.contains(o))
}

/// The Secret `name` in `cx`'s namespace: from the cache when it is there,
/// else read live. The cache holds only Secrets labelled with a cluster; a
/// Secret of that name without the label (someone else's) must be seen
/// before this step writes over it.
async fn current(cx: &Context<AWSConfig>, name: &str) -> Result<Option<Secret>, StepError> {
    if let Some(cached) = cx.get::<Secret>(&cx.namespace(), name).await? {
        return Ok(Some(cached.as_ref().clone()));
    }
    Ok(cx.api_in::<Secret>(&cx.namespace()).get_opt(name).await?)
}

#[async_trait]
impl Step<AWSConfig> for AdminKubeconfig {
    fn name(&self) -> &str {
        "kubeconfig"
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let config = cx.object();
        let cluster = &config.spec.cluster;
        let certs = issued(cx, &cluster.id, &[Component::Admin])
            .await?
            .map_err(|missing| {
                StepError::transient(format!("certificates missing: {}", missing.join(", ")))
            })?;
        let Some(admin) = certs.get(&Component::Admin) else {
            return Ok(Outcome::Done);
        };
        let data = admin_kubeconfig(&cluster.id, &api_endpoint(cluster), admin)
            .map_err(|e| StepError::permanent(format!("rendering the kubeconfig: {e}")))?;
        let desired = secret(config, data);
        if let Some(current) = &current(cx, &desired.name_any()).await? {
            if !current.owner_references().iter().any(|o| o.uid == cx.uid()) {
                return Err(StepError::permanent(format!(
                    "Secret {}/{} exists and is not this AWSConfig's",
                    cx.namespace(),
                    desired.name_any()
                ))
                .reason("KubeconfigSecretTaken"));
            }
            if same(current, &desired) {
                return Ok(Outcome::Done);
            }
        }
        cx.apply(&desired).await?;
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let name = kubeconfig_secret_name(&cx.object().spec.cluster.id);
        if let Some(current) = current(cx, &name).await?
            && current.owner_references().iter().any(|o| o.uid == cx.uid())
            && current.metadata.deletion_timestamp.is_none()
        {
            cx.delete(&current).await?;
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_owned_and_labelled() {
        let yaml = include_str!("../../manifests/examples/awsconfig.yaml");
        let mut config: AWSConfig = serde_yaml::from_str(yaml).unwrap();
        config.metadata.namespace = Some("team-a".into());
        config.metadata.uid = Some("uid-1".into());
        let s = secret(&config, BTreeMap::new());
        assert_eq!(
            s.name_any(),
            format!("{}-kubeconfig", config.spec.cluster.id)
        );
        assert_eq!(s.namespace().as_deref(), Some("team-a"));
        assert_eq!(s.owner_references()[0].uid, "uid-1");
        assert!(same(&s, &s.clone()));
        let mut labelled = s.clone();
        labelled
            .labels_mut()
            .insert("team".into(), "platform".into());
        assert!(same(&labelled, &s), "a foreign label is not a difference");
        let mut changed = s.clone();
        changed.data = Some(BTreeMap::from([(
            "value".to_owned(),
            k8s_openapi::ByteString(b"x".to_vec()),
        )]));
        assert!(!same(&changed, &s));
        let mut unlabelled = s.clone();
        unlabelled.labels_mut().remove(CLUSTER_LABEL);
        assert!(!same(&unlabelled, &s));
    }
}
