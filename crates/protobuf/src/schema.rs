//! The schema: Kubernetes' message descriptors and what the Go struct tags add
//! to them (which zero values are meant, which fields are inlined), loaded
//! once from the files under `schema/`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, FieldDescriptor, MessageDescriptor};

/// The package of apimachinery's `meta/v1` types (Status, DeleteOptions,
/// WatchEvent, PartialObjectMetadata).
pub(crate) const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

pub(crate) struct Schema {
    pool: DescriptorPool,
    keep: HashSet<String>,
    inline: HashSet<String>,
    /// Field full name -> JSON name, where they differ.
    renamed: HashMap<String, String>,
    /// Message full name -> its fields by JSON name, the inlined ones'
    /// fields included (with the inline field to go through).
    by_json: HashMap<String, HashMap<String, Route>>,
}

/// Where a JSON key of a message goes: the field, behind the inline fields
/// (outermost first) of the embedded structs the key belongs to.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) via: Vec<FieldDescriptor>,
    pub(crate) field: FieldDescriptor,
}

static SCHEMA: LazyLock<Option<Schema>> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(&include_bytes!("../schema/kubernetes.binpb")[..]).ok()?;
    let mut s = Schema {
        pool,
        keep: HashSet::new(),
        inline: HashSet::new(),
        renamed: HashMap::new(),
        by_json: HashMap::new(),
    };
    for line in include_str!("../schema/fields.txt").lines() {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("keep"), Some(f), None) => s.keep.insert(f.to_owned()),
            (Some("inline"), Some(f), None) => s.inline.insert(f.to_owned()),
            (Some("rename"), Some(f), Some(json)) => {
                s.renamed.insert(f.to_owned(), json.to_owned()).is_none()
            }
            _ => false,
        };
    }
    let by_json = s
        .pool
        .all_messages()
        .map(|m| (m.full_name().to_owned(), s.routes(&m)))
        .collect();
    s.by_json = by_json;
    Some(s)
});

/// The schema; `None` only if the checked-in descriptors do not parse, which
/// the tests rule out.
pub(crate) fn schema() -> Option<&'static Schema> {
    SCHEMA.as_ref()
}

impl Schema {
    /// The message of `kind` in `api_version`, falling back to `meta/v1`'s
    /// for the kinds every group shares (Status, DeleteOptions).
    pub(crate) fn message(&self, api_version: &str, kind: &str) -> Option<MessageDescriptor> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let own = format!("{}.{version}.{kind}", package(group));
        self.pool
            .get_message_by_name(&own)
            .or_else(|| self.pool.get_message_by_name(&format!("{META}.{kind}")))
    }

    #[cfg(test)]
    pub(crate) fn by_name(&self, name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(name)
    }

    /// Whether a zero value of `field` is meant rather than unset.
    pub(crate) fn keeps_zero(&self, field: &FieldDescriptor) -> bool {
        self.keep.contains(field.full_name())
    }

    /// Whether `field` is an embedded struct, inlined in JSON.
    pub(crate) fn is_inline(&self, field: &FieldDescriptor) -> bool {
        self.inline.contains(field.full_name())
    }

    /// The JSON name of `field`.
    pub(crate) fn json_name<'a>(&'a self, field: &'a FieldDescriptor) -> &'a str {
        self.renamed
            .get(field.full_name())
            .map_or(field.name(), String::as_str)
    }

    /// The field a JSON key of message `message` names.
    pub(crate) fn route(&self, message: &MessageDescriptor, key: &str) -> Option<&Route> {
        self.by_json.get(message.full_name())?.get(key)
    }

    fn routes(&self, m: &MessageDescriptor) -> HashMap<String, Route> {
        let mut out = HashMap::new();
        self.add_routes(m, &[], &mut out);
        out
    }

    fn add_routes(
        &self,
        m: &MessageDescriptor,
        via: &[FieldDescriptor],
        out: &mut HashMap<String, Route>,
    ) {
        for field in m.fields() {
            if let (true, prost_reflect::Kind::Message(inner)) =
                (self.is_inline(&field), field.kind())
            {
                let mut deeper = via.to_vec();
                deeper.push(field);
                self.add_routes(&inner, &deeper, out);
                continue;
            }
            let route = Route {
                via: via.to_vec(),
                field: field.clone(),
            };
            out.insert(self.json_name(&field).to_owned(), route);
        }
    }
}

/// The proto package prefix (without the version) of an API group.
fn package(group: &str) -> String {
    match group {
        "" => "k8s.io.api.core".into(),
        "meta.k8s.io" => "k8s.io.apimachinery.pkg.apis.meta".into(),
        "apiextensions.k8s.io" => "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions".into(),
        g => format!("k8s.io.api.{}", g.split('.').next().unwrap_or(g)),
    }
}

/// Whether objects of `kind` in `api_version` have a protobuf form.
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema()
        .and_then(|s| s.message(api_version, kind))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_messages_of_every_group_and_the_shared_ones() {
        let s = schema().unwrap();
        for (av, kind, name) in [
            ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
            ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "k8s.io.api.rbac.v1.ClusterRole",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
            (
                "v1",
                "Status",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
            ),
            (
                "meta.k8s.io/v1",
                "PartialObjectMetadataList",
                "k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList",
            ),
        ] {
            assert_eq!(s.message(av, kind).unwrap().full_name(), name);
        }
        assert!(!supports("example.com/v1", "Widget"));
        let replicas = s
            .by_name("k8s.io.api.apps.v1.DeploymentSpec")
            .unwrap()
            .get_field_by_name("replicas")
            .unwrap();
        assert!(s.keeps_zero(&replicas));
        let volume = s.by_name("k8s.io.api.core.v1.Volume").unwrap();
        assert!(s.is_inline(&volume.get_field_by_name("volumeSource").unwrap()));
    }
}
