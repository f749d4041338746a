//! The Kubernetes JSONPath dialect (`k8s.io/client-go/util/jsonpath`).
//!
//! This module owns parsing and evaluating the JSONPath expressions found in
//! CRD `additionalPrinterColumns[].jsonPath` and `selectableFields[].jsonPath`
//! (and the `{...}` templates of `kubectl -o jsonpath`). It is a port of
//! client-go's `parser.go` / `jsonpath.go` and of the comparison functions of
//! its forked `text/template`, not an RFC 9535 implementation:
//!
//! * no `$` is needed (`.a.b`; `$` and `@` are accepted and ignored),
//! * `[0]`, `[-1]`, `[1:3]`, `[::2]`, `[*]`, `[0,2]` (union), `['key']`,
//! * filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `>`, `<=`, `>=`
//!   and the existence form `[?(@.x)]`,
//! * `..` recursive descent, `.*` wildcard, `\.` to escape a dot in a key.
//!
//! Upstream quirks reproduced on purpose:
//!
//! * `['a.b']` is **not** a single key: client-go re-parses the quoted text as
//!   `.a.b` (write `.a\.b` or `['a\.b']` for a key containing dots);
//! * filter comparisons only work between values of the same kind: a JSON
//!   integer compared with `1.5`, a float with `1`, a string with `true`
//!   or anything with `null` is an evaluation **error** (not "no match"),
//!   and so is an out-of-range index; the table convertor turns any error
//!   into a `null` cell;
//! * with missing keys allowed (as the apiserver does), a filter whose left
//!   side is missing skips the element;
//! * recursive descent returns containers (and non-empty strings), never
//!   scalar leaves, and iterates strings byte by byte.
//!
//! Differences: Go iterates map keys in random order for `*` and `..`; this
//! port uses sorted key order. `range`/`end` template blocks are rejected at
//! evaluation (they make no sense in a column). Parsing and evaluation depth
//! are bounded (64 nested bracket levels, 256 levels of `..` descent) and
//! report an error instead of exhausting the stack. `\x`/octal escapes that
//! produce invalid UTF-8 in quoted strings become U+FFFD.
//!
//! Why no crate: the RFC 9535 crates (`serde_json_path`, `jsonpath-rust`)
//! differ in syntax and, more importantly, in semantics (numeric comparison
//! across int/float, `['a.b']`, errors vs. no-match, printing); the tests in
//! `rfc9535_comparison` demonstrate the differences with `jsonpath-rust`.

use std::fmt;

use serde_json::Value;

use operatorkit_gofmt::{self as gofmt, GoNumber};
use operatorkit_gofmt::{float_to_json_value, hash_u};

/// JSONPath errors. `Display` is the client-go message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// A syntax error, e.g. `unclosed action`, `unterminated filter`,
    /// `invalid array index x`, `unrecognized character in action: U+0023 '#'`.
    #[error("{0}")]
    Parse(String),
    /// An evaluation error, e.g. `array index out of bounds: index 3, length 1`,
    /// `incompatible types for comparison`, `foo is not found`.
    #[error("{0}")]
    Eval(String),
}

fn perr<T>(msg: impl Into<String>) -> Result<T, JsonPathError> {
    Err(JsonPathError::Parse(msg.into()))
}

