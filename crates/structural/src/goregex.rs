//! Go (RE2) regular expressions on top of the `regex` crate.
//!
//! This module owns the compilation of schema `pattern`s with Go's
//! `regexp` semantics: the Go syntax is translated into an equivalent
//! `regex` pattern (ASCII-only `\d`, `\w`, `\s`, `\b`; literal `[`, `&`, `~`
//! inside classes; literal `{` when not a repetition; `\Q...\E`; octal
//! escapes) and Go's parse errors are reproduced for the common mistakes
//! (`error parsing regexp: missing closing ): ...`). Compiled patterns are
//! kept in a bounded, thread-safe cache. Nothing here panics: a bad pattern
//! is an `Err` carrying Go's error text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};

/// Maximum number of cached compiled patterns; the cache is cleared when full.
const CACHE_LIMIT: usize = 512;

/// Go's maximum repetition count.
const MAX_REPEAT: u32 = 1000;

type CacheEntry = Result<Arc<Regex>, String>;

fn cache() -> &'static Mutex<HashMap<String, CacheEntry>> {
    static CACHE: OnceLock<Mutex<HashMap<String, CacheEntry>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Compiles `pattern` with Go semantics (cached). The error is Go's
/// `regexp.Compile` error text, e.g.
/// ``error parsing regexp: missing closing ): `(a` ``.
pub(crate) fn compile(pattern: &str) -> Result<Arc<Regex>, String> {
    {
        let guard = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = guard.get(pattern) {
            return hit.clone();
        }
    }
    let compiled = compile_uncached(pattern).map(Arc::new);
    let mut guard = cache().lock().unwrap_or_else(|e| e.into_inner());
    if guard.len() >= CACHE_LIMIT {
        guard.clear();
    }
    guard.insert(pattern.to_string(), compiled.clone());
    compiled
}

fn compile_uncached(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern).map_err(|e| e.render())?;
    RegexBuilder::new(&translated)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                GoError::new("expression too large", pattern).render()
            }
            other => {
                let msg = other.to_string();
                let last = msg
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("error:"))
                    .map(|l| l.trim_start_matches("error:").trim().to_string())
                    .unwrap_or(msg);
                format!("error parsing regexp: {last}: `{pattern}`")
            }
        })
}

/// A Go `syntax.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GoError {
    code: &'static str,
    expr: String,
}

impl GoError {
    fn new(code: &'static str, expr: &str) -> Self {
        GoError {
            code,
            expr: expr.to_string(),
        }
    }

