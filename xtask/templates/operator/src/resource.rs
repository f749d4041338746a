//! The one resource of {{name}}: a ConfigMap per {{Kind}}, holding its
//! message. Replace it with what your operator manages, keeping its shape:
//! `ensure_created` brings the world in line with the spec and writes nothing
//! when it already is; `ensure_deleted` removes what `ensure_created` made and
//! succeeds when it is already gone.

use operatorkit::k8s_openapi::api::core::v1::ConfigMap;
use operatorkit::kube::api::ObjectMeta;
use operatorkit::{Context, Outcome, Step, StepError, async_trait};

use crate::crd::{{Kind}};

/// Keeps the ConfigMap `<object>-{{kind_lower}}` of every {{Kind}}.
pub struct Message;

/// The name of the ConfigMap of the {{Kind}} in `cx`.
pub fn config_map_name(cx: &Context<{{Kind}}>) -> String {
    format!("{}-{{kind_lower}}", cx.name())
}

/// The ConfigMap the {{Kind}} in `cx` should have. An empty message is bad
/// input no retry can fix: a permanent error (Ready False with reason
/// InvalidSpec, one Warning Event, no retry until the object changes).
fn desired(cx: &Context<{{Kind}}>) -> Result<ConfigMap, StepError> {
    let message = &cx.object().spec.message;
    if message.trim().is_empty() {
        return Err(StepError::permanent("spec.message is empty").reason("InvalidSpec"));
    }
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(cx)),
            namespace: Some(cx.namespace()),
            // Deleted with its {{Kind}} by the garbage collector, and a change
            // to it brings the {{Kind}} back to the loop.
            owner_references: Some(vec![cx.owner_reference()]),
            ..ObjectMeta::default()
        },
        data: Some([("message".to_owned(), message.clone())].into()),
        ..ConfigMap::default()
    })
}

#[async_trait]
impl Step<{{Kind}}> for Message {
    fn name(&self) -> &str {
        "configmap"
    }

    async fn ensure_created(&self, cx: &Context<{{Kind}}>) -> Result<Outcome, StepError> {
        let desired = desired(cx)?;
        let name = config_map_name(cx);
        // From the cache (the operator owns ConfigMaps), seeing this
        // operator's own writes: a steady state makes no request at all.
        let current = cx.get::<ConfigMap>(&cx.namespace(), &name).await?;
        if current.is_none_or(|c| c.data != desired.data) {
            cx.apply(&desired).await?;
            tracing::info!(configmap = %name, "configmap applied");
        }
        cx.status(move |s| s.config_map_name = Some(name.clone()));
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<{{Kind}}>) -> Result<Outcome, StepError> {
        let name = config_map_name(cx);
        if let Some(current) = cx.get::<ConfigMap>(&cx.namespace(), &name).await? {
            cx.delete(current.as_ref()).await?;
            tracing::info!(configmap = %name, "configmap deleted");
        }
        Ok(Outcome::Done)
    }
}
