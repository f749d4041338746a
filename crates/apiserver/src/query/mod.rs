//! Queries over objects, ported from Kubernetes so results and error messages
//! match it: label selectors, field selectors (with each kind's supported and
//! renamed field labels), the JSONPath of printer columns, and Tables (with
//! kube-apiserver's printers for the built-in kinds).

pub mod fields;
mod gofmt;
pub mod jsonpath;
pub mod labels;
pub mod printers;
pub mod table;