    fn render(&self) -> String {
        format!("error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

/// What the last emitted item was, for Go's repetition checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the expression, after `(` or after `|`: nothing to repeat.
    Nothing,
    /// An atom that can be repeated.
    Atom,
    /// A repetition operator (possibly made lazy with `?`).
    Repeat,
}

fn is_go_word_escape_letter(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `\d`, `\s`, `\w` and negations as ASCII class bodies (without brackets).
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some(("\\t\\n\\x0C\\r ", false)),
        'S' => Some(("\\t\\n\\x0C\\r ", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() || c == '_' {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

/// Parses an escape (after the backslash) that denotes a single character:
/// octal, hex, control letters, escaped punctuation. Returns the char and the
/// number of chars consumed after the backslash.
fn parse_char_escape(rest: &[char], whole_escape: &str) -> Result<(char, usize), GoError> {
    let Some(&c) = rest.first() else {
        return Err(GoError::new("trailing backslash at end of expression", ""));
    };
    match c {
        '1'..='7' if !matches!(rest.get(1), Some('0'..='7')) => {
            Err(GoError::new("invalid escape sequence", whole_escape))
        }
        '0'..='7' => {
            let mut n = c.to_digit(8).unwrap_or(0);
            let mut used = 1;
            while used < 3 {
                match rest.get(used).and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        n = n * 8 + d;
                        used += 1;
                    }
                    None => break,
                }
            }
            Ok((char::from_u32(n).unwrap_or('\u{FFFD}'), used))
        }
        'x' => {
            if rest.get(1) == Some(&'{') {
                let mut i = 2;
                let mut n: u32 = 0;
                let mut digits = 0;
                while let Some(d) = rest.get(i).and_then(|d| d.to_digit(16)) {
                    n = n.saturating_mul(16).saturating_add(d);
                    digits += 1;
                    i += 1;
                }
                if digits == 0 || rest.get(i) != Some(&'}') || n > 0x10FFFF {
                    return Err(GoError::new("invalid escape sequence", whole_escape));
                }
                let ch = char::from_u32(n)
                    .ok_or_else(|| GoError::new("invalid escape sequence", whole_escape))?;
                Ok((ch, i + 1))
            } else {
                let hi = rest.get(1).and_then(|d| d.to_digit(16));
                let lo = rest.get(2).and_then(|d| d.to_digit(16));
                match (hi, lo) {
                    (Some(h), Some(l)) => Ok((char::from_u32(h * 16 + l).unwrap_or('\u{FFFD}'), 3)),
                    _ => Err(GoError::new("invalid escape sequence", whole_escape)),
                }
            }
        }
        'a' => Ok(('\u{7}', 1)),
        'f' => Ok(('\u{c}', 1)),
        'n' => Ok(('\n', 1)),
        'r' => Ok(('\r', 1)),
        't' => Ok(('\t', 1)),
        'v' => Ok(('\u{b}', 1)),
        c if c.is_ascii() && !is_go_word_escape_letter(c) => Ok((c, 1)),
        _ => Err(GoError::new("invalid escape sequence", whole_escape)),
    }
}

/// The text of an escape for error messages (`\q`, `\x{zz`...).
fn escape_text(chars: &[char], at: usize) -> String {
    let mut s = String::from("\\");
    if let Some(c) = chars.get(at + 1) {
        s.push(*c);
    }
    s
}

/// Parses a `\p`/`\P` class escape; returns its text and length after the backslash.
fn parse_unicode_class(rest: &[char], whole: &str) -> Result<(String, usize), GoError> {
    // rest[0] is 'p' or 'P'
    match rest.get(1) {
        Some('{') => {
            let mut i = 2;
            while let Some(&c) = rest.get(i) {
                if c == '}' {
                    let text: String = rest[..=i].iter().collect();
                    return Ok((format!("\\{text}"), i + 1));
                }
                i += 1;
            }
            Err(GoError::new("invalid character class range", whole))
        }
        Some(&c) => Ok((format!("\\{}{}", rest[0], c), 2)),
        None => Err(GoError::new("invalid character class range", whole)),
    }
}

/// Translates a Go regexp into an equivalent `regex` crate pattern.
fn translate(pattern: &str) -> Result<String, GoError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    let mut depth: usize = 0;
    let mut last = Last::Nothing;
    // Start of the last repetition operator (Go reports nested repetitions
    // from there).
    let mut last_repeat_start = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let (used, atom) = translate_backslash(&chars, i, &mut out)?;
                if atom {
                    last = Last::Atom;
                }
                i += used;
            }
            '[' => {
                let (class, used) = translate_class(&chars[i..], pattern, i)?;
                out.push_str(&class);
                last = Last::Atom;
                i += used;
            }
            '(' | ')' | '|' => {
                let (used, after) = translate_grouping(&chars[i..], pattern, &mut depth, &mut out)?;
                last = after;
                i += used;
            }
            '*' | '+' | '?' | '{' => match repeat_op(&chars, i)? {
                Some((op, end)) => {
                    check_repeat_operand(last, &op, &chars, last_repeat_start, end)?;
                    out.push_str(&op);
                    last = Last::Repeat;
                    last_repeat_start = i;
                    i += op.chars().count();
                }
                None => {
                    out.push_str("\\{");
                    last = Last::Atom;
                    i += 1;
                }
            },
            other => {
                push_atom(&mut out, other);
                last = Last::Atom;
                i += 1;
            }
        }
    }
    if depth > 0 {
        return Err(GoError::new("missing closing )", pattern));
    }
    Ok(out)
}

