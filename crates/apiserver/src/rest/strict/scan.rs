//! What a parsed `Value` cannot show: the fields a JSON body gives twice, in
//! document order, each with its path (`spec.template.spec.containers[0].image`)
//! and line. Merged with the unknown fields found by the schema, so problems
//! are reported in the order kube-apiserver's single decoding pass reports them.

use std::collections::HashSet;

/// A field strict decoding reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Not in the schema (reported once, its subtree skipped).
    Unknown(String),
    /// Given again in the same object, at this line of the body.
    Duplicate { path: String, line: usize },
}

impl Problem {
    /// The message kube-apiserver gives: `unknown field "spec.foo"`,
    /// `duplicate field "spec.paused"`.
    pub(crate) fn message(&self) -> String {
        match self {
            Problem::Unknown(p) => format!("unknown field \"{p}\""),
            Problem::Duplicate { path, .. } => format!("duplicate field \"{path}\""),
        }
    }
}

/// Deeper bodies are not scanned (serde_json refuses them anyway).
const MAX_DEPTH: usize = 128;

/// The problems of `body` in document order: fields in `unknown` (by path),
/// and fields given twice that are not unknown. A body that is not JSON
/// yields what was found before the point it stops parsing.
pub(crate) fn scan(body: &[u8], unknown: &HashSet<String>) -> Vec<Problem> {
    let mut s = Scanner {
        b: body,
        i: 0,
        unknown,
        out: Vec::new(),
        reported: HashSet::new(),
        muted: false,
    };
    let _ = s.value("", 0);
    s.out
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    unknown: &'a HashSet<String>,
    out: Vec<Problem>,
    /// Messages already reported: each once, as kube-apiserver dedupes them.
    reported: HashSet<String>,
    /// Inside an unknown field: a typed decoder skips it whole.
    muted: bool,
}

impl Scanner<'_> {
    fn peek(&mut self) -> Option<u8> {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    fn value(&mut self, path: &str, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(path, depth),
            b'[' => self.array(path, depth),
            b'"' => self.string().map(|_| ()),
            _ => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    fn object(&mut self, path: &str, depth: usize) -> Option<()> {
        self.i += 1;
        let mut seen = HashSet::new();
        loop {
            match self.peek()? {
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                b',' => self.i += 1,
                _ => {}
            }
            self.peek()?;
            let at = self.i;
            let key = self.string()?;
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if self.unknown.contains(&field) {
                self.report(Problem::Unknown(field.clone()));
                let outer = std::mem::replace(&mut self.muted, true);
                self.value(&field, depth + 1)?;
                self.muted = outer;
                continue;
            }
            if !seen.insert(key) {
                let line = self.b[..at].iter().filter(|c| **c == b'\n').count() + 1;
                self.report(Problem::Duplicate {
                    path: field.clone(),
                    line,
                });
            }
            self.value(&field, depth + 1)?;
        }
    }

    fn array(&mut self, path: &str, depth: usize) -> Option<()> {
        self.i += 1;
        let mut index = 0;
        loop {
            match self.peek()? {
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                b',' => self.i += 1,
                _ => {}
            }
            if self.peek()? == b']' {
                continue;
            }
            self.value(&format!("{path}[{index}]"), depth + 1)?;
            index += 1;
        }
    }

    /// A string at the cursor, unescaped.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        if self.b.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match *self.b.get(i)? {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        self.i = i + 1;
        let raw = &self.b[start..=i];
        if escaped {
            serde_json::from_slice(raw).ok()
        } else {
            std::str::from_utf8(&raw[1..raw.len() - 1])
                .ok()
                .map(str::to_owned)
        }
    }

    fn report(&mut self, p: Problem) {
        if !self.muted && self.reported.insert(p.message()) {
            self.out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(body: &str, unknown: &[&str]) -> Vec<String> {
        let unknown = unknown.iter().map(|s| s.to_string()).collect();
        scan(body.as_bytes(), &unknown)
            .iter()
            .map(Problem::message)
            .collect()
    }

    #[test]
    fn duplicates_and_unknowns_in_document_order_each_once() {
        let body = r#"{
            "metadata": {"name": "a", "name": "b", "unknownMeta": 1},
            "spec": {"unknownDupe": 1, "unknownDupe": {"x": 1, "x": 2}, "paused": true, "paused": false,
                     "containers": [{"name": "c"}, {"image": "i", "image": "j", "nested\"q": 1, "nested\"q": 2}]}
        }"#;
        assert_eq!(
            messages(body, &["metadata.unknownMeta", "spec.unknownDupe"]),
            [
                r#"duplicate field "metadata.name""#,
                r#"unknown field "metadata.unknownMeta""#,
                r#"unknown field "spec.unknownDupe""#,
                r#"duplicate field "spec.paused""#,
                r#"duplicate field "spec.containers[1].image""#,
                r#"duplicate field "spec.containers[1].nested"q""#,
            ]
        );
    }

    #[test]
    fn lines_are_those_of_the_repeated_key() {
        let body = "{\n\"a\": 1,\n\"a\": 2\n}";
        assert_eq!(
            scan(body.as_bytes(), &HashSet::new()),
            [Problem::Duplicate {
                path: "a".into(),
                line: 3
            }]
        );
    }

    #[test]
    fn a_top_level_array_indexes_from_the_root() {
        let body = r#"[{"op": "add"}, {"path": "/a", "path": "/b"}]"#;
        assert_eq!(messages(body, &[]), [r#"duplicate field "[1].path""#]);
    }

    #[test]
    fn malformed_bodies_end_the_scan_without_panicking() {
        for body in [
            "{",
            r#"{"a": 1, "a"#,
            "[1, ",
            r#"{"a": "unterminated"#,
            "\"\\",
        ] {
            let _ = messages(body, &[]);
        }
    }
}
