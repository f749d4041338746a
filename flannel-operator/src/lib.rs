//! flannel-operator: writes a guest cluster's flannel network config into etcd and runs flanneld, reconciling `FlannelConfig`.
//!
//! Not built yet (a later issue): this crate holds the operator's identity only,
//! and its binary says so and exits non-zero.

#![forbid(unsafe_code)]

use apiextensions::keys::{FLANNEL_OPERATOR, OperatorName};

/// This operator.
pub const OPERATOR: OperatorName = FLANNEL_OPERATOR;

/// The message the binary prints while the operator is not built.
pub fn not_built_message() -> String {
    format!(
        "{} is not built yet: its reconciler of FlannelConfig arrives in a later issue",
        OPERATOR.as_str()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn says_which_operator_is_missing() {
        assert!(super::not_built_message().starts_with("flannel-operator is not built yet"));
    }
}
