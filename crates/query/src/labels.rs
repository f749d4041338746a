//! Kubernetes label selectors.
//!
//! This module owns everything about label selection:
//!
//! * [`parse`] — the string syntax of `?labelSelector=` (`a=b`, `a==b`,
//!   `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`), a faithful
//!   port of `labels.Parse` from `k8s.io/apimachinery/pkg/labels/selector.go`
//!   (same lexer, same parser, same validation of keys and values, same error
//!   texts, which kube-apiserver returns verbatim as a `400 BadRequest`);
//! * [`from_label_selector`] — the structured `metav1.LabelSelector` JSON
//!   (`matchLabels` / `matchExpressions`), a port of
//!   `metav1.LabelSelectorAsSelector`;
//! * [`Selector::matches`] — evaluation with Kubernetes semantics (`!=` and
//!   `notin` match objects that lack the label).
//!
//! Which function yields what for "empty" input:
//!
//! | input | function | result |
//! |---|---|---|
//! | `""` (or only whitespace) | [`parse`] | [`Selector::everything`] (matches all) |
//! | JSON `{}` / `{"matchLabels":{}}` | [`from_label_selector`] | [`Selector::everything`] |
//! | JSON `null` | [`from_label_selector`] | [`Selector::nothing`] (matches none) |
//!
//! Differences from Go that a client cannot observe: Go iterates
//! `matchLabels` in random map order (so with several invalid keys the
//! reported one is random); this port iterates in sorted key order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use operatorkit_gofmt as gofmt;
use operatorkit_gofmt::json_string_slice_or_null;

/// Errors produced while building a label selector. `Display` is the exact
/// Kubernetes message (kube-apiserver answers `400 BadRequest` with it for a
/// bad `labelSelector` query parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// A syntax error from the string parser, e.g.
    /// `found ',', expected: !, identifier, or 'end of string'` or
    /// `unable to parse requirement: found '', expected: in, notin, =, ==, !=, gt, lt`.
    #[error("{0}")]
    Syntax(String),
    /// A requirement rejected by `labels.NewRequirement` validation (invalid
    /// key, invalid value, wrong number of values), e.g.
    /// `unable to parse requirement: values[0][app]: Invalid value: "a b": ...`
    /// from [`parse`], or `key: Invalid value: "-a": ...` from
    /// [`from_label_selector`].
    #[error("{0}")]
    InvalidRequirement(String),
    /// An unknown `matchExpressions[].operator`:
    /// `"Foo" is not a valid pod selector operator`.
    #[error("{} is not a valid pod selector operator", gofmt::quote(.0))]
    InvalidOperator(String),
    /// The structured selector JSON does not have the `metav1.LabelSelector`
    /// shape (Go would fail to decode it); the text mimics `encoding/json`.
    #[error("json: cannot unmarshal {found} into Go struct field {field} of type {expected}")]
    Decode {
        /// JSON type that was found (`string`, `number`, `object`, ...).
        found: &'static str,
        /// Go struct field path, e.g. `LabelSelector.matchLabels`.
        field: String,
        /// Go type that was expected.
        expected: &'static str,
    },
}

/// A label selector operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `in` — the label exists and its value is in the set.
    In,
    /// `notin` — the label is absent or its value is not in the set.
    NotIn,
    /// `=` — the label exists and equals the value.
    Equals,
    /// `==` — same as [`Operator::Equals`].
    DoubleEquals,
    /// `!=` — the label is absent or differs from the value.
    NotEquals,
    /// `exists` — written as a bare key.
    Exists,
    /// `!` — written as `!key`.
    DoesNotExist,
    /// `gt` — written `key>N`; the label's integer value is greater than N.
    GreaterThan,
    /// `lt` — written `key<N`; the label's integer value is less than N.
    LessThan,
}

