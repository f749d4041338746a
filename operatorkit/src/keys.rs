//! Every well-known key operatorkit puts on objects: labels, annotations and
//! finalizer names, all built at compile time from one prefix ([`DOMAIN`]),
//! plus the checked [`OperatorName`] that the per-operator keys are made
//! from. Operators and the CRD crate re-export these; nothing else spells a
//! key as a string literal.
//!
//! ```
//! use operatorkit::keys::{OperatorName, PAUSED_ANNOTATION};
//! assert_eq!(PAUSED_ANNOTATION, "operatorkit.dev/paused");
//! const CERT: OperatorName = OperatorName::from_static("cert-operator");
//! assert_eq!(CERT.version_label(), "cert-operator.operatorkit.dev/version");
//! assert_eq!(CERT.finalizer(), "operatorkit.dev/cert-operator");
//! // An operator's own keys, built from the same prefix:
//! const CA_LABEL: &str = operatorkit::key!("cert-operator", "ca");
//! assert_eq!(CA_LABEL, "cert-operator.operatorkit.dev/ca");
//! ```

use std::borrow::Cow;
use std::fmt;

/// The one prefix every key is built from (a macro, so that `concat!` can
/// build constant keys from it).
#[doc(hidden)]
#[macro_export]
macro_rules! __domain {
    () => {
        "operatorkit.dev"
    };
}

/// A key under [`DOMAIN`], as a `&'static str` constant:
/// `key!("paused")` is `"operatorkit.dev/paused"`, and
/// `key!("cert-operator", "ca")` is `"cert-operator.operatorkit.dev/ca"` (an
/// operator's own key).
#[macro_export]
macro_rules! key {
    ($name:literal) => {
        concat!($crate::__domain!(), "/", $name)
    };
    ($operator:literal, $name:literal) => {
        concat!($operator, ".", $crate::__domain!(), "/", $name)
    };
}

/// The domain under which every key is defined.
pub const DOMAIN: &str = __domain!();

/// Annotation on a custom resource: the value `"true"` makes every operator
/// leave it alone (no finalizer, no status, nothing on deletion).
pub const PAUSED_ANNOTATION: &str = key!("paused");

/// Label operatorkit sets on every child object it applies: the operator that
/// manages it (Kubernetes' recommended label).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Whether `object` carries the pause annotation (only the exact value
/// `"true"` pauses).
pub fn is_paused<K: kube::Resource>(object: &K) -> bool {
    label_or_annotation(object.meta().annotations.as_ref(), PAUSED_ANNOTATION) == Some("true")
}

/// The value of label `key` on `object`.
pub fn label<'a, K: kube::Resource>(object: &'a K, key: &str) -> Option<&'a str> {
    label_or_annotation(object.meta().labels.as_ref(), key)
}

/// The object of kind `K` that annotation `key` on `object` names as
/// `<namespace>/<name>`. Objects that cannot carry an owner reference to
/// what they belong to (cluster-scoped ones, or ones in another namespace)
/// carry such an annotation instead; a watch maps their events back with
/// this.
pub fn annotated_owner<K, C>(
    object: &C,
    key: &str,
) -> Option<kube::runtime::reflector::ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()>,
    C: kube::Resource,
{
    let (ns, name) =
        label_or_annotation(object.meta().annotations.as_ref(), key)?.split_once('/')?;
    Some(kube::runtime::reflector::ObjectRef::new(name).within(ns))
}

fn label_or_annotation<'a>(
    map: Option<&'a std::collections::BTreeMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    map.and_then(|m| m.get(key)).map(String::as_str)
}

/// Why a name cannot be an operator's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid operator name {name:?}: must be a DNS label (lowercase letters, digits and '-', \
     starting and ending with a letter or digit, at most 63 characters)"
)]
pub struct InvalidOperatorName {
    name: String,
}

/// The name of an operator (`cert-operator`), checked to be a DNS label so
/// that the keys built from it are valid label keys and finalizer names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatorName(Cow<'static, str>);

impl OperatorName {
    /// Checks `name` is a DNS label (RFC 1123) and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidOperatorName> {
        let name = name.into();
        if is_dns_label(&name) {
            Ok(Self(Cow::Owned(name)))
        } else {
            Err(InvalidOperatorName { name })
        }
    }

    /// A name known at compile time. Used in a `const`, an invalid name is a
    /// compile error:
    ///
    /// ```compile_fail,E0080
    /// const BAD: operatorkit::keys::OperatorName =
    ///     operatorkit::keys::OperatorName::from_static("Not_A_Label");
    /// ```
    pub const fn from_static(name: &'static str) -> Self {
        assert!(
            is_dns_label(name),
            "an operator name must be a DNS label (lowercase letters, digits and '-')"
        );
        Self(Cow::Borrowed(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Label key `<name>.operatorkit.dev/version`: which version of this
    /// operator reconciles a custom resource.
    pub fn version_label(&self) -> String {
        format!("{}.{DOMAIN}/version", self.0)
    }

    /// Finalizer `operatorkit.dev/<name>`: cleanup owed by this operator. One
    /// per operator, shared by its versions, so relabelling an object to
    /// another version hands the cleanup duty over with it.
    pub fn finalizer(&self) -> String {
        format!("{DOMAIN}/{}", self.0)
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is an RFC 1123 DNS label, as Kubernetes checks names and key
/// prefixes.
pub const fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 63 {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let edge = i == 0 || i == bytes.len() - 1;
        let ok = b.is_ascii_lowercase() || b.is_ascii_digit() || (b == b'-' && !edge);
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn keys_follow_the_conventions() {
        const CERT: OperatorName = OperatorName::from_static("cert-operator");
        assert_eq!(
            CERT.version_label(),
            "cert-operator.operatorkit.dev/version"
        );
        assert_eq!(CERT.finalizer(), "operatorkit.dev/cert-operator");
        assert_eq!(key!("x", "y"), "x.operatorkit.dev/y");
        assert_eq!(PAUSED_ANNOTATION, format!("{DOMAIN}/paused"));
    }

    #[test]
    fn operator_names_are_checked() {
        assert!(OperatorName::new("my-operator").is_ok());
        assert!(OperatorName::new("a").is_ok());
        for bad in [
            "",
            "-x",
            "x-",
            "Upper",
            "has.dot",
            "under_score",
            &"a".repeat(64),
        ] {
            let err = OperatorName::new(bad).err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("DNS label")), "{bad}");
        }
    }

    #[test]
    fn paused_only_when_exactly_true() {
        let mut cm = ConfigMap::default();
        assert!(!is_paused(&cm));
        for (value, paused) in [("false", false), ("True", false), ("true", true)] {
            cm.metadata.annotations = Some([(PAUSED_ANNOTATION.into(), value.into())].into());
            assert_eq!(is_paused(&cm), paused, "{value}");
        }
    }
}