fn eerr(msg: impl Into<String>) -> Option<JsonPathError> {
    Some(JsonPathError::Eval(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Param {
    value: i64,
    known: bool,
    derived: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    List(Vec<Node>),
    Field(String),
    Identifier(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array([Param; 3]),
    Filter {
        left: Vec<Node>,
        right: Vec<Node>,
        op: String,
    },
    Wildcard,
    Recursive,
    Union(Vec<Vec<Node>>),
}

/// A parsed JSONPath template.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    root: Vec<Node>,
    allow_missing_keys: bool,
}

const MAX_PARSE_DEPTH: usize = 64;
const MAX_EVAL_DEPTH: usize = 256;

/// Parses a CRD-style JSONPath such as `.status.conditions[?(@.type=="Ready")].status`
/// exactly like the apiserver does for `additionalPrinterColumns` and
/// `selectableFields`: the expression is wrapped in `{...}` and missing keys
/// are allowed (they yield no result instead of an error).
pub fn parse(expr: &str) -> Result<JsonPath, JsonPathError> {
    let mut p = parse_template(&format!("{{{expr}}}"))?;
    p.allow_missing_keys = true;
    Ok(p)
}

/// Parses a full client-go template (`text {.a} more {.b}`), like
/// `jsonpath.New(name).Parse(template)`. Missing keys are errors until
/// [`JsonPath::allow_missing_keys`] is called.
pub fn parse_template(template: &str) -> Result<JsonPath, JsonPathError> {
    let root = Parser::new(template, 0).parse()?;
    Ok(JsonPath {
        root,
        allow_missing_keys: false,
    })
}

// ---------------------------------------------------------------------------
// Parser (port of client-go/util/jsonpath/parser.go)
// ---------------------------------------------------------------------------

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    width: usize,
    depth: usize,
}

fn is_space(r: char) -> bool {
    r == ' ' || r == '\t'
}

fn is_end_of_line(r: char) -> bool {
    r == '\r' || r == '\n'
}

fn is_terminator(r: Option<char>) -> bool {
    match r {
        None => true,
        Some(r) => {
            is_space(r)
                || is_end_of_line(r)
                || matches!(r, '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}')
        }
    }
}

/// `unicode.IsDigit` (exact for ASCII; `char::is_numeric` approximates Nd).
fn is_digit(r: char) -> bool {
    r.is_ascii_digit() || (!r.is_ascii() && r.is_numeric())
}

/// `unicode.IsLetter` (exact for ASCII; `char::is_alphabetic` approximates L).
fn is_letter(r: char) -> bool {
    r.is_ascii_alphabetic() || (!r.is_ascii() && r.is_alphabetic())
}

fn is_alpha_numeric(r: char) -> bool {
    r == '_' || is_letter(r) || is_digit(r)
}

/// `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$` (groups 2 and 3 keep their `:`).
fn match_slice(text: &str) -> Option<[&str; 3]> {
    let b = text.as_bytes();
    let mut i = 0;
    let scan_num = |mut i: usize| {
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut groups = [""; 3];
    let end = scan_num(i);
    groups[0] = text.get(i..end)?;
    i = end;
    for g in groups.iter_mut().skip(1) {
        if b.get(i) == Some(&b':') {
            let end = scan_num(i + 1);
            *g = text.get(i..end)?;
            i = end;
        }
    }
    (i == b.len()).then_some(groups)
}

/// `^'([^']*)'$`
fn match_dict_key(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains('\'')).then_some(inner)
}

/// `^([^!<>=]+)([!<>=]+)(.+?)$`
fn match_filter(text: &str) -> Option<(&str, &str, &str)> {
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let op_start = text.find(is_op)?;
    if op_start == 0 {
        return None;
    }
    let rest = &text[op_start..];
    let op_len = rest.find(|c| !is_op(c)).unwrap_or(rest.len());
    let (op, right) = rest.split_at(op_len);
    // `.` does not match a newline in RE2.
    if right.is_empty() || right.contains('\n') || text[..op_start].contains('\n') {
        return None;
    }
    Some((&text[..op_start], op, right))
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, depth: usize) -> Self {
        Parser {
            input,
            pos: 0,
            start: 0,
            width: 0,
            depth,
        }
    }

    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn next(&mut self) -> Option<char> {
        match self.rest().chars().next() {
            None => {
                self.width = 0;
                None
            }
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let r = self.next();
        self.backup();
        r
    }

    fn backup(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
    }

    fn consume_text(&mut self) -> &'a str {
        let v = self.input.get(self.start..self.pos).unwrap_or_default();
        self.start = self.pos;
        v
    }

    /// The byte two positions back (`p.input[p.pos-2]`).
    fn byte_before_last(&self) -> Option<u8> {
        self.pos
            .checked_sub(2)
            .and_then(|i| self.input.as_bytes().get(i).copied())
    }

    fn parse(mut self) -> Result<Vec<Node>, JsonPathError> {
        if self.depth > MAX_PARSE_DEPTH {
            return perr("jsonpath expression is nested too deeply");
        }
        let mut root = Vec::new();
        loop {
            // parseText
            if self.rest().starts_with('{') {
                if self.pos > self.start {
                    root.push(Node::Text(self.consume_text().to_string()));
                }
                // parseLeftDelim
                self.pos += 1;
                self.consume_text();
                let mut cur = Vec::new();
                self.parse_inside_action(&mut cur)?;
                root.push(Node::List(cur));
                continue;
            }
            if self.next().is_none() {
                break;
            }
        }
        if self.pos > self.start {
            root.push(Node::Text(self.consume_text().to_string()));
        }
        Ok(root)
    }

    /// Parses `text` as `{text}` and returns the nodes of its first action.
    fn parse_action(&self, text: &str) -> Result<Vec<Node>, JsonPathError> {
        let wrapped = format!("{{{text}}}");
        let root = Parser::new(&wrapped, self.depth + 1).parse()?;
        match root.into_iter().next() {
            Some(Node::List(nodes)) => Ok(nodes),
            _ => perr("unclosed action"),
        }
    }

    fn parse_inside_action(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                // parseRightDelim
                self.pos += 1;
                self.consume_text();
                return Ok(());
            }
            if rest.starts_with("[?(") {
                self.parse_filter(cur)?;
                continue;
            }
            if rest.starts_with("..") {
                self.parse_recursive(cur)?;
                continue;
            }
            match self.next() {
                None => return perr("unclosed action"),
                Some(r) if is_end_of_line(r) => return perr("unclosed action"),
                Some(' ' | '@' | '$') => {
                    self.consume_text();
                }
                Some('[') => self.parse_array(cur)?,
                Some(q @ ('"' | '\'')) => self.parse_quote(cur, q)?,
                Some('.') => self.parse_field(cur),
                Some(r) if r == '+' || r == '-' || is_digit(r) => {
                    self.backup();
                    self.parse_number(cur)?;
                }
                Some(r) if is_alpha_numeric(r) => {
                    self.backup();
                    self.parse_identifier(cur);
                }
                Some(r) => {
                    return perr(format!("unrecognized character in action: {}", hash_u(r)));
                }
            }
        }
    }

    fn parse_identifier(&mut self, cur: &mut Vec<Node>) {
        loop {
            let r = self.next();
            if is_terminator(r) {
                self.backup();
                break;
            }
        }
        let value = self.consume_text();
        match value {
            "true" => cur.push(Node::Bool(true)),
            "false" => cur.push(Node::Bool(false)),
            _ => cur.push(Node::Identifier(value.to_string())),
        }
    }

    fn parse_recursive(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        if matches!(cur.last(), Some(Node::Recursive)) {
            return perr("invalid multiple recursive descent");
        }
        self.pos += 2;
        self.consume_text();
        cur.push(Node::Recursive);
        if self.peek().is_some_and(is_alpha_numeric) {
            self.parse_field(cur);
        }
        Ok(())
    }

    fn parse_number(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            match self.next() {
                Some(r) if r == '.' || is_digit(r) => {}
                _ => {
                    self.backup();
                    break;
                }
            }
        }
        let value = self.consume_text();
        if let Ok(i) = value.parse::<i64>() {
            cur.push(Node::Int(i));
            return Ok(());
        }
        // strconv.ParseFloat reports ErrRange (an error) on overflow.
        match value.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                cur.push(Node::Float(f));
                Ok(())
            }
            _ => perr(format!("cannot parse number {value}")),
        }
    }

    fn parse_array(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return perr("unterminated array"),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let full = self.consume_text();
        let mut text = full
            .get(1..full.len().saturating_sub(1))
            .unwrap_or_default();
        if text == "*" {
            text = ":";
        }

        // union operator
        let strs: Vec<&str> = text.split(',').collect();
        if strs.len() > 1 {
            let mut union = Vec::with_capacity(strs.len());
            for s in strs {
                union.push(self.parse_action(&format!("[{}]", s.trim_matches(' ')))?);
            }
            cur.push(Node::Union(union));
            return Ok(());
        }

        // dict key: re-parsed as a field path, so dots split (upstream quirk)
        if let Some(key) = match_dict_key(text) {
            let nodes = self.parse_action(&format!(".{key}"))?;
            cur.extend(nodes);
            return Ok(());
        }

        // slice operator
        let Some(groups) = match_slice(text) else {
            return perr(format!("invalid array index {text}"));
        };
        let params = Self::slice_params(groups)?;
        cur.push(Node::Array(params));
        Ok(())
    }

    /// The `[start, end, step]` parameters of a slice from `match_slice`'s
    /// groups (an empty end after a start means `start+1`).
    fn slice_params(groups: [&str; 3]) -> Result<[Param; 3], JsonPathError> {
        let mut params = [Param {
            value: 0,
            known: false,
            derived: false,
        }; 3];
        for i in 0..3 {
            let mut v = groups[i];
            if !v.is_empty() {
                if i > 0 {
                    v = &v[1..];
                }
                if i > 0 && v.is_empty() {
                    params[i].known = false;
                } else {
                    params[i].known = true;
                    params[i].value = match v.parse::<i64>() {
                        Ok(n) => n,
                        Err(_) => return perr(format!("array index {v} is not a number")),
                    };
                }
            } else if i == 1 {
                params[i].known = true;
                params[i].value = params[0].value.wrapping_add(1);
                params[i].derived = true;
            } else {
                params[i].known = false;
                params[i].value = 0;
            }
        }
        Ok(params)
    }

    fn parse_filter(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        self.pos += 3;
        self.consume_text();
        let mut begin = false;
        let mut end = false;
        let mut pair = '\0';
        loop {
            match self.next() {
                None | Some('\n') => return perr("unterminated filter"),
                Some(r @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = r;
                        continue;
                    }
                    if self.byte_before_last() != Some(b'\\') && r == pair {
                        end = true;
                    }
                }
                Some(')') => {
                    if begin == end {
                        break;
                    }
                }
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return perr("unclosed array expect ]");
        }
        let full = self.consume_text();
        let text = full.get(..full.len().saturating_sub(2)).unwrap_or_default();
        match match_filter(text) {
            None => {
                let left = self.parse_action(text)?;
                cur.push(Node::Filter {
                    left,
                    right: Vec::new(),
                    op: "exists".to_string(),
                });
            }
            Some((l, op, r)) => {
                let left = self.parse_action(l)?;
                let right = self.parse_action(r)?;
                cur.push(Node::Filter {
                    left,
                    right,
                    op: op.to_string(),
                });
            }
        }
        Ok(())
    }

    fn parse_quote(&mut self, cur: &mut Vec<Node>, end: char) -> Result<(), JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return perr("unterminated quoted string"),
                Some(c) if c == end => {
                    if self.byte_before_last() != Some(b'\\') {
                        break;
                    }
                }
                Some(_) => {}
            }
        }
        let value = self.consume_text();
        match unquote_extend(value) {
            Ok(s) => {
                cur.push(Node::Text(s));
                Ok(())
            }
            Err(e) => perr(format!("unquote string {value} error {e}")),
        }
    }

    fn parse_field(&mut self, cur: &mut Vec<Node>) {
        self.consume_text();
        while self.advance() {}
        let value = self.consume_text();
        if value == "*" {
            cur.push(Node::Wildcard);
        } else {
            cur.push(Node::Field(value.replace('\\', "")));
        }
    }

    fn advance(&mut self) -> bool {
        let r = self.next();
        if r == Some('\\') {
            self.next();
        } else if is_terminator(r) {
            self.backup();
            return false;
        }
        true
    }
}

