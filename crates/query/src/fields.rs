//! Kubernetes field selectors.
//!
//! This module owns `?fieldSelector=` handling, in three layers that mirror
//! kube-apiserver:
//!
//! 1. **Syntax** — [`parse`] is a port of `fields.ParseSelector`
//!    (`k8s.io/apimachinery/pkg/fields/selector.go`): comma-separated terms
//!    (`\,` does not split), each `field=value`, `field==value` or
//!    `field!=value` split at the first operator, the value unescaped
//!    (`\\`, `\,`, `\=`), terms sorted. Errors are the Go texts.
//! 2. **Field label conversion** — [`FieldSelector::convert_builtin`] and
//!    [`FieldSelector::convert_custom_resource`] port the per-kind
//!    `AddFieldLabelConversionFunc` registrations (`pkg/apis/*/v*/conversion.go`),
//!    the fallback `runtime.DefaultMetaV1FieldSelectorConversion` and the CRD
//!    `crConverter.ConvertFieldLabel`. They reject unsupported fields with the
//!    exact upstream message, which kube-apiserver returns as
//!    **400 BadRequest** (`errors.NewBadRequest(err.Error())` in the list /
//!    watch / deletecollection handlers), and they apply upstream's renames
//!    (`spec.host` → `spec.nodeName` for pods, `regarding.*` →
//!    `involvedObject.*` for `events.k8s.io`).
//! 3. **Values** — [`selectable_field_value`] ports the registries'
//!    `ToSelectableFields`/`GetAttrs` (what value each canonical field label
//!    has for an object), [`field_value`] is the generic JSON rendering and
//!    [`custom_resource_field_value`] is the CRD `selectableFields` one.
//!    [`FieldSelector::matches`] compares with a caller-provided getter;
//!    a missing field compares as `""` (like `fields.Set.Get`).
//!
//! Known differences: `metadata.namespace` of a cluster-scoped kind that has
//! no registered conversion func is accepted and compares as `""`, exactly as
//! upstream; kinds not listed in [`supported_fields`] (including alpha APIs
//! such as `resource.k8s.io` and `coordination.k8s.io/LeaseCandidate`) fall
//! back to metadata-only rules.

use std::fmt;

use serde_json::Value;

use crate::jsonpath::{self, Item};
use operatorkit_gofmt as gofmt;

/// Errors from parsing or converting a field selector. `Display` is the exact
/// Kubernetes message; kube-apiserver answers every one of them with
/// `400 BadRequest` (see [`FieldSelectorError::http_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidSelector {
        /// The whole selector string.
        selector: String,
        /// The offending (unescaped-for-splitting) term.
        term: String,
    },
    /// A backslash followed by something other than `\`, `,` or `=`, or a
    /// trailing backslash.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// An unescaped `,` or `=` inside a value. Go prints the rune with `%v`,
    /// i.e. as its code point number (`44` for `,`, `61` for `=`).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedRune(char),
    /// Rejected by a registered conversion func (most built-in kinds and all
    /// custom resources): `field label not supported: spec.foo`.
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
    /// Rejected by `batch/v1` Job's conversion func.
    #[error("field label {} not supported for batchv1.Job", gofmt::quote(.0))]
    JobFieldLabelNotSupported(String),
    /// Rejected by `runtime.DefaultMetaV1FieldSelectorConversion` (kinds with
    /// no registered conversion func, e.g. ConfigMap, Deployment).
    #[error("{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", gofmt::quote(.0))]
    NotKnownFieldSelector(String),
}

impl FieldSelectorError {
    /// The HTTP status kube-apiserver answers with: always 400 (reason
    /// `BadRequest`).
    pub fn http_status(&self) -> u16 {
        400
    }
}

/// The comparison of one term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field<op>value` term (value already unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The field label, taken verbatim (not trimmed, not unescaped).
    pub field: String,
    /// The comparison.
    pub op: FieldOp,
    /// The unescaped value.
    pub value: String,
}

/// A parsed field selector: the AND of its terms. No terms matches
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

/// `fields.EscapeValue`: prefixes `\`, `,` and `=` with a backslash.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(FieldSelectorError::InvalidEscapeSequence(format!("\\{c}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::InvalidEscapeSequence("\\".to_string()));
    }
    Ok(out)
}

fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::with_capacity(1);
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(r) = rest.strip_prefix("!=") {
            return Some((&term[..i], FieldOp::NotEquals, r));
        }
        if let Some(r) = rest.strip_prefix("==") {
            return Some((&term[..i], FieldOp::Equals, r));
        }
        if let Some(r) = rest.strip_prefix('=') {
            return Some((&term[..i], FieldOp::Equals, r));
        }
    }
    None
}

/// Parses a field selector like `fields.ParseSelector`. The empty string (and
/// a string of commas) is the everything-selector.
pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
    let mut parts = split_terms(selector);
    parts.sort_unstable();
    let mut terms = Vec::new();
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((lhs, op, rhs)) = split_term(part) else {
            return Err(FieldSelectorError::InvalidSelector {
                selector: selector.to_string(),
                term: part.to_string(),
            });
        };
        let value = unescape_value(rhs)?;
        // ParseSelector runs the identity Transform, which drops a term whose
        // field and value are both empty ("=", "==", "!=").
        if lhs.is_empty() && value.is_empty() {
            continue;
        }
        terms.push(Term {
            field: lhs.to_string(),
            op,
            value,
        });
    }
    Ok(FieldSelector { terms })
}

impl FieldSelector {
    /// Same as the free function [`parse`].
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        parse(selector)
    }

    /// True when the selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms in evaluation order (sorted by their source text, like Go).
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The field labels used, in term order (duplicates included). The server
    /// can use it to reject unsupported fields; [`FieldSelector::convert_builtin`]
    /// does that with the upstream messages.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Evaluates the selector. `get` resolves a field label to its string
    /// value; `None` compares as the empty string (as `fields.Set.Get` does),
    /// so `f!=x` matches objects without `f` and `f=` matches them too.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let v = get(&t.field).unwrap_or_default();
            match t.op {
                FieldOp::Equals => v == t.value,
                FieldOp::NotEquals => v != t.value,
            }
        })
    }

    /// Matches a built-in object: the selector should already be converted
    /// with [`FieldSelector::convert_builtin`] (so it only holds canonical
    /// labels); values come from [`selectable_field_value`].
    pub fn matches_builtin(&self, group: &str, kind: &str, obj: &Value) -> bool {
        self.matches(|f| selectable_field_value(group, kind, obj, f))
    }

    /// `RequiresExactMatch`: the value an `=`/`==` term pins `field` to.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    fn transform(
        &self,
        f: impl Fn(&str) -> Result<String, FieldSelectorError>,
    ) -> Result<Self, FieldSelectorError> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for t in &self.terms {
            let field = f(&t.field)?;
            // Transform drops a term whose field and value both become empty.
            if field.is_empty() && t.value.is_empty() {
                continue;
            }
            terms.push(Term {
                field,
                op: t.op,
                value: t.value.clone(),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Applies kube-apiserver's field label conversion for a built-in kind
    /// (`Scheme.ConvertFieldLabel` via `Selector.Transform`): unsupported
    /// labels fail with the kind's upstream message (the first failing term in
    /// term order wins), renamed labels are rewritten. `group` is the API
    /// group (`""` for core), `kind` the Kind (`Pod`, `Event`, ...).
    pub fn convert_builtin(&self, group: &str, kind: &str) -> Result<Self, FieldSelectorError> {
        let rules = rules_for(group, kind);
        self.transform(|label| rules.convert(label))
    }

    /// Applies the CRD field label conversion (`crConverter.ConvertFieldLabel`):
    /// `metadata.name`, `metadata.namespace` when namespaced, and the
    /// version's `selectableFields` (`jsonPath` without its leading dot, e.g.
    /// `spec.color`); anything else is `field label not supported: X`.
    pub fn convert_custom_resource(
        &self,
        namespaced: bool,
        selectable_fields: &[&str],
    ) -> Result<Self, FieldSelectorError> {
        self.transform(|label| {
            if label == "metadata.name"
                || (namespaced && label == "metadata.namespace")
                || selectable_fields.contains(&label)
            {
                Ok(label.to_string())
            } else {
                Err(FieldSelectorError::FieldLabelNotSupported(
                    label.to_string(),
                ))
            }
        })
    }
}

impl fmt::Display for FieldSelector {
    /// `Selector.String()`: `field=value` / `field!=value` (values
    /// re-escaped), joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{}{}", t.field, op, escape_value(&t.value))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Per-kind field label rules (conversion funcs)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Reject {
    /// `field label not supported: %s`
    NotSupported,
    /// `field label %q not supported for batchv1.Job`
    Job,
    /// `%q is not a known field selector: only %q, %q`
    Default,
}

struct Rules {
    accepted: &'static [&'static str],
    aliases: &'static [(&'static str, &'static str)],
    reject: Reject,
}

impl Rules {
    fn convert(&self, label: &str) -> Result<String, FieldSelectorError> {
        if self.accepted.contains(&label) {
            return Ok(label.to_string());
        }
        if let Some((_, to)) = self.aliases.iter().find(|(from, _)| *from == label) {
            return Ok((*to).to_string());
        }
        Err(match self.reject {
            Reject::NotSupported => FieldSelectorError::FieldLabelNotSupported(label.to_string()),
            Reject::Job => FieldSelectorError::JobFieldLabelNotSupported(label.to_string()),
            Reject::Default => FieldSelectorError::NotKnownFieldSelector(label.to_string()),
        })
    }
}

const META: &[&str] = &["metadata.name", "metadata.namespace"];

const POD: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    "spec.host",
];
const NODE: &[&str] = &["metadata.name", "spec.unschedulable"];
const REPLICATION_CONTROLLER: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE: &[&str] = &["status.phase", "metadata.name"];
const SECRET: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const EVENTS_K8S_IO: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR: &[&str] = &["metadata.name", "spec.signerName"];