/// Translates the escape at `chars[i] == '\\'`; returns the chars consumed
/// and whether an atom was emitted (an empty `\Q\E` emits none).
fn translate_backslash(
    chars: &[char],
    i: usize,
    out: &mut String,
) -> Result<(usize, bool), GoError> {
    if chars.get(i + 1) == Some(&'Q') {
        let (end, emitted) = translate_quoted(chars, i + 2, out);
        Ok((end - i, emitted))
    } else {
        Ok((translate_escape(chars, i, out)?, true))
    }
}

/// Emits a one-char atom: `}` escaped, `^`, `$` and `.` as they are, any
/// other char as a literal.
fn push_atom(out: &mut String, c: char) {
    match c {
        '}' => out.push_str("\\}"),
        '^' | '$' | '.' => out.push(c),
        other => push_literal(out, other),
    }
}

/// The repetition operator at `chars[i]` (`*`, `+`, `?` or a valid `{n,m}`,
/// each maybe lazy) and the end of the text Go reports if it is nested;
/// `None` if a `{` starts no repetition.
fn repeat_op(chars: &[char], i: usize) -> Result<Option<(String, usize)>, GoError> {
    if chars[i] != '{' {
        let mut op = chars[i].to_string();
        if chars.get(i + 1) == Some(&'?') {
            op.push('?');
        }
        return Ok(Some((op, (i + 1).min(chars.len()))));
    }
    match parse_repeat(&chars[i..]) {
        Some((min, max, used)) => {
            let op = counted_repeat_op(chars, i, min, max, used)?;
            Ok(Some((op, (i + used).min(chars.len()))))
        }
        None => Ok(None),
    }
}

/// Emits the literal text of `\Q...\E` starting after `\Q` at `chars[start]`;
/// returns the index after it and whether any character was emitted.
fn translate_quoted(chars: &[char], start: usize, out: &mut String) -> (usize, bool) {
    let mut j = start;
    let mut lit = String::new();
    while j < chars.len() {
        if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
            j += 2;
            break;
        }
        if chars[j] == '\\' && chars.get(j + 1) == Some(&'\\') {
            lit.push('\\');
            j += 2;
            continue;
        }
        lit.push(chars[j]);
        j += 1;
    }
    for ch in lit.chars() {
        push_literal(out, ch);
    }
    (j, !lit.is_empty())
}

/// Translates the escape (other than `\Q`) at `chars[i] == '\\'` into one
/// atom; returns the chars consumed, backslash included.
fn translate_escape(chars: &[char], i: usize, out: &mut String) -> Result<usize, GoError> {
    let Some(next) = chars.get(i + 1).copied() else {
        return Err(GoError::new("trailing backslash at end of expression", ""));
    };
    let fixed = match next {
        'A' => Some("\\A"),
        'z' => Some("\\z"),
        'b' => Some("(?-u:\\b)"),
        'B' => Some("(?-u:\\B)"),
        'C' => Some("(?s:.)"),
        _ => None,
    };
    if let Some(text) = fixed {
        out.push_str(text);
        return Ok(2);
    }
    if next == 'p' || next == 'P' {
        let whole = escape_text(chars, i);
        let (text, used) = parse_unicode_class(&chars[i + 1..], &whole)?;
        out.push_str(&text);
        return Ok(1 + used);
    }
    if let Some((body, neg)) = perl_class(next) {
        out.push('[');
        if neg {
            out.push('^');
        }
        out.push_str(body);
        out.push(']');
        return Ok(2);
    }
    let whole = escape_text(chars, i);
    let (ch, used) = parse_char_escape(&chars[i + 1..], &whole)?;
    push_literal(out, ch);
    Ok(1 + used)
}