/// `UnquoteExtend`: `strconv.Unquote` that also accepts single quotes.
fn unquote_extend(s: &str) -> Result<String, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    let n = b.len();
    if n < 2 {
        return Err(SYNTAX);
    }
    let quote = b[0];
    if quote != b[n - 1] || (quote != b'"' && quote != b'\'') {
        return Err(SYNTAX);
    }
    let inner = &s[1..n - 1];
    if !inner.contains('\\') && !inner.contains(char::from(quote)) {
        return Ok(inner.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        rest = unquote_char(rest, quote, &mut out)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn unhex(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

/// `strconv.UnquoteChar`, appending the decoded bytes to `out`.
fn unquote_char<'s>(s: &'s str, quote: u8, out: &mut Vec<u8>) -> Result<&'s str, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    let Some(&c) = b.first() else {
        return Err(SYNTAX);
    };
    if c == quote {
        return Err(SYNTAX);
    }
    if c >= 0x80 {
        let ch = s.chars().next().ok_or(SYNTAX)?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        return Ok(&s[ch.len_utf8()..]);
    }
    if c != b'\\' {
        out.push(c);
        return Ok(&s[1..]);
    }
    let Some(&c) = b.get(1) else {
        return Err(SYNTAX);
    };
    // Every valid escape letter is ASCII; a multi-byte rune after `\` is
    // invalid syntax (and slicing inside it would not be a char boundary).
    if !c.is_ascii() {
        return Err(SYNTAX);
    }
    let tail = s.get(2..).ok_or(SYNTAX)?;
    let simple = match c {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' => {
            if c != quote {
                return Err(SYNTAX);
            }
            Some(c)
        }
        _ => None,
    };
    if let Some(v) = simple {
        out.push(v);
        return Ok(tail);
    }
    match c {
        b'x' | b'u' | b'U' => unquote_hex(c, tail, out),
        b'0'..=b'7' => unquote_octal(c, tail, out),
        _ => Err(SYNTAX),
    }
}

/// The `\xHH`, `\uHHHH` or `\UHHHHHHHH` escape (letter `c`, digits at the
/// start of `tail`) of `strconv.UnquoteChar`.
fn unquote_hex<'s>(c: u8, tail: &'s str, out: &mut Vec<u8>) -> Result<&'s str, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let n = match c {
        b'x' => 2,
        b'u' => 4,
        _ => 8,
    };
    let digits = tail.as_bytes().get(..n).ok_or(SYNTAX)?;
    let mut v: u32 = 0;
    for d in digits {
        v = (v << 4) | unhex(*d).ok_or(SYNTAX)?;
    }
    let tail = &tail[n..];
    if c == b'x' {
        // a single byte, possibly not UTF-8
        out.push(u8::try_from(v).map_err(|_| SYNTAX)?);
    } else {
        let ch = char::from_u32(v).ok_or(SYNTAX)?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Ok(tail)
}

/// The `\OOO` octal escape (first digit `c`, two more at the start of
/// `tail`) of `strconv.UnquoteChar`.
fn unquote_octal<'s>(c: u8, tail: &'s str, out: &mut Vec<u8>) -> Result<&'s str, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let mut v = u32::from(c - b'0');
    let digits = tail.as_bytes().get(..2).ok_or(SYNTAX)?;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return Err(SYNTAX);
        }
        v = (v << 3) | u32::from(d - b'0');
    }
    out.push(u8::try_from(v).map_err(|_| SYNTAX)?);
    Ok(&tail[2..])
}

// ---------------------------------------------------------------------------
// Evaluation (port of client-go/util/jsonpath/jsonpath.go)
// ---------------------------------------------------------------------------

/// One result value. Most results point into the evaluated object
/// ([`Item::Ref`]); the others are literals produced by the expression itself
/// (quoted text, numbers, booleans) or the bytes of a string visited by `*`
/// or `..`. The variants keep the Go types apart because the apiserver treats
/// them differently (a literal `int` is not an `int64`).
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// A value inside the evaluated JSON.
    Ref(&'a Value),
    /// A quoted string literal (Go `string`).
    Text(String),
    /// An integer literal (Go `int`).
    Int(i64),
    /// A float literal (Go `float64`).
    Float(f64),
    /// `true` / `false` literal (Go `bool`).
    Bool(bool),
    /// One byte of a string visited by `*` or `..` (Go `uint8`).
    Byte(u8),
}