impl Operator {
    /// The Go `selection.Operator` string (`in`, `notin`, `=`, `==`, `!=`,
    /// `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One requirement of a selector (`labels.Requirement`). All requirements of
/// a [`Selector`] are ANDed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

/// The checks of `labels.NewRequirement`'s switch on the operator: how
/// many values each operator takes (and, for `gt`/`lt`, integers).
fn operator_values_errors(operator: Operator, values: &[String], errs: &mut Vec<String>) {
    match operator {
        Operator::In | Operator::NotIn => {
            if values.is_empty() {
                errs.push(field_invalid_raw(
                    "values",
                    &json_string_slice_or_null(values),
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
            if values.len() != 1 {
                errs.push(field_invalid_raw(
                    "values",
                    &json_string_slice_or_null(values),
                    "exact-match compatibility requires one single value",
                ));
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !values.is_empty() {
                errs.push(field_invalid_raw(
                    "values",
                    &json_string_slice_or_null(values),
                    "values set must be empty for exists and does not exist",
                ));
            }
        }
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(field_invalid_raw(
                    "values",
                    &json_string_slice_or_null(values),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(field_invalid_str(
                        &format!("values[{i}]"),
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
    }
}

impl Requirement {
    /// Validates and builds a requirement exactly like
    /// `labels.NewRequirement(key, op, vals)` (without a field path option):
    /// the key must be a qualified name, `in`/`notin` need at least one value,
    /// `=`/`==`/`!=` exactly one, `exists`/`!` none, `gt`/`lt` one integer,
    /// and every value must be a valid label value. Errors are aggregated like
    /// `field.ErrorList.ToAggregate()` (`[e1, e2]` when there are several).
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, LabelSelectorError> {
        let mut errs: Vec<String> = Vec::new();
        let key_errs = validate_qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(field_invalid_str("key", key, &key_errs.join("; ")));
        }
        operator_values_errors(operator, &values, &mut errs);
        for (i, v) in values.iter().enumerate() {
            let value_errs = validate_label_value(v);
            if !value_errs.is_empty() {
                errs.push(field_invalid_str(
                    &format!("values[{i}][{key}]"),
                    v,
                    &value_errs.join("; "),
                ));
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_string(),
                operator,
                values,
            })
        } else {
            Err(LabelSelectorError::InvalidRequirement(aggregate(errs)))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order they were given (the string parser sorts and
    /// de-duplicates them, like Go's `sets.String.List()`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    /// `Requirement.Matches`: `in`/`=`/`==` need the label with a listed
    /// value; `notin`/`!=` match when the label is absent or not listed;
    /// `gt`/`lt` need the label with an integer value (invalid integers never
    /// match).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let got = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                got.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(ls)) = got.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                if self.values.len() != 1 {
                    return false;
                }
                let Some(Ok(rv)) = self.values.first().map(|v| v.parse::<i64>()) else {
                    return false;
                };
                (self.operator == Operator::GreaterThan && ls > rv)
                    || (self.operator == Operator::LessThan && ls < rv)
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// `Requirement.String()`: `!a`, `a`, `a=b`, `a in (x,y)` (values sorted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        if self.values.len() == 1 {
            f.write_str(&self.values[0])?;
        } else {
            let mut sorted: Vec<&String> = self.values.iter().collect();
            sorted.sort();
            let joined: Vec<&str> = sorted.iter().map(|s| s.as_str()).collect();
            f.write_str(&joined.join(","))?;
        }
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector: the AND of its requirements, or the special
/// "nothing" selector built from a null `metav1.LabelSelector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// `labels.Everything()`: no requirements, matches every object.
    pub fn everything() -> Self {
        Selector {
            requirements: Vec::new(),
            nothing: false,
        }
    }

    /// `labels.Nothing()`: matches no object (from a null `LabelSelector`).
    pub fn nothing() -> Self {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Same as the free function [`parse`].
    pub fn parse(selector: &str) -> Result<Self, LabelSelectorError> {
        parse(selector)
    }

    /// `Selector.Empty()`: true when the selector does not restrict anything
    /// (false for [`Selector::nothing`]).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the selector built from a null `LabelSelector`.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key (as Go sorts them).
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// `Selector.Matches`: every requirement must match.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Like [`Selector::matches`] but reads `metadata.labels` from a JSON
    /// object (missing or non-object labels count as no labels; non-string
    /// label values are ignored).
    pub fn matches_object(&self, obj: &Value) -> bool {
        let mut labels = BTreeMap::new();
        if let Some(m) = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
        {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    labels.insert(k.clone(), s.to_string());
                }
            }
        }
        self.matches(&labels)
    }

    /// `labels.RequiresExactMatch`: the single value `label` must have, if the
    /// selector pins it with `=`, `==` or a one-value `in`.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match r.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In if r.values.len() == 1 => {
                r.values.first().map(String::as_str)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// `Selector.String()`: requirements joined by `,` (empty for both
    /// everything and nothing).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Validation (k8s.io/apimachinery/pkg/util/validation, 1.33 texts)
// ---------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// `validation.RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push('\'');
        s.push_str(e);
        s.push_str("', ");
    }
    s.push_str("regex used for validation is '");
    s.push_str(fmt);
    s.push_str("')");
    s
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => ok(f) && ok(l) && b.iter().all(|c| ok(c) || *c == b'-'),
        _ => false,
    }
}

/// `validation.IsDNS1123Subdomain`.
pub fn validate_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !s.split('.').all(is_dns1123_label) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `validation.IsQualifiedName` (label keys).
pub fn validate_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in validate_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`.
pub fn validate_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `field.Invalid(path, <string>, detail).Error()`.
fn field_invalid_str(path: &str, value: &str, detail: &str) -> String {
    field_invalid_raw(path, &gofmt::quote(value), detail)
}

/// `field.Invalid(path, <already rendered bad value>, detail).Error()`.
fn field_invalid_raw(path: &str, rendered: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("{path}: Invalid value: {rendered}")
    } else {
        format!("{path}: Invalid value: {rendered}: {detail}")
    }
}

/// `field.ErrorList.ToAggregate().Error()`: duplicates dropped, a single
/// error printed alone, several as `[a, b]`.
fn aggregate(errs: Vec<String>) -> String {
    let mut seen = BTreeSet::new();
    let mut uniq = Vec::new();
    for e in errs {
        if seen.insert(e.clone()) {
            uniq.push(e);
        }
    }
    if uniq.len() == 1 {
        uniq.pop().unwrap_or_default()
    } else {
        format!("[{}]", uniq.join(", "))
    }
}

// ---------------------------------------------------------------------------
// Lexer and parser (port of labels.Lexer / labels.Parser)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string_to_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Returns the current byte and advances, or 0 at the end (without
    /// advancing). A NUL byte inside the input is also returned as 0, which
    /// Go treats like the end of the string; this port does the same.
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn text(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(self.s.get(start..end).unwrap_or_default()).into_owned()
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        let end;
        loop {
            let ch = self.read();
            if ch == 0 {
                end = if self.pos > start && self.s.get(self.pos - 1) == Some(&0) {
                    self.pos - 1
                } else {
                    self.pos
                };
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                end = self.pos;
                break;
            }
        }
        let lit = self.text(start, end);
        match string_to_token(lit.as_bytes()) {
            Some(t) => (t, lit),
            None => (Token::Identifier, lit),
        }
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut last: Option<(Token, String)> = None;
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) {
                buffer.push(ch);
                if let Some(t) = string_to_token(&buffer) {
                    last = Some((t, String::from_utf8_lossy(&buffer).into_owned()));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        match last {
            Some(x) => x,
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buffer)
                ),
            ),
        }
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            (Token::EndOfString, String::new())
        } else if is_special_symbol(ch) {
            self.unread();
            self.scan_special_symbol()
        } else {
            self.unread();
            self.scan_id_or_keyword()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

type PResult<T> = Result<T, LabelSelectorError>;

fn syntax(msg: String) -> LabelSelectorError {
    LabelSelectorError::Syntax(msg)
}

impl Parser {
    fn item(&self, idx: usize, ctx: Context) -> (Token, String) {
        let (mut tok, lit) = self
            .items
            .get(idx)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        if ctx == Context::Values && matches!(tok, Token::In | Token::NotIn) {
            tok = Token::Identifier;
        }
        (tok, lit)
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let r = self.item(self.position, ctx);
        self.position += 1;
        r
    }

    fn parse(&mut self) -> PResult<Vec<Requirement>> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| match e {
                        LabelSelectorError::InvalidRequirement(m) => {
                            LabelSelectorError::InvalidRequirement(format!(
                                "unable to parse requirement: {m}"
                            ))
                        }
                        other => syntax(format!("unable to parse requirement: {other}")),
                    })?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(syntax(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(syntax(format!(
                                "found '{l}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(syntax(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> PResult<Requirement> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::new(&key, op, Vec::new());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, operator, values.into_iter().collect())
    }

    fn parse_key_and_infer_operator(&mut self) -> PResult<(String, Option<Operator>)> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(syntax(format!("found '{lit}', expected: identifier")));
        }
        let key_errs = validate_qualified_name(&lit);
        if !key_errs.is_empty() {
            // Go passes the parser's nil *field.Path, which prints as "<nil>".
            return Err(LabelSelectorError::InvalidRequirement(field_invalid_str(
                "<nil>",
                &lit,
                &key_errs.join("; "),
            )));
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma)
            && operator != Some(Operator::DoesNotExist)
        {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> PResult<Operator> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(syntax(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            }
        })
    }

    fn parse_values(&mut self) -> PResult<BTreeSet<String>> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(syntax(format!("found '{lit}' expected: '('")));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let s = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    // Go reports the literal looked ahead before the list.
                    return Err(syntax(format!("found '{lit}', expected: ')'")));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(syntax(format!(
                "found '{lit}', expected: ',', ')' or identifier"
            ))),
        }
    }

    fn parse_identifiers_list(&mut self) -> PResult<BTreeSet<String>> {
        let mut s = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    s.insert(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        _ => return Err(syntax(format!("found '{lit2}', expected: ',' or ')'"))),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        s.insert(String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        s.insert(String::new());
                        return Ok(s);
                    }
                    if tok2 == Token::Comma {
                        self.consume(Context::Values);
                        s.insert(String::new());
                    }
                }
                _ => {
                    return Err(syntax(format!(
                        "found '{lit}', expected: ',', or identifier"
                    )));
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> PResult<BTreeSet<String>> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(syntax(format!("found '{lit}', expected: identifier")))
        }
    }
}

/// Parses the string form of a label selector (`?labelSelector=`), exactly
/// like `labels.Parse` in apimachinery:
///
/// ```text
/// <selector-syntax>         ::= <requirement> | <requirement> "," <selector-syntax>
/// <requirement>             ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]
/// <set-based-restriction>   ::= "" | <inclusion-exclusion> <value-set>
/// <inclusion-exclusion>     ::= "in" | "notin"
/// <value-set>               ::= "(" <values> ")"
/// <exact-match-restriction> ::= ["="|"=="|"!="|">"|"<"] VALUE
/// ```
///
/// Whitespace (space, tab, CR, LF) separates tokens; a NUL byte ends the
/// input as in Go. `in ()` is accepted and means "value is the empty
/// string"; `a=` likewise requires the empty value. An empty string yields
/// [`Selector::everything`]. Requirements are sorted by key.
pub fn parse(selector: &str) -> Result<Selector, LabelSelectorError> {
    let mut lexer = Lexer {
        s: selector.as_bytes(),
        pos: 0,
    };
    let mut items = Vec::new();
    loop {
        let (tok, lit) = lexer.lex();
        items.push((tok, lit));
        if tok == Token::EndOfString {
            break;
        }
    }
    let mut parser = Parser { items, position: 0 };
    let mut requirements = parser.parse()?;
    requirements.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Selector {
        requirements,
        nothing: false,
    })
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn decode_err(v: &Value, field: &str, expected: &'static str) -> LabelSelectorError {
    LabelSelectorError::Decode {
        found: json_type_name(v),
        field: field.to_string(),
        expected,
    }
}

/// Builds a selector from a structured `metav1.LabelSelector` JSON value,
/// like `metav1.LabelSelectorAsSelector`:
///
/// * `null` → [`Selector::nothing`] (matches nothing);
/// * no `matchLabels` and no `matchExpressions` (or both empty) →
///   [`Selector::everything`];
/// * otherwise one `=` requirement per `matchLabels` entry plus one per
///   `matchExpressions` entry (`In`, `NotIn`, `Exists`, `DoesNotExist`),
///   validated with [`Requirement::new`]; an unknown operator gives
///   `"X" is not a valid pod selector operator`.
pub fn from_label_selector(selector: &Value) -> Result<Selector, LabelSelectorError> {
    let obj = match selector {
        Value::Null => return Ok(Selector::nothing()),
        Value::Object(o) => o,
        other => return Err(decode_err(other, "LabelSelector", "v1.LabelSelector")),
    };
    let empty = serde_json::Map::new();
    let match_labels = match obj.get("matchLabels") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(decode_err(
                other,
                "LabelSelector.matchLabels",
                "map[string]string",
            ));
        }
    };
    let no_exprs = Vec::new();
    let exprs = match obj.get("matchExpressions") {
        None | Some(Value::Null) => &no_exprs,
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(decode_err(
                other,
                "LabelSelector.matchExpressions",
                "[]v1.LabelSelectorRequirement",
            ));
        }
    };
    if match_labels.is_empty() && exprs.is_empty() {
        return Ok(Selector::everything());
    }
    let mut requirements = Vec::with_capacity(match_labels.len() + exprs.len());
    for (k, v) in match_labels {
        requirements.push(match_label_requirement(k, v)?);
    }
    for expr in exprs {
        requirements.push(match_expression_requirement(expr)?);
    }
    requirements.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Selector {
        requirements,
        nothing: false,
    })
}

/// The `key = value` requirement of one `matchLabels` entry.
fn match_label_requirement(k: &str, v: &Value) -> Result<Requirement, LabelSelectorError> {
    let v = match v {
        Value::String(s) => s.clone(),
        // A JSON null decodes to the empty string in a map[string]string.
        Value::Null => String::new(),
        other => return Err(decode_err(other, "LabelSelector.matchLabels", "string")),
    };
    Requirement::new(k, Operator::Equals, vec![v])
}

/// The requirement of one `matchExpressions` entry (a JSON null is the
/// zero `LabelSelectorRequirement`).
fn match_expression_requirement(expr: &Value) -> Result<Requirement, LabelSelectorError> {
    let empty = serde_json::Map::new();
    let e = match expr {
        Value::Object(e) => e,
        Value::Null => &empty,
        other => {
            return Err(decode_err(
                other,
                "LabelSelector.matchExpressions",
                "v1.LabelSelectorRequirement",
            ));
        }
    };
    let get_str = |name: &str| -> Result<String, LabelSelectorError> {
        match e.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(decode_err(
                other,
                &format!("LabelSelectorRequirement.{name}"),
                "string",
            )),
        }
    };
    let key = get_str("key")?;
    let op_str = get_str("operator")?;
    let op = match op_str.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        _ => return Err(LabelSelectorError::InvalidOperator(op_str)),
    };
    let values = expression_values(e.get("values"))?;
    Requirement::new(&key, op, values)
}