/// Translates the `(`, `)` or `|` at `chars[0]`, tracking the group
/// `depth`; returns the chars consumed and what it leaves to repeat.
fn translate_grouping(
    chars: &[char],
    pattern: &str,
    depth: &mut usize,
    out: &mut String,
) -> Result<(usize, Last), GoError> {
    match chars.first() {
        Some('(') => {
            let (used, opened) = translate_group_open(chars, out)?;
            if opened {
                *depth += 1;
            }
            Ok((used, Last::Nothing))
        }
        Some(')') => {
            if *depth == 0 {
                return Err(GoError::new("unexpected )", pattern));
            }
            *depth -= 1;
            out.push(')');
            Ok((1, Last::Atom))
        }
        _ => {
            out.push('|');
            Ok((1, Last::Nothing))
        }
    }
}

/// Translates the `(` or `(?...` at `chars[0]`; returns the chars consumed
/// and whether a group was opened (`(?flags)` alone opens none).
fn translate_group_open(chars: &[char], out: &mut String) -> Result<(usize, bool), GoError> {
    if chars.get(1) == Some(&'?') {
        let used = translate_group_flags(chars, out)?;
        Ok((used, chars.get(used - 1) != Some(&')')))
    } else {
        out.push('(');
        Ok((1, true))
    }
}

/// The text of the counted repetition `{n,m}` (plus a lazy `?`) at
/// `chars[i]`, after Go's check of the counts.
fn counted_repeat_op(
    chars: &[char],
    i: usize,
    min: u32,
    max: Option<u32>,
    used: usize,
) -> Result<String, GoError> {
    let mut op: String = chars[i..i + used].iter().collect();
    let lazy = chars.get(i + used) == Some(&'?');
    if lazy {
        op.push('?');
    }
    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
        let text: String = chars[i..i + used].iter().collect();
        return Err(GoError::new("invalid repeat count", &text));
    }
    Ok(op)
}

/// Go's checks that the repetition `op` has something to repeat and does
/// not repeat a repetition (reported from `last_repeat_start` to `end`).
fn check_repeat_operand(
    last: Last,
    op: &str,
    chars: &[char],
    last_repeat_start: usize,
    end: usize,
) -> Result<(), GoError> {
    match last {
        Last::Nothing => Err(GoError::new("missing argument to repetition operator", op)),
        Last::Repeat => {
            let prev: String = chars[last_repeat_start.min(end)..end].iter().collect();
            Err(GoError::new("invalid nested repetition operator", &prev))
        }
        Last::Atom => Ok(()),
    }
}

