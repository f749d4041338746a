//! Base64 decoded as Go's `encoding/base64.StdEncoding` decodes the `[]byte`
//! fields of Kubernetes objects (Secret `data`, ConfigMap `binaryData`): line
//! breaks are skipped, padding is required, unused trailing bits are ignored,
//! and an error names the offending input byte as Go's `CorruptInputError`
//! does (`illegal base64 data at input byte N`).

use base64::Engine as _;

/// Decodes `s`; the error is the offset Go reports.
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, usize> {
    let src = s.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let (quantum, len, next) = quantum(src, si)?;
        let bits = quantum
            .iter()
            .fold(0u32, |acc, sextet| (acc << 6) | u32::from(*sextet));
        // bits holds 24 bits: three bytes for four characters, two for
        // three, one for two.
        let n = len.saturating_sub(1);
        out.extend_from_slice(&bits.to_be_bytes()[1..1 + n]);
        si = next;
        if len < 4 || si >= src.len() {
            return Ok(out);
        }
    }
}

/// `value` re-encoded canonically (as Kubernetes returns `[]byte` fields), or
/// the offset of Go's decoding error.
pub(crate) fn canonical(value: &str) -> Result<String, usize> {
    decode(value).map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Go's message for a decoding error at `offset`.
pub(crate) fn error_message(offset: usize) -> String {
    format!("illegal base64 data at input byte {offset}")
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn is_newline(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// One quantum from `si`: its sextets, how many characters it had (4, or 2-3
/// before padding; 0 at the end), and where the next starts.
fn quantum(src: &[u8], mut si: usize) -> Result<([u8; 4], usize, usize), usize> {
    let mut buf = [0u8; 4];
    let mut j = 0;
    while j < 4 {
        let Some(&c) = src.get(si) else {
            return match j {
                0 => Ok((buf, 0, si)),
                _ => Err(si - j),
            };
        };
        si += 1;
        if let Some(v) = sextet(c) {
            buf[j] = v;
            j += 1;
            continue;
        }
        if is_newline(c) {
            continue;
        }
        if c != b'=' || j < 2 {
            return Err(si - 1);
        }
        if j == 2 {
            // "==" is expected; the first "=" is consumed.
            while src.get(si).copied().is_some_and(is_newline) {
                si += 1;
            }
            match src.get(si) {
                None => return Err(src.len()),
                Some(b'=') => si += 1,
                Some(_) => return Err(si - 1),
            }
        }
        while src.get(si).copied().is_some_and(is_newline) {
            si += 1;
        }
        if si < src.len() {
            return Err(si);
        }
        return Ok((buf, j, si));
    }
    Ok((buf, 4, si))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_go_does() {
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(decode("aGk=").unwrap(), b"hi");
        assert_eq!(decode("aA==").unwrap(), b"h");
        // Line breaks are skipped; unused trailing bits are ignored.
        assert_eq!(decode("aGVs\nbG8=\r\n").unwrap(), b"hello");
        assert_eq!(decode("aB==").unwrap(), b"h");
        assert_eq!(canonical("aGVs\nbG8=").unwrap(), "aGVsbG8=");
    }

    #[test]
    fn errors_name_the_byte_go_names() {
        // Offsets as Go's decodeQuantum computes them (CorruptInputError).
        assert_eq!(decode("not base64!"), Err(3));
        assert_eq!(decode("aGVsbG8"), Err(4));
        assert_eq!(decode("a"), Err(0));
        assert_eq!(decode("aGk"), Err(0));
        assert_eq!(decode("aGVsbG8=x"), Err(8));
        assert_eq!(decode("aA="), Err(3));
        assert_eq!(decode("a==="), Err(1));
        assert_eq!(decode("aA=x"), Err(2));
        assert_eq!(error_message(3), "illegal base64 data at input byte 3");
    }
}
