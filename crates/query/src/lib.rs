//! Queries over Kubernetes objects held as `serde_json` values, ported from
//! Kubernetes so that results and error messages match kube-apiserver and
//! kubectl byte for byte:
//!
//! * [`labels`]: label selectors, parsed from their string form or built
//!   from a `LabelSelector`, with `k8s.io/apimachinery/pkg/labels`' grammar,
//!   validation and messages;
//! * [`fields`]: field selectors, with each kind's supported and renamed
//!   field labels;
//! * [`jsonpath`]: kubectl's JSONPath templates (`{.items[*].metadata.name}`,
//!   `{range}`/`{end}`, filters) as printer columns and `-o jsonpath` use
//!   them;
//! * [`table`] and [`printers`]: `meta.k8s.io/v1` Tables, from a CRD's
//!   printer columns or from kube-apiserver's printers for the built-in kinds
//!   (`kubectl get` and `-o wide` columns, ages, `<none>`, `1/1`, restarts
//!   with "(5m ago)").
//!
//! # Why a port and not a general crate
//! - JSONPath crates (`serde_json_path`, `jsonpath-rust`) implement RFC 9535,
//!   a different language: no `{}` templates, `{range}`, Go's printing of the
//!   values found, or kubectl's errors for a missing key.
//! - kube's `Selector` builds selectors for requests; it does not parse the
//!   string grammar with kube-apiserver's validation and error messages, and
//!   it has no field selectors.
//! - No crate has kube-apiserver's Tables or printers.
//!
//! Go's renderings come from `operatorkit-gofmt`. Nothing here depends on
//! an API server: `cargo test -p operatorkit-query` builds this crate alone.
pub mod fields;
pub mod jsonpath;
pub mod labels;
pub mod printers;
pub mod table;