/// Parses `{n}`, `{n,}` or `{n,m}`; `None` if the text is not a repetition
/// (Go then treats `{` as a literal).
fn parse_repeat(chars: &[char]) -> Option<(u32, Option<u32>, usize)> {
    let mut i = 1;
    let start = i;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    if i == start {
        return None;
    }
    let min: u32 = chars[start..i]
        .iter()
        .collect::<String>()
        .parse()
        .unwrap_or(u32::MAX);
    match chars.get(i) {
        Some('}') => Some((min, Some(min), i + 1)),
        Some(',') => {
            i += 1;
            let mstart = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            if chars.get(i) != Some(&'}') {
                return None;
            }
            if i == mstart {
                Some((min, None, i + 1))
            } else {
                let max: u32 = chars[mstart..i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(u32::MAX);
                Some((min, Some(max), i + 1))
            }
        }
        _ => None,
    }
}

/// Translates `(?...` (flags, named groups); returns the chars consumed.
fn translate_group_flags(chars: &[char], out: &mut String) -> Result<usize, GoError> {
    // chars[0] == '(' and chars[1] == '?'
    let rest: String = chars.iter().collect();
    if rest.starts_with("(?P<") || rest.starts_with("(?<") {
        let start = if rest.starts_with("(?P<") { 4 } else { 3 };
        let mut i = start;
        while let Some(&c) = chars.get(i) {
            if c == '>' {
                break;
            }
            i += 1;
        }
        if chars.get(i) != Some(&'>') {
            let text: String = chars.iter().collect();
            return Err(GoError::new("invalid named capture", &text));
        }
        let name: String = chars[start..i].iter().collect();
        let valid = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid {
            let text: String = chars[..=i].iter().collect();
            return Err(GoError::new("invalid named capture", &text));
        }
        out.push_str(&format!("(?P<{name}>"));
        return Ok(i + 1);
    }
    // Flags: (?flags) or (?flags:
    let mut i = 2;
    let mut seen_minus = false;
    let mut any = false;
    loop {
        match chars.get(i) {
            Some('i' | 'm' | 's' | 'U') => {
                any = true;
                i += 1;
            }
            Some('-') if !seen_minus => {
                seen_minus = true;
                any = false;
                i += 1;
            }
            Some(':') | Some(')') => {
                if seen_minus && !any {
                    let text: String = chars[..=i].iter().collect();
                    return Err(GoError::new("invalid or unsupported Perl syntax", &text));
                }
                let text: String = chars[..=i].iter().collect();
                out.push_str(&text);
                return Ok(i + 1);
            }
            _ => {
                let end = (i + 1).min(chars.len());
                let text: String = chars[..end].iter().collect();
                return Err(GoError::new("invalid or unsupported Perl syntax", &text));
            }
        }
    }
}

/// Translates a character class starting at `chars[0] == '['`, with Go's
/// rules; returns the `regex` class and the chars consumed.
fn translate_class(chars: &[char], pattern: &str, at: usize) -> Result<(String, usize), GoError> {
    let whole_class = || -> String { pattern.chars().skip(at).collect() };
    let mut out = String::from("[");
    let mut i = 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(GoError::new("missing closing ]", &whole_class()));
        };
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        // POSIX class [:name:]
        if c == '['
            && chars.get(i + 1) == Some(&':')
            && let Some(next) = translate_posix_class(chars, i, &mut out)?
        {
            i = next;
            continue;
        }
        // \p, \d ... inside a class
        if c == '\\'
            && let Some(used) = translate_class_escape(chars, i, &mut out)?
        {
            i += used;
            continue;
        }
        i += translate_class_range(chars, i, &mut out)?;
    }
    out.push(']');
    Ok((out, i))
}