impl<'a> Item<'a> {
    /// The referenced JSON value, if this item points into the object.
    pub fn as_ref_value(&self) -> Option<&'a Value> {
        match self {
            Item::Ref(v) => Some(v),
            _ => None,
        }
    }

    /// The item as an owned JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            Item::Ref(v) => (*v).clone(),
            Item::Text(s) => Value::String(s.clone()),
            Item::Int(i) => Value::from(*i),
            Item::Float(f) => float_to_json_value(*f),
            Item::Bool(b) => Value::Bool(*b),
            Item::Byte(b) => Value::from(*b),
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self, Item::Ref(Value::Null))
    }

    /// Go type name as `reflect.Type.String()` prints it.
    fn type_name(&self) -> &'static str {
        match self {
            Item::Ref(v) => match v {
                Value::Null => "interface {}",
                Value::Bool(_) => "bool",
                Value::Number(n) => match gofmt::go_number(n) {
                    GoNumber::Int(_) => "int64",
                    GoNumber::Float(_) => "float64",
                },
                Value::String(_) => "string",
                Value::Array(_) => "[]interface {}",
                Value::Object(_) => "map[string]interface {}",
            },
            Item::Text(_) => "string",
            Item::Int(_) => "int",
            Item::Float(_) => "float64",
            Item::Bool(_) => "bool",
            Item::Byte(_) => "uint8",
        }
    }

    /// `fmt.Sprint(item)` (`map[a:1]`, `[x y]`, `<nil>`, `1.5`, ...).
    pub fn sprint(&self) -> String {
        match self {
            Item::Ref(v) => gofmt::sprint(v),
            Item::Text(s) => s.clone(),
            Item::Int(i) => i.to_string(),
            Item::Float(f) => gofmt::float_v(*f),
            Item::Bool(b) => b.to_string(),
            Item::Byte(b) => b.to_string(),
        }
    }

    /// How `JSONPath.PrintResults` prints one value: objects and arrays as
    /// compact Go JSON, everything else like `fmt.Print` (`null` prints as
    /// `<nil>`).
    pub fn print(&self) -> String {
        match self {
            Item::Ref(v @ (Value::Object(_) | Value::Array(_))) => gofmt::json_marshal(v),
            other => other.sprint(),
        }
    }

    fn children(&self) -> Vec<Item<'a>> {
        match self {
            Item::Ref(Value::Object(m)) => m.values().map(Item::Ref).collect(),
            Item::Ref(Value::Array(a)) => a.iter().map(Item::Ref).collect(),
            Item::Ref(Value::String(s)) => s.bytes().map(Item::Byte).collect(),
            Item::Text(s) => s.bytes().map(Item::Byte).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.print())
    }
}

/// Prints a result set like `JSONPath.PrintResults`: each item via
/// [`Item::print`], separated by single spaces.
pub fn print_results(items: &[Item<'_>]) -> String {
    let texts: Vec<String> = items.iter().map(Item::print).collect();
    texts.join(" ")
}

type Out<'a> = (Vec<Item<'a>>, Option<JsonPathError>);

impl JsonPath {
    /// Sets `AllowMissingKeys`: when true a missing field yields no result
    /// instead of the error `<field> is not found`.
    pub fn allow_missing_keys(mut self, allow: bool) -> Self {
        self.allow_missing_keys = allow;
        self
    }

    /// `JSONPath.FindResults`: one result list per top-level template node
    /// (for a CRD path parsed with [`parse`] there is exactly one). Any
    /// evaluation error aborts the whole search, as in Go.
    pub fn find_results<'a>(&self, data: &'a Value) -> Result<Vec<Vec<Item<'a>>>, JsonPathError> {
        let cur = vec![Item::Ref(data)];
        let mut full = Vec::with_capacity(self.root.len());
        for node in &self.root {
            let (results, err) = self.walk(cur.clone(), node, 0);
            if let Some(e) = err {
                return Err(e);
            }
            full.push(results);
        }
        Ok(full)
    }

    /// All values inside `obj` that the path selects, flattened over the
    /// result lists. Literals (quoted text, numbers) and string bytes are
    /// omitted because they do not live in `obj`; an evaluation error gives
    /// an empty vector. Use [`JsonPath::find_results`] for the exact result
    /// structure and errors.
    pub fn eval<'a>(&self, obj: &'a Value) -> Vec<&'a Value> {
        match self.find_results(obj) {
            Ok(sets) => sets
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_ref_value())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `results[0][0]` of [`JsonPath::find_results`], or `None` on error or
    /// when nothing matched — what the CRD table convertor uses for a cell.
    pub fn first<'a>(&self, obj: &'a Value) -> Option<Item<'a>> {
        self.find_results(obj)
            .ok()?
            .into_iter()
            .next()?
            .into_iter()
            .next()
    }

    /// `JSONPath.Execute`: evaluates and prints every result list (like
    /// `kubectl -o jsonpath`).
    pub fn execute(&self, data: &Value) -> Result<String, JsonPathError> {
        let sets = self.find_results(data)?;
        Ok(sets.iter().map(|s| print_results(s)).collect::<String>())
    }

    fn walk<'a>(&self, input: Vec<Item<'a>>, node: &Node, depth: usize) -> Out<'a> {
        match node {
            Node::List(nodes) => self.eval_list(input, nodes, depth),
            Node::Text(t) => (vec![Item::Text(t.clone())], None),
            Node::Field(name) => self.eval_field(input, name),
            Node::Array(params) => eval_array(input, params),
            Node::Filter { left, right, op } => self.eval_filter(input, left, right, op, depth),
            Node::Int(i) => (vec![Item::Int(*i); input.len()], None),
            Node::Float(f) => (vec![Item::Float(*f); input.len()], None),
            Node::Bool(b) => (vec![Item::Bool(*b); input.len()], None),
            Node::Wildcard => {
                let mut results = Vec::new();
                for v in &input {
                    if !v.is_nil() {
                        results.extend(v.children());
                    }
                }
                (results, None)
            }
            Node::Recursive => eval_recursive(input, depth),
            Node::Union(lists) => {
                let mut result = Vec::new();
                for list in lists {
                    let (temp, err) = self.eval_list(input.clone(), list, depth);
                    if err.is_some() {
                        return (input, err);
                    }
                    result.extend(temp);
                }
                (result, None)
            }
            Node::Identifier(name) => match name.as_str() {
                "range" | "end" => (Vec::new(), eerr(format!("{name} blocks are not supported"))),
                _ => (input, eerr(format!("unrecognized identifier {name}"))),
            },
        }
    }

    fn eval_list<'a>(&self, input: Vec<Item<'a>>, nodes: &[Node], depth: usize) -> Out<'a> {
        if depth > MAX_EVAL_DEPTH {
            return (Vec::new(), eerr("jsonpath evaluation is nested too deeply"));
        }
        let mut cur = input;
        for n in nodes {
            let (v, err) = self.walk(cur, n, depth + 1);
            if err.is_some() {
                return (v, err);
            }
            cur = v;
        }
        (cur, None)
    }

    fn eval_field<'a>(&self, input: Vec<Item<'a>>, name: &str) -> Out<'a> {
        let mut results = Vec::new();
        if input.is_empty() {
            return (results, None);
        }
        for v in &input {
            if let Item::Ref(Value::Object(m)) = v
                && let Some(x) = m.get(name)
            {
                results.push(Item::Ref(x));
            }
        }
        if results.is_empty() && !self.allow_missing_keys {
            return (results, eerr(format!("{name} is not found")));
        }
        (results, None)
    }

    fn eval_filter<'a>(
        &self,
        input: Vec<Item<'a>>,
        left: &[Node],
        right: &[Node],
        op: &str,
        depth: usize,
    ) -> Out<'a> {
        let mut results = Vec::new();
        for v in &input {
            let Item::Ref(Value::Array(arr)) = v else {
                let msg = format!(
                    "{} is not array or slice and cannot be filtered",
                    v.sprint()
                );
                return (input, eerr(msg));
            };
            for elem in arr.iter() {
                let temp = vec![Item::Ref(elem)];
                let (lefts, lerr) = self.eval_list(temp.clone(), left, depth + 1);
                if op == "exists" {
                    if !lefts.is_empty() {
                        results.push(Item::Ref(elem));
                    }
                    continue;
                }
                if lerr.is_some() {
                    return (input, lerr);
                }
                let l = match lefts.as_slice() {
                    [] => continue,
                    [one] => one,
                    _ => return (input, eerr("can only compare one element at a time")),
                };
                let (rights, rerr) = self.eval_list(temp, right, depth + 1);
                if rerr.is_some() {
                    return (input, rerr);
                }
                let r = match rights.as_slice() {
                    [] => continue,
                    [one] => one,
                    _ => return (input, eerr("can only compare one element at a time")),
                };
                match filter_compare(l, r, op) {
                    Ok(true) => results.push(Item::Ref(elem)),
                    Ok(false) => {}
                    Err(e) => return (results, eerr(e)),
                }
            }
        }
        (results, None)
    }
}

