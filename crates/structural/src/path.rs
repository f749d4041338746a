//! Field paths printed like apimachinery's `field.Path`.
//!
//! This module owns [`FPath`], a minimal `*field.Path` equivalent used by the
//! passes that build paths with `Child`/`Index`/`Key` (list-type and
//! embedded-resource validation, CRD schema checks): children are joined with
//! `.`, indexes and map keys are printed as `[i]`/`[key]`, and a nil path
//! prints as `<nil>`.

/// A `*field.Path`; `None` is the nil path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FPath(Option<String>);

impl FPath {
    /// The nil path (`<nil>` when printed).
    pub(crate) fn nil() -> Self {
        FPath(None)
    }

    /// `field.NewPath(name)`; an empty `name` yields a nil-like root that
    /// prints as empty.
    pub(crate) fn new(name: &str) -> Self {
        FPath(Some(name.to_string()))
    }

    /// `p.Child(name)`; `name` may contain dots (`Child("a.b")` prints `a.b`).
    pub(crate) fn child(&self, name: &str) -> Self {
        match &self.0 {
            None => FPath(Some(name.to_string())),
            Some(p) if name.is_empty() => FPath(Some(format!("{p}[]"))),
            Some(p) if p.is_empty() => FPath(Some(name.to_string())),
            Some(p) => FPath(Some(format!("{p}.{name}"))),
        }
    }

    /// `p.Index(i)`.
    pub(crate) fn index(&self, i: usize) -> Self {
        let base = self.0.clone().unwrap_or_default();
        FPath(Some(format!("{base}[{i}]")))
    }

    /// `p.Key(k)`.
    pub(crate) fn key(&self, k: &str) -> Self {
        let base = self.0.clone().unwrap_or_default();
        FPath(Some(format!("{base}[{k}]")))
    }

    /// `p.String()`.
    pub(crate) fn str(&self) -> String {
        self.0.clone().unwrap_or_else(|| "<nil>".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_field_path() {
        assert_eq!(FPath::nil().str(), "<nil>");
        assert_eq!(FPath::nil().child("spec").str(), "spec");
        assert_eq!(FPath::nil().key("k").str(), "[k]");
        assert_eq!(
            FPath::nil()
                .child("spec")
                .child("labels")
                .key("foo")
                .index(2)
                .str(),
            "spec.labels[foo][2]"
        );
        assert_eq!(
            FPath::new("spec.validation")
                .child("openAPIV3Schema")
                .child("properties")
                .key("spec")
                .child("type")
                .str(),
            "spec.validation.openAPIV3Schema.properties[spec].type"
        );
    }
}
