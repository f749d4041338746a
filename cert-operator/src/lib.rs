//! cert-operator: issues TLS certificates for guest-cluster components from a built-in CA or Vault PKI, reconciling `CertConfig`.
//!
//! In progress (issue 5): [`pki`] (requests, keys, the built-in CA, bundle
//! checks) is built; the reconciler is not, and the binary says so and exits
//! non-zero.

#![forbid(unsafe_code)]

pub mod pki;

use apiextensions::keys::Operator;

/// This operator.
pub const OPERATOR: Operator = Operator::Cert;

/// The message the binary prints while the operator is not built.
pub fn not_built_message() -> String {
    format!(
        "{} is not built yet: its reconciler of CertConfig arrives in issue 5",
        OPERATOR.as_str()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn says_which_operator_is_missing() {
        assert!(super::not_built_message().starts_with("cert-operator is not built yet"));
    }
}