/// Translates the POSIX class `[:name:]` at `chars[i]`; returns the index
/// after it, or `None` if no `:]` closes it.
fn translate_posix_class(
    chars: &[char],
    i: usize,
    out: &mut String,
) -> Result<Option<usize>, GoError> {
    let mut j = i + 2;
    while j + 1 < chars.len() && !(chars[j] == ':' && chars[j + 1] == ']') {
        j += 1;
    }
    if j + 1 >= chars.len() {
        return Ok(None);
    }
    let name: String = chars[i + 2..j].iter().collect();
    let bare = name.trim_start_matches('^');
    const POSIX: &[&str] = &[
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    if POSIX.contains(&bare) {
        out.push_str(&format!("[:{name}:]"));
        return Ok(Some(j + 2));
    }
    let text: String = chars[i..j + 2].iter().collect();
    Err(GoError::new("invalid character class range", &text))
}

/// Translates a `\p` or Perl class escape inside a class at
/// `chars[i] == '\\'`; returns the chars consumed, or `None` for any other
/// escape.
fn translate_class_escape(
    chars: &[char],
    i: usize,
    out: &mut String,
) -> Result<Option<usize>, GoError> {
    match chars.get(i + 1) {
        Some('p') | Some('P') => {
            let whole = escape_text(chars, i);
            let (text, used) = parse_unicode_class(&chars[i + 1..], &whole)?;
            out.push_str(&text);
            Ok(Some(1 + used))
        }
        Some(&k) => match perl_class(k) {
            Some((body, neg)) => {
                if neg {
                    out.push_str(&format!("[^{body}]"));
                } else {
                    out.push_str(body);
                }
                Ok(Some(2))
            }
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// Translates one class character or range `lo-hi` at `chars[i]`; returns
/// the chars consumed.
fn translate_class_range(chars: &[char], i: usize, out: &mut String) -> Result<usize, GoError> {
    let range_start = i;
    let mut i = i;
    let (lo, used) = class_char(chars, i)?;
    i += used;
    let mut hi = lo;
    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
        let (h, used2) = class_char(chars, i + 1)?;
        i += 1 + used2;
        hi = h;
        if hi < lo {
            let text: String = chars[range_start..i].iter().collect();
            return Err(GoError::new("invalid character class range", &text));
        }
    }
    push_literal(out, lo);
    if hi != lo {
        out.push('-');
        push_literal(out, hi);
    }
    Ok(i - range_start)
}

/// One class character (possibly escaped) at `chars[i]`.
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), GoError> {
    match chars.get(i) {
        None => Err(GoError::new("missing closing ]", "")),
        Some('\\') => {
            let whole = escape_text(chars, i);
            let (c, used) = parse_char_escape(&chars[i + 1..], &whole)?;
            Ok((c, used + 1))
        }
        Some(&c) => Ok((c, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).map(|r| r.is_match(s)).unwrap_or(false)
    }

    #[test]
    fn ascii_perl_classes() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d+$", "١٢٣"));
        assert!(m(r"^\w+$", "a_1"));
        assert!(!m(r"^\w+$", "é"));
        assert!(m(r"^[\d.]+$", "1.2"));
        assert!(m(r"^[^\s]+$", "abc"));
        assert!(m(r"a\b", "a b"));
    }

    #[test]
    fn go_literal_quirks() {
        assert!(m(r"^a{,5}$", "a{,5}"));
        assert!(m(r"^[[]$", "["));
        assert!(m(r"^[a&&b]$", "&"));
        assert!(m(r"^[]a]$", "]"));
        assert!(m(r"^\Qa.b\E$", "a.b"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert!(m(r"^\101$", "A"));
        assert!(m(r"^\-\#\~$", "-#~"));
        assert!(m(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", "2160h"));
        assert!(m(r"(?i)^abc$", "ABC"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
    }

    #[test]
    fn go_errors() {
        assert_eq!(
            compile("(abc").err().unwrap(),
            "error parsing regexp: missing closing ): `(abc`"
        );
        assert_eq!(
            compile("abc)").err().unwrap(),
            "error parsing regexp: unexpected ): `abc)`"
        );
        assert_eq!(
            compile("[abc").err().unwrap(),
            "error parsing regexp: missing closing ]: `[abc`"
        );
        assert_eq!(
            compile("*a").err().unwrap(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            compile("a**").err().unwrap(),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            compile(r"\q").err().unwrap(),
            "error parsing regexp: invalid escape sequence: `\\q`"
        );
        assert_eq!(
            compile("[z-a]").err().unwrap(),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert_eq!(
            compile("a{1001}").err().unwrap(),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            compile("(?=a)").err().unwrap(),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
        );
        assert_eq!(
            compile("a\\").err().unwrap(),
            "error parsing regexp: trailing backslash at end of expression: ``"
        );
        assert_eq!(
            compile("a*?*").err().unwrap(),
            "error parsing regexp: invalid nested repetition operator: `*?*`"
        );
        assert_eq!(
            compile("a{2}{3}").err().unwrap(),
            "error parsing regexp: invalid nested repetition operator: `{2}{3}`"
        );
        assert_eq!(
            compile("a|*b").err().unwrap(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert!(compile("a*?").is_ok());
        assert!(compile("(?P<n>a)(?<m>b)").is_ok());
    }
}