/// Compares `l` and `r` with the filter operator `op`, as `evalFilter`'s
/// switch does.
fn filter_compare(l: &Item<'_>, r: &Item<'_>, op: &str) -> Result<bool, String> {
    let pass = match op {
        "<" => less(l, r),
        ">" => greater(l, r),
        "==" => equal(l, r),
        "!=" => equal(l, r).map(|b| !b),
        "<=" => less_or_equal(l, r),
        ">=" => less(l, r).map(|b| !b),
        _ => return Err(format!("unrecognized filter operator {op}")),
    };
    pass.map_err(str::to_string)
}

fn eval_array<'a>(input: Vec<Item<'a>>, params: &[Param; 3]) -> Out<'a> {
    let mut result = Vec::new();
    for v in &input {
        if v.is_nil() {
            continue;
        }
        let Item::Ref(Value::Array(arr)) = v else {
            let msg = format!("{} is not array or slice", v.type_name());
            return (input, eerr(msg));
        };
        let len = i128::try_from(arr.len()).unwrap_or(i128::MAX);
        let mut p0 = if params[0].known {
            i128::from(params[0].value)
        } else {
            0
        };
        if p0 < 0 {
            p0 += len;
        }
        let mut p1 = if params[1].known {
            i128::from(params[1].value)
        } else {
            len
        };
        if p1 < 0 || (p1 == 0 && params[1].derived) {
            p1 += len;
        }
        if p1 != p0 {
            if p0 >= len || p0 < 0 {
                let msg = format!("array index out of bounds: index {p0}, length {len}");
                return (input, eerr(msg));
            }
            if p1 > len || p1 < 0 {
                let msg = format!("array index out of bounds: index {}, length {len}", p1 - 1);
                return (input, eerr(msg));
            }
            if p0 > p1 {
                let msg = format!("starting index {p0} is greater than ending index {p1}");
                return (input, eerr(msg));
            }
        } else {
            return (result, None);
        }
        let mut step: usize = 1;
        if params[2].known {
            if params[2].value <= 0 {
                return (input, eerr("step must be > 0"));
            }
            step = usize::try_from(params[2].value).unwrap_or(usize::MAX);
        }
        let (start, end) = (
            usize::try_from(p0).unwrap_or(0),
            usize::try_from(p1).unwrap_or(0),
        );
        if let Some(slice) = arr.get(start..end) {
            result.extend(slice.iter().step_by(step).map(Item::Ref));
        }
    }
    (result, None)
}

fn eval_recursive(input: Vec<Item<'_>>, depth: usize) -> Out<'_> {
    let mut result = Vec::new();
    for v in input {
        if v.is_nil() {
            continue;
        }
        let children = v.children();
        if !children.is_empty() {
            result.push(v);
            if depth > MAX_EVAL_DEPTH {
                return (result, eerr("jsonpath evaluation is nested too deeply"));
            }
            let (out, err) = eval_recursive(children, depth + 1);
            if err.is_some() {
                return (result, err);
            }
            result.extend(out);
        }
    }
    (result, None)
}

// ---------------------------------------------------------------------------
// Comparisons (port of client-go/third_party/forked/golang/template/funcs.go)
// ---------------------------------------------------------------------------

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const BAD_COMPARISON: &str = "incompatible types for comparison";

#[derive(Debug, Clone, Copy)]
enum Basic<'s> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'s str),
}

fn basic<'s>(i: &'s Item<'_>) -> Result<Basic<'s>, &'static str> {
    Ok(match i {
        Item::Ref(Value::Bool(b)) | Item::Bool(b) => Basic::Bool(*b),
        Item::Ref(Value::Number(n)) => match gofmt::go_number(n) {
            GoNumber::Int(i) => Basic::Int(i),
            GoNumber::Float(f) => Basic::Float(f),
        },
        Item::Ref(Value::String(s)) | Item::Text(s) => Basic::Str(s),
        Item::Int(i) => Basic::Int(*i),
        Item::Float(f) => Basic::Float(*f),
        Item::Byte(b) => Basic::Uint(u64::from(*b)),
        Item::Ref(Value::Null | Value::Array(_) | Value::Object(_)) => {
            return Err(BAD_COMPARISON_TYPE);
        }
    })
}