const EVENTS_K8S_IO_ALIASES: &[(&str, &str)] = &[
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
];

fn rules_for(group: &str, kind: &str) -> Rules {
    let (accepted, aliases, reject): (
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
        Reject,
    ) = match (group, kind) {
        // pkg/apis/core/v1/conversion.go; "spec.host" is rewritten to "spec.nodeName".
        ("", "Pod") => (
            &POD[..POD.len() - 1],
            &[("spec.host", "spec.nodeName")],
            Reject::NotSupported,
        ),
        ("", "Node") => (NODE, &[], Reject::NotSupported),
        ("", "ReplicationController") => (REPLICATION_CONTROLLER, &[], Reject::NotSupported),
        ("", "Event") => (EVENT, &[], Reject::NotSupported),
        ("", "Namespace") => (NAMESPACE, &[], Reject::NotSupported),
        ("", "Secret") => (SECRET, &[], Reject::NotSupported),
        ("", "Service") => (SERVICE, &[], Reject::NotSupported),
        // pkg/apis/events/v1/conversion.go (and v1beta1): a mapping table.
        ("events.k8s.io", "Event") => (
            &[
                "reason",
                "source",
                "type",
                "metadata.namespace",
                "metadata.name",
            ],
            EVENTS_K8S_IO_ALIASES,
            Reject::NotSupported,
        ),
        // pkg/apis/batch/v1/conversion.go
        ("batch", "Job") => (JOB, &[], Reject::Job),
        // pkg/apis/certificates/v1/conversion.go
        ("certificates.k8s.io", "CertificateSigningRequest") => (CSR, &[], Reject::NotSupported),
        // runtime.DefaultMetaV1FieldSelectorConversion
        _ => (META, &[], Reject::Default),
    };
    Rules {
        accepted,
        aliases,
        reject,
    }
}

