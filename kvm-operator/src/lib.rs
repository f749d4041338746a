//! kvm-operator: runs a guest cluster as KVM virtual-machine pods on the host cluster, reconciling `KVMConfig`.
//!
//! Not built yet (a later issue): this crate holds the operator's identity only,
//! and its binary says so and exits non-zero.

#![forbid(unsafe_code)]

use apiextensions::keys::{KVM_OPERATOR, OperatorName};

/// This operator.
pub const OPERATOR: OperatorName = KVM_OPERATOR;

/// The message the binary prints while the operator is not built.
pub fn not_built_message() -> String {
    format!(
        "{} is not built yet: its reconciler of KVMConfig arrives in a later issue",
        OPERATOR.as_str()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn says_which_operator_is_missing() {
        assert!(super::not_built_message().starts_with("kvm-operator is not built yet"));
    }
}
