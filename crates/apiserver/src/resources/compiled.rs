//! A custom resource version's CEL rules (`x-kubernetes-validations`),
//! compiled once when its CRD is served and kept with its resource type for
//! admission to evaluate.

use kube::core::cel::{CompiledSchema, compile_schema};
use serde_json::Value;

/// A CRD version's schema prepared for admission: CEL rules compiled once.
pub(crate) struct Compiled {
    /// The compiled rules, if the schema has any.
    pub(crate) cel: Option<CompiledSchema>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("cel", &self.cel.is_some())
            .finish()
    }
}

/// Compiles the CEL rules of a version's schema.
pub(crate) fn compile_version(schema: Option<&Value>) -> Compiled {
    Compiled {
        cel: schema
            .filter(|s| s.to_string().contains("x-kubernetes-validations"))
            .map(compile_schema),
    }
}