/// Decodes a `LabelSelectorRequirement.values` (`[]string`, nulls as "").
fn expression_values(values: Option<&Value>) -> Result<Vec<String>, LabelSelectorError> {
    let mut out = Vec::new();
    match values {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for v in a {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Null => out.push(String::new()),
                    other => {
                        return Err(decode_err(
                            other,
                            "LabelSelectorRequirement.values",
                            "string",
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(decode_err(
                other,
                "LabelSelectorRequirement.values",
                "[]string",
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    const VALUE_REGEX_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const NAME_REGEX_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn parses_all_operators() {
        let s = parse("x in (foo,,baz),y,z notin ()").unwrap();
        assert_eq!(s.to_string(), "x in (,baz,foo),y,z notin ()");
        let s = parse("a=b,c==d,e!=f,g,!h,i>1,j<2").unwrap();
        assert_eq!(s.to_string(), "a=b,c==d,e!=f,g,!h,i>1,j<2");
        let ops: Vec<Operator> = s.requirements().iter().map(|r| r.operator()).collect();
        assert_eq!(
            ops,
            vec![
                Operator::Equals,
                Operator::DoubleEquals,
                Operator::NotEquals,
                Operator::Exists,
                Operator::DoesNotExist,
                Operator::GreaterThan,
                Operator::LessThan
            ]
        );
    }

    #[test]
    fn requirements_sorted_by_key_and_values_sorted() {
        let s = parse("z=1,a in (c,b,a,b)").unwrap();
        assert_eq!(s.requirements()[0].key(), "a");
        assert_eq!(s.requirements()[0].values(), &["a", "b", "c"]);
        assert_eq!(s.to_string(), "a in (a,b,c),z=1");
    }

    #[test]
    fn whitespace_rules() {
        assert_eq!(
            parse("  a = b ,  c  in ( x , y )  ").unwrap().to_string(),
            "a=b,c in (x,y)"
        );
        assert_eq!(parse("a\t!=\nb").unwrap().to_string(), "a!=b");
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   \t ").unwrap().is_empty());
        // "a b": b is not an operator
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        // key with an embedded space is two tokens
        assert_eq!(
            err("my key=v"),
            "unable to parse requirement: found 'key', expected: in, notin, =, ==, !=, gt, lt"
        );
    }

    #[test]
    fn keywords_as_keys_and_values() {
        // 'in' and 'notin' are identifiers in value/key position
        let s = parse("in in (in,notin)").unwrap();
        assert_eq!(s.to_string(), "in in (in,notin)");
        let s = parse("notin").unwrap();
        assert_eq!(s.requirements()[0].operator(), Operator::Exists);
        assert_eq!(parse("a=in").unwrap().to_string(), "a=in");
    }

    #[test]
    fn empty_values() {
        let s = parse("a=").unwrap();
        assert_eq!(s.requirements()[0].values(), &[""]);
        assert!(s.matches(&labels(&[("a", "")])));
        assert!(!s.matches(&labels(&[("a", "x")])));
        assert!(!s.matches(&labels(&[])));
        let s = parse("a in ()").unwrap();
        assert_eq!(s.requirements()[0].values(), &[""]);
        assert!(s.matches(&labels(&[("a", "")])));
        let s = parse("a in (,)").unwrap();
        assert_eq!(s.requirements()[0].values(), &[""]);
        let s = parse("a notin (x,,y)").unwrap();
        assert_eq!(s.requirements()[0].values(), &["", "x", "y"]);
        let s = parse("a in (,x)").unwrap();
        assert_eq!(s.requirements()[0].values(), &["", "x"]);
        let s = parse("a in (x,)").unwrap();
        assert_eq!(s.requirements()[0].values(), &["", "x"]);
        // Go rejects a doubled comma right before ')'
        assert_eq!(
            err("a notin (x,,)"),
            "unable to parse requirement: found ')', expected: ',', or identifier"
        );
        let s = parse("a=,b=c").unwrap();
        assert_eq!(s.to_string(), "a=,b=c");
    }

    #[test]
    fn syntax_errors_match_go() {
        assert_eq!(
            err(","),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b,,c"), "found ',', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            err("="),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("(a)"),
            "found '(', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("!!a"),
            "unable to parse requirement: found '!', expected: identifier"
        );
        assert_eq!(
            err("a in"),
            "unable to parse requirement: found '' expected: '('"
        );
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert_eq!(
            err("a in (x"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (x y)"),
            "unable to parse requirement: found 'y', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a in (x,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(
            err("a in ("),
            "unable to parse requirement: found '', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("a!b"),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("a=b)"), "found ')', expected: ',' or 'end of string'");
        // "===" lexes as "==" then "="
        assert_eq!(
            err("a===b"),
            "unable to parse requirement: found '=', expected: identifier"
        );
        assert_eq!(
            err("a in (x,y"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (x,,"),
            "unable to parse requirement: found '', expected: ',', or identifier"
        );
    }

    #[test]
    fn key_validation_errors_match_go() {
        assert_eq!(
            err("a$=b"),
            format!("unable to parse requirement: <nil>: Invalid value: \"a$\": {NAME_REGEX_ERR}")
        );
        assert_eq!(
            err("-a"),
            format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {NAME_REGEX_ERR}")
        );
        assert_eq!(
            err("a/b/c"),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        );
        assert_eq!(
            err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            err("Example.com/a"),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            err("example.com/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"example.com/\": name part must be non-empty; {NAME_REGEX_ERR}"
            )
        );
        let long = "a".repeat(64);
        assert_eq!(
            err(&long),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"
            )
        );
        assert!(parse(&"a".repeat(63)).is_ok());
        assert!(parse("app.kubernetes.io/name=x").is_ok());
        assert!(parse("A_b.C-9=x").is_ok());
    }

    #[test]
    fn value_validation_errors_match_go() {
        assert_eq!(
            err("a=b$"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"b$\": {VALUE_REGEX_ERR}"
            )
        );
        let long = "v".repeat(64);
        assert_eq!(
            err(&format!("a={long}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{long}\": must be no more than 63 characters"
            )
        );
        // several invalid values are aggregated, in sorted order
        assert_eq!(
            err("a in (z$,y$)"),
            format!(
                "unable to parse requirement: [values[0][a]: Invalid value: \"y$\": {VALUE_REGEX_ERR}, values[1][a]: Invalid value: \"z$\": {VALUE_REGEX_ERR}]"
            )
        );
        // unicode values are quoted like Go's %q
        assert_eq!(
            err("a=é"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"é\": {VALUE_REGEX_ERR}"
            )
        );
    }

    #[test]
    fn gt_lt_validation() {
        assert_eq!(
            err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("a>-1"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-1\": {VALUE_REGEX_ERR}"
            )
        );
        assert_eq!(
            err("a>"),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        let s = parse("a>5").unwrap();
        assert!(s.matches(&labels(&[("a", "6")])));
        assert!(!s.matches(&labels(&[("a", "5")])));
        assert!(!s.matches(&labels(&[("a", "x")])));
        assert!(!s.matches(&labels(&[])));
        let s = parse("a<5").unwrap();
        assert!(s.matches(&labels(&[("a", "-3")])));
        assert!(!s.matches(&labels(&[("a", "5")])));
    }

    #[test]
    fn matching_semantics() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(parse("app=web").unwrap().matches(&l));
        assert!(parse("app==web,tier").unwrap().matches(&l));
        assert!(!parse("app=db").unwrap().matches(&l));
        assert!(parse("app!=db").unwrap().matches(&l));
        assert!(!parse("app!=web").unwrap().matches(&l));
        // != and notin match objects without the label
        assert!(parse("missing!=x").unwrap().matches(&l));
        assert!(parse("missing notin (x)").unwrap().matches(&l));
        assert!(!parse("missing in (x)").unwrap().matches(&l));
        assert!(!parse("missing=x").unwrap().matches(&l));
        assert!(parse("!missing").unwrap().matches(&l));
        assert!(!parse("!app").unwrap().matches(&l));
        assert!(parse("app in (db,web)").unwrap().matches(&l));
        assert!(!parse("app notin (db,web)").unwrap().matches(&l));
        assert!(parse("").unwrap().matches(&l));
        assert!(parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn nul_byte_ends_input_like_go() {
        assert_eq!(parse("a=b \u{0}garbage((").unwrap().to_string(), "a=b");
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let s = parse("app=web").unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!s.matches_object(&json!({"metadata": {}})));
        assert!(parse("app!=web").unwrap().matches_object(&json!({})));
    }

    #[test]
    fn requires_exact_match() {
        let s = parse("a=1,b in (2),c in (3,4),d!=5").unwrap();
        assert_eq!(s.requires_exact_match("a"), Some("1"));
        assert_eq!(s.requires_exact_match("b"), Some("2"));
        assert_eq!(s.requires_exact_match("c"), None);
        assert_eq!(s.requires_exact_match("d"), None);
        assert_eq!(s.requires_exact_match("zz"), None);
    }

    #[test]
    fn structured_selector_null_empty() {
        let nothing = from_label_selector(&Value::Null).unwrap();
        assert!(nothing.is_nothing());
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&labels(&[])));
        let all = from_label_selector(&json!({})).unwrap();
        assert!(all.is_empty());
        assert!(all.matches(&labels(&[("x", "y")])));
        let all = from_label_selector(&json!({"matchLabels": {}, "matchExpressions": []})).unwrap();
        assert!(all.matches(&labels(&[])));
    }

    #[test]
    fn structured_selector_matches() {
        let s = from_label_selector(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,env notin (prod),!legacy,team,tier in (back,front)"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("team", "a")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", "a"),
            ("env", "prod")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", "a"),
            ("legacy", "1")
        ])));
    }

    #[test]
    fn structured_selector_errors_match_go() {
        let e =
            from_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "Equals"}]}))
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"Equals\" is not a valid pod selector operator"
        );
        let e = from_label_selector(&json!({"matchExpressions": [{"key": "a"}]})).unwrap_err();
        assert_eq!(e.to_string(), "\"\" is not a valid pod selector operator");
        let e = from_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        let e = from_label_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        let e = from_label_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x<"]}]}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "[values: Invalid value: [\"x\\u003c\"]: values set must be empty for exists and does not exist, values[0][a]: Invalid value: \"x<\": {VALUE_REGEX_ERR}]"
            )
        );
        let e = from_label_selector(&json!({"matchLabels": {"-bad": "ok"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("key: Invalid value: \"-bad\": {NAME_REGEX_ERR}")
        );
        let e = from_label_selector(&json!({"matchLabels": {"-bad": "b d"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "[key: Invalid value: \"-bad\": {NAME_REGEX_ERR}, values[0][-bad]: Invalid value: \"b d\": {VALUE_REGEX_ERR}]"
            )
        );
        let e = from_label_selector(&json!({"matchLabels": "x"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field LabelSelector.matchLabels of type map[string]string"
        );
    }

    #[test]
    fn requirement_new_direct() {
        assert!(Requirement::new("a", Operator::Equals, vec![]).is_err());
        assert_eq!(
            Requirement::new("a", Operator::Equals, vec!["x".into(), "y".into()])
                .unwrap_err()
                .to_string(),
            "values: Invalid value: [\"x\",\"y\"]: exact-match compatibility requires one single value"
        );
        assert_eq!(
            Requirement::new("a", Operator::GreaterThan, vec![])
                .unwrap_err()
                .to_string(),
            "values: Invalid value: null: for 'Gt', 'Lt' operators, exactly one value is required"
        );
        let r = Requirement::new("a", Operator::In, vec!["b".into(), "a".into()]).unwrap();
        assert_eq!(r.to_string(), "a in (a,b)");
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
    fn fuzz_parse_never_panics() {
        let alphabet = [
            "a", "b", "in", "notin", " ", "\t", "=", "==", "!=", "!", "(", ")", ",", ">", "<", "-",
            "1", "/", ".", "é", "\u{0}", "_",
        ];
        let l = labels(&[("a", "1"), ("b", "")]);
        for s in random_strings(42, &alphabet, 20_000, 20) {
            if let Ok(sel) = parse(&s) {
                let _ = sel.matches(&l);
                // the printed form parses again to the same selector
                assert_eq!(
                    parse(&sel.to_string()).map(|x| x.to_string()),
                    Ok(sel.to_string()),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "(((", ")))", "!!!", "===", "!=!=", "a in (((", "a in ,", "a notin", "a,", ",a", "in",
            "in in", "a in (b,", "\u{0}", "é=é", "a=b=c", "a>>1", "a<<1", "a>", "a<", "a!",
            "a in )", "日本=x",
        ] {
            let _ = parse(s);
        }
    }
}
