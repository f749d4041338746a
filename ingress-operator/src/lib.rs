//! ingress-operator: maps a guest cluster's ports on the host ingress controller, reconciling `IngressConfig`.
//!
//! Being built (issue 14): so far the ingress-nginx contract and the
//! ownership rule ([`nginx`]); the reconciler is not written yet, and the
//! binary says so and exits non-zero.

#![forbid(unsafe_code)]

pub mod nginx;

use apiextensions::keys::{INGRESS_OPERATOR, OperatorName};

/// This operator.
pub const OPERATOR: OperatorName = INGRESS_OPERATOR;

/// The message the binary prints while the operator is not built.
pub fn not_built_message() -> String {
    format!(
        "{} is not built yet: its reconciler of IngressConfig arrives in a later issue",
        OPERATOR.as_str()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn says_which_operator_is_missing() {
        assert!(super::not_built_message().starts_with("ingress-operator is not built yet"));
    }
}
