//! What a parsed YAML body cannot show: the keys a mapping gives twice, each
//! with its path and the line of the repeated key, as Go's yaml reports them
//! (`line 7: key "paused" already set in map`) when kube-apiserver decodes a
//! YAML body strictly. JSON bodies are scanned by [`super::scan`].

use std::collections::HashSet;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::scan::Problem;

/// The keys `body` repeats, in document order (of its first document). A
/// body that is not YAML yields what was found before the point it stops
/// parsing.
pub(crate) fn duplicates(body: &[u8]) -> Vec<Problem> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let mut finder = Finder::default();
    let _ = Parser::new_from_str(text).load(&mut finder, false);
    finder.out
}

/// Whether `body` is JSON rather than block YAML (JSON is YAML too, but is
/// scanned as JSON, which knows more).
pub(crate) fn is_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// An open mapping or sequence.
enum Frame {
    Map {
        path: String,
        keys: HashSet<String>,
        /// The key whose value comes next (`None`: a key comes next).
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Finder {
    stack: Vec<Frame>,
    out: Vec<Problem>,
}

impl Finder {
    /// The path of the value that starts now.
    fn child_path(&self) -> String {
        match self.stack.last() {
            Some(Frame::Map {
                path, key: Some(k), ..
            }) if path.is_empty() => k.clone(),
            Some(Frame::Map {
                path, key: Some(k), ..
            }) => format!("{path}.{k}"),
            Some(Frame::Seq { path, index }) => format!("{path}[{index}]"),
            _ => String::new(),
        }
    }

    /// A value ended: its mapping waits for the next key, its sequence moves on.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    /// A scalar (or alias) where a key is expected: remembered, and reported
    /// when the mapping has it already. Returns false when a value was expected.
    fn key(&mut self, value: &str, mark: Marker) -> bool {
        let Some(Frame::Map { path, keys, key }) = self.stack.last_mut() else {
            return false;
        };
        if key.is_some() {
            return false;
        }
        if !keys.insert(value.to_owned()) {
            let path = match path.is_empty() {
                true => value.to_owned(),
                false => format!("{path}.{value}"),
            };
            self.out.push(Problem::Duplicate {
                path,
                line: mark.line(),
            });
        }
        *key = Some(value.to_owned());
        true
    }
}

impl MarkedEventReceiver for Finder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) if !self.key(&value, mark) => self.value_done(),
            Event::Alias(_) if !self.key("*", mark) => self.value_done(),
            Event::MappingStart(..) => {
                let path = self.child_path();
                self.stack.push(Frame::Map {
                    path,
                    keys: HashSet::new(),
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.child_path();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(body: &str) -> Vec<(String, usize)> {
        duplicates(body.as_bytes())
            .into_iter()
            .map(|p| match p {
                Problem::Duplicate { path, line } => (path, line),
                Problem::Unknown(p) => (format!("unknown {p}"), 0),
            })
            .collect()
    }

    #[test]
    fn repeated_keys_are_found_with_the_line_of_the_repetition() {
        let body = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
spec:
  paused: false
  paused: true
  template:
    spec:
      containers:
      - name: one
        image: x
        image: y
      - name: two
        name: three
data: {a: 1, b: 2, a: 3}
";
        assert_eq!(
            found(body),
            [
                ("spec.paused".to_owned(), 7),
                ("spec.template.spec.containers[0].image".to_owned(), 13),
                ("spec.template.spec.containers[1].name".to_owned(), 15),
                ("data.a".to_owned(), 16),
            ]
        );
    }

    #[test]
    fn the_same_key_in_different_mappings_is_no_repetition() {
        let body = "a:\n  x: 1\nb:\n  x: 2\nlist:\n- x: 1\n- x: 2\n";
        assert!(found(body).is_empty(), "{:?}", found(body));
        assert!(found("not: [valid").is_empty());
        assert!(is_json(b"  {\"a\": 1}") && !is_json(b"a: 1"));
    }
}