/// The field labels kube-apiserver 1.33 accepts in `fieldSelector` for a
/// built-in kind (group `""` for core), including accepted aliases
/// (`spec.host` for pods, `regarding.*`/`reportingController` for
/// `events.k8s.io`). Kinds without a registered conversion func (ConfigMap,
/// Deployment, ReplicaSet, ...) accept only `metadata.name` and
/// `metadata.namespace` — even when cluster-scoped. Note that the cluster
/// scoped Node, Namespace and CertificateSigningRequest do *not* accept
/// `metadata.namespace`, and that ReplicaSet/Deployment reject
/// `status.replicas` (apps/v1 registers no conversion func).
pub fn supported_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => POD,
        ("", "Node") => NODE,
        ("", "ReplicationController") => REPLICATION_CONTROLLER,
        ("", "Event") => EVENT,
        ("", "Namespace") => NAMESPACE,
        ("", "Secret") => SECRET,
        ("", "Service") => SERVICE,
        ("events.k8s.io", "Event") => EVENTS_K8S_IO,
        ("batch", "Job") => JOB,
        ("certificates.k8s.io", "CertificateSigningRequest") => CSR,
        _ => META,
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.split('.') {
        cur = cur.as_object()?.get(seg)?;
    }
    Some(cur)
}

fn render(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(gofmt::sprint(other)),
    }
}

/// Renders the field at dotted `path` (e.g. `spec.nodeName`) of a JSON
/// object the way Kubernetes compares field values: strings as-is, booleans
/// `true`/`false`, integers in decimal, floats like Go's `%v`, objects and
/// arrays like Go's `fmt.Sprint` (`map[k:v]`, `[a b]`). A missing field or a
/// JSON `null` gives `None`, which callers (and [`FieldSelector::matches`])
/// treat as `""`.
pub fn field_value(obj: &Value, path: &str) -> Option<String> {
    lookup(obj, path).and_then(render)
}

