//! Status vocabulary shared by every kind: the schema of a `conditions` list,
//! and the status contract of operatorkit ([`OperatorStatus`], which owns the
//! `Ready` condition type) implemented for the five status types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
pub use operatorkit::status::{OperatorStatus, READY};
use schemars::{Schema, SchemaGenerator};

/// Schema of `status.conditions`: a list of `metav1.Condition` keyed by `type`, so
/// server-side apply merges conditions by type instead of replacing the list.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".to_owned(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".to_owned(),
        serde_json::json!(["type"]),
    );
    schema
}

operatorkit::operator_status!(
    crate::CertConfigStatus,
    crate::FlannelConfigStatus,
    crate::IngressConfigStatus,
    crate::KVMConfigStatus,
    crate::AWSConfigStatus,
);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn condition(type_: &str, status: &str) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: "Test".to_owned(),
            message: String::new(),
            last_transition_time: Time(Default::default()),
            observed_generation: None,
        }
    }

    #[test]
    fn ready_reads_the_ready_condition_only() {
        let mut s = crate::KVMConfigStatus::default();
        assert!(!s.is_ready());
        s.conditions.push(condition("MastersReady", "True"));
        assert!(!s.is_ready());
        s.conditions.push(condition(READY, "False"));
        assert!(!s.is_ready());
        s.conditions[1].status = "True".to_owned();
        assert!(s.is_ready());
        assert_eq!(
            s.condition("MastersReady").map(|c| c.status.as_str()),
            Some("True")
        );
        s.set_observed_generation(Some(4));
        assert_eq!(s.observed_generation(), Some(4));
    }
}
