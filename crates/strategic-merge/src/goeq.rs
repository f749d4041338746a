//! Go's `==` on two `interface{}` values and their use as map keys, as
//! `strategicpatch` relies on them: equal uncomparable values (maps, slices)
//! and unhashable keys make Go panic, which kube-apiserver reports as an
//! error.

use operatorkit_gofmt::{GO_MAP, GO_SLICE, GoNumber, go_number, go_type};
use serde_json::Value;

use super::error::Error;

/// Go's `a == b` on two `interface{}` values: different dynamic types are unequal, equal
/// uncomparable types (maps, slices) panic.
pub(crate) fn go_eq(a: &Value, b: &Value) -> Result<bool, Error> {
    let (ta, tb) = (go_type(a), go_type(b));
    if ta != tb {
        return Ok(false);
    }
    match (a, b) {
        (Value::Object(_), _) => Err(Error::panic(format!(
            "runtime error: comparing uncomparable type {GO_MAP}"
        ))),
        (Value::Array(_), _) => Err(Error::panic(format!(
            "runtime error: comparing uncomparable type {GO_SLICE}"
        ))),
        (Value::Null, Value::Null) => Ok(true),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Number(x), Value::Number(y)) => Ok(match (go_number(x), go_number(y)) {
            (GoNumber::Int(p), GoNumber::Int(q)) => p == q,
            (GoNumber::Float(p), GoNumber::Float(q)) => p == q,
            _ => false,
        }),
        _ => Ok(false),
    }
}

/// A value usable as a Go map key (`map[interface{}]...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HashKey {
    /// nil
    Nil,
    /// bool
    Bool(bool),
    /// string
    Str(String),
    /// int64
    Int(i64),
    /// float64 bits (with -0 folded into +0, as Go's map does)
    Float(u64),
}

/// The Go map key for `v`; maps and slices are unhashable and make Go panic.
pub(crate) fn hash_key(v: &Value) -> Result<HashKey, Error> {
    Ok(match v {
        Value::Null => HashKey::Nil,
        Value::Bool(b) => HashKey::Bool(*b),
        Value::String(s) => HashKey::Str(s.clone()),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => HashKey::Int(i),
            GoNumber::Float(f) => HashKey::Float(if f == 0.0 { 0 } else { f.to_bits() }),
        },
        Value::Object(_) => {
            return Err(Error::panic(format!(
                "runtime error: hash of unhashable type {GO_MAP}"
            )));
        }
        Value::Array(_) => {
            return Err(Error::panic(format!(
                "runtime error: hash of unhashable type {GO_SLICE}"
            )));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_and_hashing_like_go() {
        assert!(go_eq(&json!(1), &json!(1)).unwrap());
        assert!(!go_eq(&json!(1), &json!(1.0)).unwrap());
        assert!(!go_eq(&json!(1), &json!("1")).unwrap());
        assert!(!go_eq(&json!({}), &json!([])).unwrap());
        assert!(go_eq(&json!({}), &json!({})).unwrap_err().is_panic());
        assert!(go_eq(&json!([]), &json!([1])).unwrap_err().is_panic());
        assert!(hash_key(&json!({"a": 1})).unwrap_err().is_panic());
        assert_eq!(
            hash_key(&json!(0.0)).unwrap(),
            hash_key(&json!(-0.0)).unwrap()
        );
    }
}