fn str_at(obj: &Value, path: &str) -> String {
    lookup(obj, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn bool_at(obj: &Value, path: &str) -> String {
    let b = lookup(obj, path).and_then(Value::as_bool).unwrap_or(false);
    if b { "true" } else { "false" }.to_string()
}

fn int_at(obj: &Value, path: &str) -> String {
    match lookup(obj, path) {
        Some(Value::Number(n)) => gofmt::number_v(n),
        _ => "0".to_string(),
    }
}

/// The value a built-in object has for a canonical field label, as the
/// kind's registry `ToSelectableFields` computes it (the labels are those
/// left after [`FieldSelector::convert_builtin`]). Typed defaults are
/// applied: `spec.hostNetwork`/`spec.unschedulable` default to `false`,
/// `status.replicas`/`status.successful` to `0`; pods' `status.podIP` is
/// `status.podIPs[0].ip` (falling back to `status.podIP`); Jobs'
/// `status.successful` is `status.succeeded`; Events' `source` is
/// `source.component` falling back to `reportingComponent`
/// (`deprecatedSource.component`/`reportingController` for
/// `events.k8s.io`); `events.k8s.io` reads `regarding.*` for the
/// `involvedObject.*` labels. Labels the kind does not set (e.g.
/// `status.podIPs`, which upstream accepts but never sets) give `None`.
pub fn selectable_field_value(group: &str, kind: &str, obj: &Value, label: &str) -> Option<String> {
    match label {
        "metadata.name" => return Some(str_at(obj, "metadata.name")),
        "metadata.namespace" => return Some(str_at(obj, "metadata.namespace")),
        _ => {}
    }
    let v = match (group, kind, label) {
        (
            "",
            "Pod",
            "spec.nodeName"
            | "spec.restartPolicy"
            | "spec.schedulerName"
            | "status.phase"
            | "status.nominatedNodeName",
        ) => str_at(obj, label),
        ("", "Pod", "spec.serviceAccountName") => {
            str_or(obj, "spec.serviceAccountName", "spec.serviceAccount")
        }
        ("", "Pod", "spec.hostNetwork") => bool_at(obj, "spec.hostNetwork"),
        ("", "Pod", "status.podIP") => pod_ip(obj),
        ("", "Node", "spec.unschedulable") => bool_at(obj, "spec.unschedulable"),
        ("", "ReplicationController", "status.replicas")
        | ("apps", "ReplicaSet", "status.replicas") => int_at(obj, "status.replicas"),
        ("", "Namespace", "status.phase") => str_at(obj, "status.phase"),
        ("", "Namespace", "name") => str_at(obj, "metadata.name"),
        ("", "Secret", "type") => str_at(obj, "type"),
        ("", "Service", "spec.clusterIP" | "spec.type") => str_at(obj, label),
        ("batch", "Job", "status.successful") => int_at(obj, "status.succeeded"),
        ("certificates.k8s.io", "CertificateSigningRequest", "spec.signerName") => {
            str_at(obj, label)
        }
        ("", "Event", "source") => str_or(obj, "source.component", "reportingComponent"),
        ("", "Event", l)
            if l.starts_with("involvedObject.")
                || matches!(l, "reason" | "reportingComponent" | "type") =>
        {
            str_at(obj, l)
        }
        ("events.k8s.io", "Event", "source") => {
            str_or(obj, "deprecatedSource.component", "reportingController")
        }
        ("events.k8s.io", "Event", "reportingComponent") => str_at(obj, "reportingController"),
        ("events.k8s.io", "Event", "reason" | "type") => str_at(obj, label),
        ("events.k8s.io", "Event", l) if l.starts_with("involvedObject.") => {
            str_at(obj, &format!("regarding.{}", &l["involvedObject.".len()..]))
        }
        _ => return None,
    };
    Some(v)
}

/// The string at `path`, or at `fallback` if that is empty.
fn str_or(obj: &Value, path: &str, fallback: &str) -> String {
    let s = str_at(obj, path);
    if s.is_empty() {
        str_at(obj, fallback)
    } else {
        s
    }
}

/// A pod's `status.podIP` field value: `status.podIPs[0].ip`, falling back
/// to `status.podIP` when there are no `podIPs`.
fn pod_ip(obj: &Value) -> String {
    match lookup(obj, "status.podIPs").and_then(Value::as_array) {
        Some(ips) if !ips.is_empty() => ips
            .first()
            .and_then(|ip| ip.get("ip"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => str_at(obj, "status.podIP"),
    }
}

/// Errors from evaluating a CRD `selectableFields` JSONPath.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectableFieldError {
    /// The JSONPath did not parse: `unexpected error parsing jsonPath: ...`.
    #[error("unexpected error parsing jsonPath: {0}")]
    Parse(String),
    /// Evaluation failed: `unexpected error finding value with jsonPath: ...`.
    #[error("unexpected error finding value with jsonPath: {0}")]
    Find(String),
    /// The path matched several values.
    #[error("unexpectedly received more than one JSON path result")]
    MultipleResults,
}

/// The value of a CRD `selectableFields[].jsonPath` (e.g. `.spec.color`) for
/// a custom resource, as `customResourceStrategy.selectableFields` computes
/// it: the single JSONPath result printed with `fmt.Sprint`, `""` when the
/// path matches nothing or `null`. The field label to compare is the path
/// without its leading `.`.
pub fn custom_resource_field_value(
    obj: &Value,
    json_path: &str,
) -> Result<String, SelectableFieldError> {
    let path =
        jsonpath::parse(json_path).map_err(|e| SelectableFieldError::Parse(e.to_string()))?;
    let results = path
        .find_results(obj)
        .map_err(|e| SelectableFieldError::Find(e.to_string()))?;
    let Some(first) = results.first().filter(|f| !f.is_empty()) else {
        return Ok(String::new());
    };
    if results.len() > 1 || first.len() > 1 {
        return Err(SelectableFieldError::MultipleResults);
    }
    Ok(match first.first() {
        None => String::new(),
        Some(item) => match item {
            Item::Ref(Value::Null) => String::new(),
            other => other.sprint(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(s: &str) -> FieldSelector {
        parse(s).unwrap()
    }

    #[test]
    fn parses_operators() {
        let s = sel("metadata.name=x,metadata.namespace!=y,spec.nodeName==n");
        assert_eq!(
            s.terms(),
            &[
                Term {
                    field: "metadata.name".into(),
                    op: FieldOp::Equals,
                    value: "x".into()
                },
                Term {
                    field: "metadata.namespace".into(),
                    op: FieldOp::NotEquals,
                    value: "y".into()
                },
                Term {
                    field: "spec.nodeName".into(),
                    op: FieldOp::Equals,
                    value: "n".into()
                },
            ]
        );
        assert_eq!(
            s.to_string(),
            "metadata.name=x,metadata.namespace!=y,spec.nodeName=n"
        );
        let fields: Vec<&str> = s.fields().collect();
        assert_eq!(
            fields,
            vec!["metadata.name", "metadata.namespace", "spec.nodeName"]
        );
    }

    #[test]
    fn terms_are_sorted_and_empty_terms_skipped() {
        let s = sel("b=2,,a=1,");
        let fields: Vec<&str> = s.fields().collect();
        assert_eq!(fields, vec!["a", "b"]);
        assert!(sel("").is_empty());
        assert!(sel(",,").is_empty());
    }

    #[test]
    fn escaping() {
        let s = sel(r"a=x\,y\=z\\w");
        assert_eq!(s.terms()[0].value, r"x,y=z\w");
        assert_eq!(s.to_string(), r"a=x\,y\=z\\w");
        assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
        // an escaped comma does not split terms
        assert_eq!(sel(r"a=1\,2,b=3").terms().len(), 2);
    }

    #[test]
    fn escape_errors_match_go() {
        assert_eq!(
            parse(r"a=x\y").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \y"
        );
        assert_eq!(
            parse(r"a=x\").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            parse("a=!=b").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn syntax_errors_match_go() {
        assert_eq!(
            parse("metadata.name").unwrap_err().to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        // the first failing term in sorted order is reported
        assert_eq!(
            parse("z,a=1,b").unwrap_err().to_string(),
            "invalid selector: 'z,a=1,b'; can't understand 'b'"
        );
        assert_eq!(parse("x").unwrap_err().http_status(), 400);
    }

    #[test]
    fn operator_split_rules() {
        // first operator occurrence wins; "==" preferred over "=" at the same spot
        assert_eq!(sel("a==b").terms()[0].value, "b");
        assert_eq!(sel("a!=b").terms()[0].op, FieldOp::NotEquals);
        // whitespace is kept verbatim
        let s = sel(" a = b ");
        assert_eq!(s.terms()[0].field, " a ");
        assert_eq!(s.terms()[0].value, " b ");
        // empty value and empty field are allowed
        assert_eq!(sel("a=").terms()[0].value, "");
        assert_eq!(sel("=b").terms()[0].field, "");
        // ...but a term with both empty disappears (identity Transform)
        assert!(sel("=").is_empty());
        assert!(sel("!=,==").is_empty());
        assert!(sel("!=").matches(|_| Some("x".into())));
    }

    #[test]
    fn matching() {
        let obj =
            json!({"metadata": {"name": "p1", "namespace": "ns"}, "spec": {"nodeName": "n1"}});
        let get = |f: &str| field_value(&obj, f);
        assert!(sel("metadata.name=p1").matches(get));
        assert!(!sel("metadata.name=p2").matches(get));
        assert!(sel("metadata.namespace!=other").matches(get));
        assert!(sel("spec.nodeName=n1,metadata.name==p1").matches(get));
        // missing fields compare as ""
        assert!(sel("spec.missing=").matches(get));
        assert!(sel("spec.missing!=x").matches(get));
        assert!(!sel("spec.missing=x").matches(get));
        assert!(sel("").matches(get));
    }

    #[test]
    fn field_value_rendering() {
        let obj = json!({"spec": {"b": true, "f": false, "i": 3, "x": 1.5, "s": "str", "n": null, "m": {"k": 1}, "a": [1, "x"]}});
        assert_eq!(field_value(&obj, "spec.b").as_deref(), Some("true"));
        assert_eq!(field_value(&obj, "spec.f").as_deref(), Some("false"));
        assert_eq!(field_value(&obj, "spec.i").as_deref(), Some("3"));
        assert_eq!(field_value(&obj, "spec.x").as_deref(), Some("1.5"));
        assert_eq!(field_value(&obj, "spec.s").as_deref(), Some("str"));
        assert_eq!(field_value(&obj, "spec.n"), None);
        assert_eq!(field_value(&obj, "spec.missing"), None);
        assert_eq!(field_value(&obj, "spec.s.deeper"), None);
        assert_eq!(field_value(&obj, "spec.m").as_deref(), Some("map[k:1]"));
        assert_eq!(field_value(&obj, "spec.a").as_deref(), Some("[1 x]"));
    }

    #[test]
    fn builtin_conversion_messages() {
        let e = sel("spec.foo=x").convert_builtin("", "Pod").unwrap_err();
        assert_eq!(e.to_string(), "field label not supported: spec.foo");
        assert_eq!(e.http_status(), 400);
        let e = sel("data.x=1")
            .convert_builtin("", "ConfigMap")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        let e = sel("status.failed=1")
            .convert_builtin("batch", "Job")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field label \"status.failed\" not supported for batchv1.Job"
        );
        let e = sel("status.replicas=1")
            .convert_builtin("apps", "ReplicaSet")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        // cluster-scoped kinds with registered funcs reject metadata.namespace
        let e = sel("metadata.namespace=x")
            .convert_builtin("", "Node")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field label not supported: metadata.namespace"
        );
        let e = sel("metadata.namespace=")
            .convert_builtin("", "Namespace")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field label not supported: metadata.namespace"
        );
        // ...but the default func accepts it even for cluster-scoped kinds
        assert!(
            sel("metadata.namespace=x")
                .convert_builtin("rbac.authorization.k8s.io", "ClusterRole")
                .is_ok()
        );
        // first unsupported term in sorted order is reported
        let e = sel("zz=1,aa=2,metadata.name=x")
            .convert_builtin("", "Pod")
            .unwrap_err();
        assert_eq!(e.to_string(), "field label not supported: aa");
    }

    #[test]
    fn builtin_conversion_rewrites() {
        let s = sel("spec.host=n1").convert_builtin("", "Pod").unwrap();
        assert_eq!(s.to_string(), "spec.nodeName=n1");
        let s = sel("regarding.name=x,reportingController=c")
            .convert_builtin("events.k8s.io", "Event")
            .unwrap();
        assert_eq!(s.to_string(), "involvedObject.name=x,reportingComponent=c");
        let e = sel("involvedObject.name=x")
            .convert_builtin("events.k8s.io", "Event")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field label not supported: involvedObject.name"
        );
        assert!(
            sel("involvedObject.name=x,reportingComponent=y,source=s")
                .convert_builtin("", "Event")
                .is_ok()
        );
    }

    #[test]
    fn every_supported_field_converts() {
        for (g, k) in [
            ("", "Pod"),
            ("", "Node"),
            ("", "ReplicationController"),
            ("", "Event"),
            ("", "Namespace"),
            ("", "Secret"),
            ("", "Service"),
            ("events.k8s.io", "Event"),
            ("batch", "Job"),
            ("certificates.k8s.io", "CertificateSigningRequest"),
            ("", "ConfigMap"),
        ] {
            for f in supported_fields(g, k) {
                let s = FieldSelector {
                    terms: vec![Term {
                        field: (*f).to_string(),
                        op: FieldOp::Equals,
                        value: "v".into(),
                    }],
                };
                assert!(s.convert_builtin(g, k).is_ok(), "{g}/{k}: {f}");
            }
        }
        assert!(supported_fields("", "Pod").contains(&"spec.serviceAccountName"));
        assert!(supported_fields("", "Secret").contains(&"type"));
        assert_eq!(
            supported_fields("apps", "Deployment"),
            &["metadata.name", "metadata.namespace"]
        );
    }

    #[test]
    fn custom_resource_conversion() {
        let s = sel("spec.color=red,metadata.namespace=ns");
        assert!(s.convert_custom_resource(true, &["spec.color"]).is_ok());
        assert_eq!(
            s.convert_custom_resource(false, &["spec.color"])
                .unwrap_err()
                .to_string(),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            sel("spec.size=1")
                .convert_custom_resource(true, &["spec.color"])
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.size"
        );
    }

    #[test]
    fn pod_selectable_fields() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "sa"},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        });
        let v = |l: &str| selectable_field_value("", "Pod", &pod, l);
        assert_eq!(v("spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(v("spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(v("status.podIP").as_deref(), Some("10.0.0.1"));
        assert_eq!(v("status.podIPs"), None);
        assert_eq!(v("spec.serviceAccountName").as_deref(), Some("sa"));
        assert_eq!(v("status.nominatedNodeName").as_deref(), Some(""));
        let s = sel("spec.host=n1,status.phase!=Pending")
            .convert_builtin("", "Pod")
            .unwrap();
        assert!(s.matches_builtin("", "Pod", &pod));
        let s = sel("status.podIPs=10.0.0.1")
            .convert_builtin("", "Pod")
            .unwrap();
        assert!(!s.matches_builtin("", "Pod", &pod));
        let s = sel("spec.hostNetwork=false")
            .convert_builtin("", "Pod")
            .unwrap();
        assert!(s.matches_builtin("", "Pod", &pod));
    }

    #[test]
    fn other_kinds_selectable_fields() {
        let job = json!({"metadata": {"name": "j"}, "status": {"succeeded": 2}});
        assert_eq!(
            selectable_field_value("batch", "Job", &job, "status.successful").as_deref(),
            Some("2")
        );
        assert_eq!(
            selectable_field_value("batch", "Job", &json!({}), "status.successful").as_deref(),
            Some("0")
        );
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(
            selectable_field_value("", "Node", &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "reportingComponent": "kubelet", "type": "Normal"});
        assert_eq!(
            selectable_field_value("", "Event", &ev, "source").as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            selectable_field_value("", "Event", &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        let ev2 = json!({"regarding": {"kind": "Pod", "name": "p"}, "reportingController": "ctrl", "deprecatedSource": {"component": "old"}});
        let s = sel("regarding.kind=Pod,reportingController=ctrl,source=old")
            .convert_builtin("events.k8s.io", "Event")
            .unwrap();
        assert!(s.matches_builtin("events.k8s.io", "Event", &ev2));
        let secret =
            json!({"type": "kubernetes.io/tls", "metadata": {"name": "s", "namespace": "d"}});
        assert!(sel("type=kubernetes.io/tls").matches_builtin("", "Secret", &secret));
        let ns = json!({"metadata": {"name": "d"}, "status": {"phase": "Active"}});
        assert!(sel("status.phase=Active,metadata.name=d").matches_builtin("", "Namespace", &ns));
    }

    #[test]
    fn custom_resource_values() {
        let cr =
            json!({"spec": {"color": "red", "size": 3, "on": true, "list": [1, 2], "nil": null}});
        assert_eq!(
            custom_resource_field_value(&cr, ".spec.color").unwrap(),
            "red"
        );
        assert_eq!(custom_resource_field_value(&cr, ".spec.size").unwrap(), "3");
        assert_eq!(
            custom_resource_field_value(&cr, ".spec.on").unwrap(),
            "true"
        );
        assert_eq!(
            custom_resource_field_value(&cr, ".spec.missing").unwrap(),
            ""
        );
        assert_eq!(custom_resource_field_value(&cr, ".spec.nil").unwrap(), "");
        assert_eq!(
            custom_resource_field_value(&cr, ".spec.list[*]").unwrap_err(),
            SelectableFieldError::MultipleResults
        );
    }

    /// Deterministic xorshift generator of strings over `alphabet`.
    fn random_strings(seed: u64, alphabet: &[&str], count: usize, max_len: usize) -> Vec<String> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..count)
            .map(|_| {
                let len = (next() % max_len as u64) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn fuzz_parse_never_panics_and_round_trips() {
        let alphabet = [
            "a",
            "b",
            "=",
            "==",
            "!=",
            "!",
            ",",
            "\\",
            "\\,",
            "\\=",
            "\\\\",
            " ",
            "é",
            "metadata.name",
        ];
        for s in random_strings(7, &alphabet, 20_000, 16) {
            if let Ok(sel) = parse(&s) {
                let _ = sel.matches(|_| None);
                let _ = sel.convert_builtin("", "Pod");
                let again = parse(&sel.to_string()).unwrap();
                assert_eq!(again.terms().len(), sel.terms().len(), "{s:?}");
            }
        }
    }

    #[test]
    fn unicode_is_handled() {
        let s = sel("métadata.nâme=vàl,ü!=ö");
        assert_eq!(s.terms().len(), 2);
        assert_eq!(
            parse("a=é\\é").unwrap_err().to_string(),
            "invalid field selector: invalid escape sequence: \\é"
        );
    }
}