fn equal(a: &Item<'_>, b: &Item<'_>) -> Result<bool, &'static str> {
    let (k1, k2) = (basic(a)?, basic(b)?);
    Ok(match (k1, k2) {
        (Basic::Int(x), Basic::Uint(y)) => x >= 0 && x.unsigned_abs() == y,
        (Basic::Uint(x), Basic::Int(y)) => y >= 0 && x == y.unsigned_abs(),
        (Basic::Bool(x), Basic::Bool(y)) => x == y,
        (Basic::Float(x), Basic::Float(y)) => x == y,
        (Basic::Int(x), Basic::Int(y)) => x == y,
        (Basic::Str(x), Basic::Str(y)) => x == y,
        (Basic::Uint(x), Basic::Uint(y)) => x == y,
        _ => return Err(BAD_COMPARISON),
    })
}

fn less(a: &Item<'_>, b: &Item<'_>) -> Result<bool, &'static str> {
    let (k1, k2) = (basic(a)?, basic(b)?);
    Ok(match (k1, k2) {
        (Basic::Int(x), Basic::Uint(y)) => x < 0 || x.unsigned_abs() < y,
        (Basic::Uint(x), Basic::Int(y)) => y >= 0 && x < y.unsigned_abs(),
        (Basic::Bool(_), Basic::Bool(_)) => return Err(BAD_COMPARISON_TYPE),
        (Basic::Float(x), Basic::Float(y)) => x < y,
        (Basic::Int(x), Basic::Int(y)) => x < y,
        (Basic::Str(x), Basic::Str(y)) => x.as_bytes() < y.as_bytes(),
        (Basic::Uint(x), Basic::Uint(y)) => x < y,
        _ => return Err(BAD_COMPARISON),
    })
}

fn less_or_equal(a: &Item<'_>, b: &Item<'_>) -> Result<bool, &'static str> {
    if less(a, b)? {
        return Ok(true);
    }
    equal(a, b)
}

fn greater(a: &Item<'_>, b: &Item<'_>) -> Result<bool, &'static str> {
    less_or_equal(a, b).map(|le| !le)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-0",
                "labels": {"app": "web", "kubernetes.io/hostname": "n1"},
                "annotations": {"a.b/c": "dotted"}
            },
            "spec": {"replicas": 3, "ratio": 0.5, "paused": false, "containers": [
                {"name": "c1", "image": "nginx", "ports": [{"containerPort": 80}]},
                {"name": "c2", "image": "envoy", "ports": [{"containerPort": 9901}, {"containerPort": 15000}]}
            ]},
            "status": {
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "Waiting"}
                ],
                "nil": null,
                "empty": []
            }
        })
    }

    fn first_text(expr: &str, obj: &Value) -> Option<String> {
        parse(expr).unwrap().first(obj).map(|i| i.print())
    }

    fn exec(template: &str, obj: &Value) -> Result<String, JsonPathError> {
        parse_template(template).unwrap().execute(obj)
    }

    #[test]
    fn simple_fields() {
        let p = pod();
        assert_eq!(first_text(".metadata.name", &p).as_deref(), Some("web-0"));
        assert_eq!(first_text(".spec.replicas", &p).as_deref(), Some("3"));
        assert_eq!(first_text(".spec.ratio", &p).as_deref(), Some("0.5"));
        assert_eq!(first_text(".spec.paused", &p).as_deref(), Some("false"));
        assert_eq!(first_text(".metadata.missing", &p), None);
        assert_eq!(first_text(".metadata.missing.deeper", &p), None);
        assert_eq!(first_text(".status.nil", &p).as_deref(), Some("<nil>"));
        assert_eq!(
            first_text(".metadata.labels", &p).as_deref(),
            Some(r#"{"app":"web","kubernetes.io/hostname":"n1"}"#)
        );
        // `$` and `@` are ignored
        assert_eq!(first_text("$.metadata.name", &p).as_deref(), Some("web-0"));
    }

    #[test]
    fn eval_returns_references() {
        let p = pod();
        let path = parse(".spec.containers[*].name").unwrap();
        let got: Vec<&Value> = path.eval(&p);
        assert_eq!(got, vec![&json!("c1"), &json!("c2")]);
        assert!(parse(".nope").unwrap().eval(&p).is_empty());
    }

    #[test]
    fn indexes_and_slices() {
        let p = pod();
        assert_eq!(
            first_text(".spec.containers[0].name", &p).as_deref(),
            Some("c1")
        );
        assert_eq!(
            first_text(".spec.containers[1].image", &p).as_deref(),
            Some("envoy")
        );
        assert_eq!(
            first_text(".spec.containers[-1].name", &p).as_deref(),
            Some("c2")
        );
        assert_eq!(
            first_text(".spec.containers[-2].name", &p).as_deref(),
            Some("c1")
        );
        let names = |e: &str| -> Vec<String> {
            parse(e).unwrap().find_results(&p).unwrap()[0]
                .iter()
                .map(Item::print)
                .collect()
        };
        assert_eq!(names(".spec.containers[0:2].name"), vec!["c1", "c2"]);
        assert_eq!(names(".spec.containers[:1].name"), vec!["c1"]);
        assert_eq!(names(".spec.containers[1:].name"), vec!["c2"]);
        assert_eq!(names(".spec.containers[::2].name"), vec!["c1"]);
        assert_eq!(
            names(".spec.containers[*].ports[*].containerPort"),
            vec!["80", "9901", "15000"]
        );
        assert_eq!(names(".spec.containers[0,1].name"), vec!["c1", "c2"]);
        assert_eq!(names(".spec.containers[1:1].name"), Vec::<String>::new());
        // `[]` is `[0]`
        assert_eq!(names(".spec.containers[].name"), vec!["c1"]);
    }

    #[test]
    fn index_errors_match_go() {
        let p = pod();
        let e = |expr: &str| {
            parse(expr)
                .unwrap()
                .find_results(&p)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(".spec.containers[5]"),
            "array index out of bounds: index 5, length 2"
        );
        assert_eq!(
            e(".spec.containers[-3]"),
            "array index out of bounds: index -1, length 2"
        );
        assert_eq!(
            e(".spec.containers[0:5]"),
            "array index out of bounds: index 4, length 2"
        );
        assert_eq!(
            e(".spec.containers[1:0]"),
            "starting index 1 is greater than ending index 0"
        );
        assert_eq!(e(".spec.containers[0:2:0]"), "step must be > 0");
        assert_eq!(
            e(".status.empty[0]"),
            "array index out of bounds: index 0, length 0"
        );
        assert_eq!(
            e(".metadata[0]"),
            "map[string]interface {} is not array or slice"
        );
        assert_eq!(e(".spec.replicas[0]"), "int64 is not array or slice");
        assert_eq!(e(".spec.ratio[0]"), "float64 is not array or slice");
        assert_eq!(e(".metadata.name[0]"), "string is not array or slice");
        // null is skipped
        assert!(parse(".status.nil[0]").unwrap().find_results(&p).unwrap()[0].is_empty());
        // such errors make the table cell null
        assert_eq!(first_text(".spec.containers[5].name", &p), None);
    }

    #[test]
    fn ready_condition_filter() {
        let expr = r#".status.conditions[?(@.type=="Ready")].status"#;
        assert_eq!(first_text(expr, &pod()).as_deref(), Some("False"));
        let with_true = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(first_text(expr, &with_true).as_deref(), Some("True"));
        let without =
            json!({"status": {"conditions": [{"type": "Initialized", "status": "True"}]}});
        assert_eq!(first_text(expr, &without), None);
        assert_eq!(first_text(expr, &json!({"status": {}})), None);
        assert_eq!(first_text(expr, &json!({})), None);
        assert_eq!(
            first_text(expr, &json!({"status": {"conditions": []}})),
            None
        );
        // condition entries lacking "type" are skipped
        let partial =
            json!({"status": {"conditions": [{"status": "X"}, {"type": "Ready", "status": "Y"}]}});
        assert_eq!(first_text(expr, &partial).as_deref(), Some("Y"));
        // single quotes work too
        assert_eq!(
            first_text(".status.conditions[?(@.type=='Ready')].reason", &pod()).as_deref(),
            Some("Waiting")
        );
        // conditions: null cannot be filtered -> error -> no cell
        let null_conditions = json!({"status": {"conditions": null}});
        assert_eq!(
            parse(expr)
                .unwrap()
                .find_results(&null_conditions)
                .unwrap_err()
                .to_string(),
            "<nil> is not array or slice and cannot be filtered"
        );
    }

    #[test]
    fn filter_operators() {
        let p = pod();
        let names = |e: &str| -> Result<Vec<String>, String> {
            parse(e)
                .unwrap()
                .find_results(&p)
                .map(|r| r[0].iter().map(Item::print).collect())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            names(r#".spec.containers[?(@.name!="c1")].name"#).unwrap(),
            vec!["c2"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort>100)].name").unwrap(),
            vec!["c2"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort<100)].name").unwrap(),
            vec!["c1"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort>=80)].name").unwrap(),
            vec!["c1", "c2"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort<=80)].name").unwrap(),
            vec!["c1"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort==9901)].name").unwrap(),
            vec!["c2"]
        );
        assert_eq!(
            names(r#".spec.containers[?(@.image<"f")].name"#).unwrap(),
            vec!["c2"]
        );
        assert_eq!(
            names(".spec.containers[?(@.ports)].name").unwrap(),
            vec!["c1", "c2"]
        );
        assert_eq!(
            names(".spec.containers[?(@.nope)].name").unwrap(),
            Vec::<String>::new()
        );
        // int vs float, string vs bool, and = are errors in client-go
        assert_eq!(
            names(".spec.containers[?(@.ports[0].containerPort>1.5)].name").unwrap_err(),
            "incompatible types for comparison"
        );
        assert_eq!(
            names(".spec.containers[?(@.name==true)].name").unwrap_err(),
            "incompatible types for comparison"
        );
        assert_eq!(
            names(".spec.containers[?(@.ports==1)].name").unwrap_err(),
            "invalid type for comparison"
        );
        assert_eq!(
            names(r#".spec.containers[?(@.name="c1")].name"#).unwrap_err(),
            "unrecognized filter operator ="
        );
        // bools compare with == only
        let b = json!({"items": [{"ok": true, "n": "a"}, {"ok": false, "n": "b"}]});
        let r = parse(".items[?(@.ok==true)].n")
            .unwrap()
            .first(&b)
            .map(|i| i.print());
        assert_eq!(r.as_deref(), Some("a"));
        assert_eq!(
            parse(".items[?(@.ok<true)].n")
                .unwrap()
                .find_results(&b)
                .unwrap_err()
                .to_string(),
            "invalid type for comparison"
        );
        // floats compare with float literals
        let f = json!({"items": [{"v": 1.5}, {"v": 2.5}]});
        assert_eq!(
            parse(".items[?(@.v>2.0)].v")
                .unwrap()
                .first(&f)
                .map(|i| i.print())
                .as_deref(),
            Some("2.5")
        );
        // negative numbers on the right
        let n = json!({"items": [{"v": -1}, {"v": 1}]});
        assert_eq!(
            parse(".items[?(@.v==-1)].v")
                .unwrap()
                .first(&n)
                .map(|i| i.print())
                .as_deref(),
            Some("-1")
        );
    }

    #[test]
    fn dict_key_and_escapes() {
        let p = pod();
        assert_eq!(
            first_text("['metadata']['name']", &p).as_deref(),
            Some("web-0")
        );
        assert_eq!(
            first_text(".metadata['name']", &p).as_deref(),
            Some("web-0")
        );
        // upstream quirk: the dots inside ['...'] split the key
        assert_eq!(
            first_text(".metadata.labels['kubernetes.io/hostname']", &p),
            None
        );
        assert_eq!(
            first_text(r".metadata.labels['kubernetes\.io/hostname']", &p).as_deref(),
            Some("n1")
        );
        assert_eq!(
            first_text(r".metadata.labels.kubernetes\.io/hostname", &p).as_deref(),
            Some("n1")
        );
        assert_eq!(
            first_text(r".metadata.annotations.a\.b/c", &p).as_deref(),
            Some("dotted")
        );
        let dotted = json!({"a": {"b": {"c": 1}}, "a.b": 2});
        assert_eq!(first_text("['a.b.c']", &dotted).as_deref(), Some("1"));
    }

    #[test]
    fn wildcard_and_recursive() {
        let p = pod();
        let all = |e: &str| -> Vec<String> {
            parse(e).unwrap().find_results(&p).unwrap()[0]
                .iter()
                .map(Item::print)
                .collect()
        };
        assert_eq!(all(".metadata.labels.*"), vec!["web", "n1"]);
        assert_eq!(all("..containerPort"), vec!["80", "9901", "15000"]);
        assert_eq!(all("..image"), vec!["nginx", "envoy"]);
        let d = json!([1, 2, 3]);
        assert_eq!(exec("{..}", &d).unwrap(), "[1,2,3]");
        assert_eq!(exec("{...image}", &p).unwrap(), "nginx envoy");
        let e = parse_template("{....a}").unwrap_err();
        assert_eq!(e.to_string(), "invalid multiple recursive descent");
        // strings are iterated byte by byte by `*`
        assert_eq!(
            exec("{.metadata.name.*}", &json!({"metadata": {"name": "ab"}})).unwrap(),
            "97 98"
        );
    }

    #[test]
    fn templates_and_literals() {
        let p = pod();
        assert_eq!(exec("hello {.metadata.name}!", &p).unwrap(), "hello web-0!");
        assert_eq!(
            exec(r#"{.metadata.name}{"\t"}{.spec.replicas}"#, &p).unwrap(),
            "web-0\t3"
        );
        assert_eq!(exec("{.spec.containers[*].name}", &p).unwrap(), "c1 c2");
        assert_eq!(
            exec("{.spec.containers[0].ports}", &p).unwrap(),
            r#"[{"containerPort":80}]"#
        );
        assert_eq!(exec("plain text", &p).unwrap(), "plain text");
        assert_eq!(exec(r#"{"{"}"#, &p).unwrap(), "{");
        assert_eq!(
            exec("{.nope}", &p).unwrap_err().to_string(),
            "nope is not found"
        );
        assert_eq!(
            parse_template("{.nope}")
                .unwrap()
                .allow_missing_keys(true)
                .execute(&p)
                .unwrap(),
            ""
        );
        assert_eq!(
            exec("{hello}", &p).unwrap_err().to_string(),
            "unrecognized identifier hello"
        );
    }

    #[test]
    fn parse_errors_match_go() {
        let e = |t: &str| parse_template(t).unwrap_err().to_string();
        assert_eq!(e("{.a"), "unclosed action");
        assert_eq!(e("{.a\n}"), "unclosed action");
        assert_eq!(e("{.a[0}"), "unterminated array");
        assert_eq!(e("{.a[?(@.b==1}"), "unterminated filter");
        assert_eq!(e("{.a[?(@.b==1)x}"), "unclosed array expect ]");
        assert_eq!(e("{.a[x]}"), "invalid array index x");
        assert_eq!(e("{.a[1:2:3:4]}"), "invalid array index 1:2:3:4");
        assert_eq!(e("{.a[-]}"), "array index - is not a number");
        assert_eq!(
            e("{.a[99999999999999999999]}"),
            "array index 99999999999999999999 is not a number"
        );
        assert_eq!(e("{#}"), "unrecognized character in action: U+0023 '#'");
        assert_eq!(e("{\t}"), "unrecognized character in action: U+0009");
        assert_eq!(e("{\"abc}"), "unterminated quoted string");
        assert_eq!(
            e(r#"{"\q"}"#),
            r#"unquote string "\q" error invalid syntax"#
        );
        assert_eq!(e("{1.2.3}"), "cannot parse number 1.2.3");
        assert_eq!(e("{+}"), "cannot parse number +");
        // the same errors through the CRD-style entry point
        assert_eq!(parse(".a[").unwrap_err().to_string(), "unterminated array");
        assert!(parse(".status.conditions[?(@.type==\"Ready\")].status").is_ok());
    }

    #[test]
    fn unquote_escapes() {
        let p = json!({});
        assert_eq!(exec(r#"{"a\nb"}"#, &p).unwrap(), "a\nb");
        assert_eq!(exec(r#"{"\u00e9\x41\101"}"#, &p).unwrap(), "éAA");
        assert_eq!(exec(r"{'it\'s'}", &p).unwrap(), "it's");
        assert_eq!(exec(r#"{'say "hi"'}"#, &p).unwrap(), "say \"hi\"");
        assert_eq!(
            parse_template(r#"{"\é"}"#).unwrap_err().to_string(),
            r#"unquote string "\é" error invalid syntax"#
        );
        assert_eq!(
            parse_template(r#"{"\x4"}"#).unwrap_err().to_string(),
            r#"unquote string "\x4" error invalid syntax"#
        );
        assert_eq!(exec(r#"{"é\tü"}"#, &p).unwrap(), "é\tü");
    }

    #[test]
    fn numbers_and_bools() {
        let p = json!({});
        assert_eq!(exec("{5}", &p).unwrap(), "5");
        assert_eq!(exec("{-2.5}", &p).unwrap(), "-2.5");
        assert_eq!(exec("{true}", &p).unwrap(), "true");
        assert_eq!(exec("{99999999999999999999}", &p).unwrap(), "1e+20");
    }

    #[test]
    fn exists_filter_quirk_with_erroring_left_side() {
        // evalArray returns its input along with an out-of-bounds error, so an
        // exists-filter keeps the element (client-go behaviour).
        let d = json!({"items": [{"a": []}, {"b": 1}]});
        let r = parse(".items[?(@.a[0])]")
            .unwrap()
            .find_results(&d)
            .unwrap();
        assert_eq!(r[0].len(), 1);
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
    fn fuzz_parse_and_eval_never_panic() {
        let alphabet = [
            "{", "}", "[", "]", "(", ")", "?", "@", "$", ".", "..", "*", ",", ":", "-", "+", "'",
            "\"", "\\", "=", "!", "<", ">", " ", "\t", "\n", "0", "1", "9", "a", "b", "status",
            "x", "true", "range", "end", "é", "\u{0}", "1.5",
        ];
        let obj = json!({"a": [1, 2.5, "s", null, {"b": true}], "b": {"a": {"a": []}}, "status": "x", "x": null});
        for t in random_strings(0x9e37_79b9_7f4a_7c15, &alphabet, 20_000, 24) {
            if let Ok(p) = parse_template(&t) {
                let _ = p.find_results(&obj);
                let _ = p.clone().allow_missing_keys(true).execute(&obj);
            }
            if let Ok(p) = parse(&t) {
                let _ = p.first(&obj);
                let _ = p.eval(&obj);
            }
        }
    }

    #[test]
    fn no_panics_on_garbage() {
        let obj = pod();
        for t in [
            "{",
            "}",
            "{[",
            "{[?(",
            "{[?(@",
            "{..}",
            "{...}",
            "{.[}",
            "{[']}",
            "{['}",
            "{[\"]}",
            "{[?(\"]",
            "{@[?(@.a=='b)]}",
            "{.a[?(@.x))]}",
            "{.a[,]}",
            "{.a[:,:]}",
            "{.a[' ',' ']}",
            "{é}",
            "{.é}",
            "{٣}",
            "{[-1:-1]}",
            "{.spec.containers[-9:9:9]}",
            "{range .a}{end}",
            "{end}",
            "{[?(@<\"z\")]}",
            "{.spec.containers[?()]}",
            "\u{0}{\u{0}}",
        ] {
            if let Ok(p) = parse_template(t) {
                let _ = p.find_results(&obj);
                let _ = p.clone().allow_missing_keys(true).execute(&obj);
            }
        }
        // deep nesting is rejected, not a stack overflow
        let deep = format!("{}{}", "[?(".repeat(200), ")]".repeat(200));
        assert!(parse(&deep).is_err());
        let mut v = json!(1);
        for _ in 0..300 {
            v = json!([v]);
        }
        let r = parse_template("{..}").unwrap().find_results(&v);
        assert!(r.is_err());
    }
}
