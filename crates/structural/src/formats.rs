//! String formats Kubernetes validates in CRDs.
//!
//! This module owns the checks of kube-openapi's `strfmt.Default` registry
//! for the formats apiextensions-apiserver keeps (`bsonobjectid`, `uri`,
//! `email`, `hostname`, `ipv4`, `ipv6`, `cidr`, `mac`, `uuid`, `uuid3`,
//! `uuid4`, `uuid5`, `isbn`, `isbn10`, `isbn13`, `creditcard`, `ssn`,
//! `hexcolor`, `rgbcolor`, `byte`, `password`, `date`, `duration`,
//! `datetime`). Each check is a port of the Go function behind it
//! (`netutils.ParseIPSloppy`, `net.ParseMAC`, `url.ParseRequestURI`,
//! `mail.ParseAddress`, the forked govalidator checks, `time.Parse`, ...).

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use regex::Regex;

/// Whether `value` is valid for the (supported, dash-normalised) `format`.
/// Unknown formats are valid.
pub(crate) fn validates(format: &str, value: &str) -> bool {
    match format.replace('-', "").as_str() {
        "bsonobjectid" => is_bson_object_id(value),
        "uri" => is_request_uri(value),
        "email" => is_email(value),
        "hostname" => is_hostname(value),
        "ipv4" => is_ipv4(value),
        "ipv6" => is_ipv6(value),
        "cidr" => parse_cidr_sloppy(value).is_some(),
        "mac" => parse_mac(value),
        "uuid" => re_match(&UUID, UUID_PATTERN, value),
        "uuid3" => re_match(&UUID3, UUID3_PATTERN, value),
        "uuid4" => re_match(&UUID4, UUID4_PATTERN, value),
        "uuid5" => re_match(&UUID5, UUID5_PATTERN, value),
        "isbn" => is_isbn10(value) || is_isbn13(value),
        "isbn10" => is_isbn10(value),
        "isbn13" => is_isbn13(value),
        "creditcard" => is_credit_card(value),
        "ssn" => value.len() == 11 && re_match(&SSN, SSN_PATTERN, value),
        "hexcolor" => re_match(&HEXCOLOR, HEXCOLOR_PATTERN, value),
        "rgbcolor" => re_match(&RGBCOLOR, RGBCOLOR_PATTERN, value),
        "byte" => re_match(&BASE64, BASE64_PATTERN, value),
        "password" => true,
        "date" => is_date(value),
        "duration" => is_duration(value),
        "datetime" => is_date_time(value),
        _ => true,
    }
}

static UUID: OnceLock<Option<Regex>> = OnceLock::new();
static UUID3: OnceLock<Option<Regex>> = OnceLock::new();
static UUID4: OnceLock<Option<Regex>> = OnceLock::new();
static UUID5: OnceLock<Option<Regex>> = OnceLock::new();
static SSN: OnceLock<Option<Regex>> = OnceLock::new();
static HEXCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static RGBCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static BASE64: OnceLock<Option<Regex>> = OnceLock::new();
static HOSTNAME: OnceLock<Option<Regex>> = OnceLock::new();
static CREDITCARD: OnceLock<Option<Regex>> = OnceLock::new();
static DATETIME: OnceLock<Option<Regex>> = OnceLock::new();

const UUID_PATTERN: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$";
const UUID3_PATTERN: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$";
const UUID4_PATTERN: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$";
const UUID5_PATTERN: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$";
const SSN_PATTERN: &str = r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$";
const HEXCOLOR_PATTERN: &str = r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$";
const RGBCOLOR_PATTERN: &str = r"^rgb\([\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*,[\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*,[\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*\)$";
const BASE64_PATTERN: &str =
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$";
const HOSTNAME_PATTERN: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
const CREDITCARD_PATTERN: &str = r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$";
const DATETIME_PATTERN: &str =
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$";

fn regex_of(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn re_match(cell: &'static OnceLock<Option<Regex>>, pattern: &str, value: &str) -> bool {
    regex_of(cell, pattern).is_some_and(|r| r.is_match(value))
}

fn is_bson_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `dtoi` of Go's net package: decimal prefix; fails on no digits or overflow.
fn dtoi(s: &[u8]) -> Option<(u32, usize)> {
    const BIG: u32 = 0xFF_FFFF;
    let mut n: u32 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        n = n * 10 + u32::from(s[i] - b'0');
        if n >= BIG {
            return None;
        }
        i += 1;
    }
    if i == 0 { None } else { Some((n, i)) }
}

/// `xtoi` of Go's net package: hexadecimal prefix.
fn xtoi(s: &[u8]) -> Option<(u32, usize)> {
    const BIG: u32 = 0xFF_FFFF;
    let mut n: u32 = 0;
    let mut i = 0;
    while i < s.len() {
        let d = match s[i] {
            b'0'..=b'9' => s[i] - b'0',
            b'a'..=b'f' => s[i] - b'a' + 10,
            b'A'..=b'F' => s[i] - b'A' + 10,
            _ => break,
        };
        n = n * 16 + u32::from(d);
        if n >= BIG {
            return None;
        }
        i += 1;
    }
    if i == 0 { None } else { Some((n, i)) }
}

/// Go 1.16's `parseIPv4` (leading zeros allowed, as in `netutils.ParseIPSloppy`).
fn parse_ipv4_sloppy(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut rest = s;
    for (i, slot) in out.iter_mut().enumerate() {
        if rest.is_empty() {
            return None;
        }
        if i > 0 {
            if rest[0] != b'.' {
                return None;
            }
            rest = &rest[1..];
        }
        let (n, c) = dtoi(rest)?;
        if n > 0xFF {
            return None;
        }
        *slot = n as u8;
        rest = &rest[c..];
    }
    if rest.is_empty() { Some(out) } else { None }
}

/// Go 1.16's `parseIPv6` with the sloppy embedded IPv4.
fn parse_ipv6_sloppy(s: &[u8]) -> Option<[u8; 16]> {
    let mut ip = [0u8; 16];
    let mut ellipsis: i32 = -1;
    let mut s = s;
    if s.len() >= 2 && s[0] == b':' && s[1] == b':' {
        ellipsis = 0;
        s = &s[2..];
        if s.is_empty() {
            return Some(ip);
        }
    }
    let mut i: usize = 0;
    while i < 16 {
        let (n, c) = xtoi(s)?;
        if n > 0xFFFF {
            return None;
        }
        if c < s.len() && s[c] == b'.' {
            if ellipsis < 0 && i != 12 {
                return None;
            }
            if i + 4 > 16 {
                return None;
            }
            let v4 = parse_ipv4_sloppy(s)?;
            ip[i..i + 4].copy_from_slice(&v4);
            s = &[];
            i += 4;
            break;
        }
        ip[i] = (n >> 8) as u8;
        ip[i + 1] = n as u8;
        i += 2;
        s = &s[c..];
        if s.is_empty() {
            break;
        }
        if s[0] != b':' || s.len() == 1 {
            return None;
        }
        s = &s[1..];
        if s[0] == b':' {
            if ellipsis >= 0 {
                return None;
            }
            ellipsis = i as i32;
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return None;
    }
    if i < 16 {
        if ellipsis < 0 {
            return None;
        }
        expand_ellipsis(&mut ip, ellipsis as usize, i);
    } else if ellipsis >= 0 {
        return None;
    }
    Some(ip)
}

/// Go's "expand ellipsis" step: moves the `i - e` bytes parsed after the
/// `::` at `e` to the end of `ip` and zero-fills the gap.
fn expand_ellipsis(ip: &mut [u8; 16], e: usize, i: usize) {
    let n = 16 - i;
    let mut j = i;
    while j > e {
        j -= 1;
        ip[j + n] = ip[j];
    }
    for b in ip.iter_mut().skip(e).take(n) {
        *b = 0;
    }
}

/// `netutils.ParseIPSloppy` succeeds.
fn parse_ip_sloppy(s: &str) -> bool {
    for b in s.bytes() {
        match b {
            b'.' => return parse_ipv4_sloppy(s.as_bytes()).is_some(),
            b':' => return parse_ipv6_sloppy(s.as_bytes()).is_some(),
            _ => {}
        }
    }
    false
}

/// kube-openapi `isIPv4`: `ParseIPSloppy(s) != nil && strings.Contains(s, ".")`.
fn is_ipv4(s: &str) -> bool {
    parse_ip_sloppy(s) && s.contains('.')
}

/// govalidator `IsIPv6`: `net.ParseIP(s) != nil && strings.Contains(s, ":")`.
fn is_ipv6(s: &str) -> bool {
    s.contains(':') && s.parse::<Ipv6Addr>().is_ok()
}

/// `netutils.ParseCIDRSloppy`: returns the prefix length on success.
pub(crate) fn parse_cidr_sloppy(s: &str) -> Option<u32> {
    let (addr, mask) = s.split_once('/')?;
    let (iplen, ok) = if parse_ipv4_sloppy(addr.as_bytes()).is_some() {
        (4u32, true)
    } else {
        (16u32, parse_ipv6_sloppy(addr.as_bytes()).is_some())
    };
    if !ok {
        return None;
    }
    let (n, used) = dtoi(mask.as_bytes())?;
    if used != mask.len() || n > 8 * iplen {
        return None;
    }
    Some(n)
}

/// `net.ParseMAC` succeeds.
fn parse_mac(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let xtoi2 = |part: &[u8], sep: u8| -> bool {
        if part.len() > 2 && part[2] != sep {
            return false;
        }
        let head = &part[..part.len().min(2)];
        matches!(xtoi(head), Some((_, 2)))
    };
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) {
            return false;
        }
        let n = (b.len() + 1) / 3;
        if n != 6 && n != 8 && n != 20 {
            return false;
        }
        let mut x = 0;
        for _ in 0..n {
            if !xtoi2(&b[x..], b[2]) {
                return false;
            }
            x += 3;
        }
        true
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) {
            return false;
        }
        let n = 2 * (b.len() + 1) / 5;
        if n != 6 && n != 8 && n != 20 {
            return false;
        }
        let mut x = 0;
        let mut i = 0;
        while i < n {
            if !xtoi2(&b[x..x + 2], 0) {
                return false;
            }
            if !xtoi2(&b[x + 2..], b[4]) {
                return false;
            }
            x += 5;
            i += 2;
        }
        true
    } else {
        false
    }
}

fn is_isbn_sanitized(s: &str) -> String {
    // govalidator strips `[\s-]+` (Go's ASCII \s).
    s.chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ' | '-'))
        .collect()
}

fn is_isbn10(s: &str) -> bool {
    let t = is_isbn_sanitized(s);
    let b = t.as_bytes();
    if b.len() != 10 {
        return false;
    }
    let ok = b[..9].iter().all(u8::is_ascii_digit) && (b[9].is_ascii_digit() || b[9] == b'X');
    if !ok {
        return false;
    }
    let mut sum: i32 = 0;
    for (i, d) in b[..9].iter().enumerate() {
        sum += (i as i32 + 1) * i32::from(d - b'0');
    }
    sum += if b[9] == b'X' {
        100
    } else {
        10 * i32::from(b[9] - b'0')
    };
    sum % 11 == 0
}

fn is_isbn13(s: &str) -> bool {
    let t = is_isbn_sanitized(s);
    let b = t.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: i32 = 0;
    for (i, d) in b[..12].iter().enumerate() {
        let factor = if i % 2 == 0 { 1 } else { 3 };
        sum += factor * i32::from(d - b'0');
    }
    i32::from(b[12] - b'0') - ((10 - (sum % 10)) % 10) == 0
}

fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !re_match(&CREDITCARD, CREDITCARD_PATTERN, &digits) {
        return false;
    }
    let mut sum: i64 = 0;
    let mut double = false;
    for d in digits.bytes().rev() {
        let mut n = i64::from(d - b'0');
        if double {
            n *= 2;
            sum += if n >= 10 { n % 10 + 1 } else { n };
        } else {
            sum += n;
        }
        double = !double;
    }
    sum % 10 == 0
}

/// strfmt `IsHostname`.
fn is_hostname(s: &str) -> bool {
    if !re_match(&HOSTNAME, HOSTNAME_PATTERN, s) {
        return false;
    }
    if s.len() > 255 {
        return false;
    }
    s.split('.').all(|p| p.len() <= 63)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            if leap { 29 } else { 28 }
        }
    }
}

/// `time.Parse("2006-01-02", s)` succeeds (strfmt `IsDate`).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 4 {
        return false;
    }
    // year: 4 bytes parsed by time's atoi (optional sign, digits)
    let (neg, ydigits) = match b[0] {
        b'-' => (true, &b[1..4]),
        b'+' => (false, &b[1..4]),
        _ => (false, &b[0..4]),
    };
    if ydigits.is_empty() || !ydigits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut year: i64 = 0;
    for d in ydigits {
        year = year * 10 + i64::from(d - b'0');
    }
    if neg {
        year = -year;
    }
    let rest = &b[4..];
    if rest.len() != 6 || rest[0] != b'-' || rest[3] != b'-' {
        return false;
    }
    let two = |x: &[u8]| -> Option<u32> {
        if x.len() == 2 && x[0].is_ascii_digit() && x[1].is_ascii_digit() {
            Some(u32::from(x[0] - b'0') * 10 + u32::from(x[1] - b'0'))
        } else {
            None
        }
    };
    let (Some(month), Some(day)) = (two(&rest[1..3]), two(&rest[4..6])) else {
        return false;
    };
    if !(1..=12).contains(&month) {
        return false;
    }
    day >= 1 && day <= days_in(month, year)
}

/// strfmt `IsDateTime`.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Some(re) = regex_of(&DATETIME, DATETIME_PATTERN) else {
        return false;
    };
    let Some(c) = re.captures(parts[1]) else {
        return false;
    };
    let g = |i: usize| c.get(i).map(|m| m.as_str()).unwrap_or("");
    g(1) <= "23" && g(2) <= "59" && g(3) <= "59"
}

/// Go's `time.ParseDuration` succeeds.
fn go_parse_duration(orig: &str) -> bool {
    let mut s = orig.as_bytes();
    let mut d: u64 = 0;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        s = &s[1..];
    }
    if s == b"0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    while !s.is_empty() {
        let Some((v, rest)) = duration_component(s) else {
            return false;
        };
        s = rest;
        // Go adds with uint64 wrap-around.
        d = d.wrapping_add(v);
        if d > DURATION_LIMIT {
            return false;
        }
    }
    // A positive duration of exactly 1<<63 overflows; a negative one fits.
    if d > DURATION_LIMIT - 1 && !orig.starts_with('-') {
        return false;
    }
    true
}

/// One `[0-9]*(\.[0-9]*)?[a-z]+` component of a Go duration at the start
/// of `s`: its value in nanoseconds and the rest of `s`.
fn duration_component(mut s: &[u8]) -> Option<(u64, &[u8])> {
    if !s.first().is_some_and(|&c| c == b'.' || c.is_ascii_digit()) {
        return None;
    }
    // leading int
    let (mut v, i) = leading_int(s)?;
    let pre = i > 0;
    s = &s[i..];
    let (f, scale, post) = if s.first() == Some(&b'.') {
        s = &s[1..];
        let (f, scale, j) = leading_fraction(s);
        s = &s[j..];
        (f, scale, j > 0)
    } else {
        (0, 1.0, false)
    };
    if !pre && !post {
        return None;
    }
    // consume unit
    let u = s
        .iter()
        .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
        .count();
    if u == 0 {
        return None;
    }
    let unit = duration_unit(&s[..u])?;
    s = &s[u..];
    if v > DURATION_LIMIT / unit {
        return None;
    }
    v *= unit;
    if f > 0 {
        v += (f as f64 * (unit as f64 / scale)) as u64;
        if v > DURATION_LIMIT {
            return None;
        }
    }
    Some((v, s))
}

/// `1<<63`, the bound of `time.ParseDuration`'s uint64 arithmetic.
const DURATION_LIMIT: u64 = 1 << 63;

/// Go's `leadingInt`: the value of the leading digits of `s` and their
/// count; `None` on overflow.
fn leading_int(s: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if v > DURATION_LIMIT / 10 {
            return None;
        }
        v = v * 10 + u64::from(s[i] - b'0');
        if v > DURATION_LIMIT {
            return None;
        }
        i += 1;
    }
    Some((v, i))
}

/// Go's `leadingFraction`: the leading digits of `s` as a value and its
/// scale (digits past overflow are dropped), and the digit count.
fn leading_fraction(s: &[u8]) -> (u64, f64, usize) {
    let mut f: u64 = 0;
    let mut scale: f64 = 1.0;
    let mut j = 0;
    let mut overflow = false;
    while j < s.len() && s[j].is_ascii_digit() {
        if !overflow {
            if f > (DURATION_LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = f * 10 + u64::from(s[j] - b'0');
                if y > DURATION_LIMIT {
                    overflow = true;
                } else {
                    f = y;
                    scale *= 10.0;
                }
            }
        }
        j += 1;
    }
    (f, scale, j)
}

/// Go's `unitMap`: nanoseconds in a duration unit.
fn duration_unit(u: &[u8]) -> Option<u64> {
    match u {
        b"ns" => Some(1),
        b"us" | [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => Some(1_000),
        b"ms" => Some(1_000_000),
        b"s" => Some(1_000_000_000),
        b"m" => Some(60_000_000_000),
        b"h" => Some(3_600_000_000_000),
        _ => None,
    }
}

/// strfmt `IsDuration`: Go's `time.ParseDuration` or the Scala-like syntax.
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    // durationValidator: ^\s*(?:\d+\s*[A-Za-zµ]+\s*)+$ (ASCII \s and \d)
    static VALIDATOR: OnceLock<Option<Regex>> = OnceLock::new();
    static MATCHER: OnceLock<Option<Regex>> = OnceLock::new();
    if !re_match(
        &VALIDATOR,
        r"^[\t\n\x0C\r ]*(?:[0-9]+[\t\n\x0C\r ]*[A-Za-zµ]+[\t\n\x0C\r ]*)+$",
        s,
    ) {
        return false;
    }
    let Some(matcher) = regex_of(&MATCHER, r"(([0-9]+)[\t\n\x0C\r ]*([A-Za-zµ]+))") else {
        return false;
    };
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let mut ok = false;
    for c in matcher.captures_iter(s) {
        let factor = c.get(2).map(|m| m.as_str()).unwrap_or("");
        // strconv.Atoi fails on int overflow
        if factor.parse::<i64>().is_err() {
            return false;
        }
        let unit = c
            .get(3)
            .map(|m| m.as_str().trim().to_lowercase())
            .unwrap_or_default();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || v.eq_ignore_ascii_case(&unit) {
                    ok = true;
                }
            }
        }
    }
    ok
}

fn is_ctl_byte(b: u8) -> bool {
    b < 0x20 || b == 0x7F
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn unhex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// net/url `shouldEscape` for host mode.
fn host_should_escape(c: u8) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    !matches!(
        c,
        b'!' | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'['
            | b']'
            | b'<'
            | b'>'
            | b'"'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
    )
}

/// net/url `unescape` validity check (host mode or not).
fn unescape_ok(s: &[u8], host: bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len() || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) {
                    return false;
                }
                if host && unhex(s[i + 1]) < 8 && &s[i..i + 3] != b"%25" {
                    return false;
                }
                i += 3;
            }
            c => {
                if host && c < 0x80 && host_should_escape(c) {
                    return false;
                }
                i += 1;
            }
        }
    }
    true
}

fn valid_optional_port(port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit)
}

fn parse_host_ok(host: &[u8]) -> bool {
    if host.first() == Some(&b'[') {
        let Some(i) = host.iter().rposition(|&b| b == b']') else {
            return false;
        };
        if !valid_optional_port(&host[i + 1..]) {
            return false;
        }
        let inner = &host[..i];
        if let Some(z) = inner.windows(3).position(|w| w == b"%25") {
            return unescape_ok(&host[..z], true)
                && unescape_ok(&host[z..i], false)
                && unescape_ok(&host[i..], true);
        }
    } else if let Some(i) = host.iter().rposition(|&b| b == b':')
        && !valid_optional_port(&host[i..])
    {
        return false;
    }
    unescape_ok(host, true)
}

fn valid_userinfo(s: &[u8]) -> bool {
    s.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b':'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'@'
            )
    })
}

/// govalidator `IsRequestURI`: `url.ParseRequestURI(s)` succeeds.
fn is_request_uri(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.iter().any(|&c| is_ctl_byte(c)) || b.is_empty() {
        return false;
    }
    if raw == "*" {
        return true;
    }
    let Some((scheme_len, mut rest)) = get_scheme(b) else {
        return false;
    };
    // query
    let qcount = rest.iter().filter(|&&c| c == b'?').count();
    if rest.last() == Some(&b'?') && qcount == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some(q) = rest.iter().position(|&c| c == b'?') {
        rest = &rest[..q];
    }
    if rest.first() != Some(&b'/') {
        // opaque with a scheme, else invalid for a request
        return scheme_len > 0;
    }
    if scheme_len > 0 && rest.starts_with(b"//") {
        return authority_and_path_ok(&rest[2..]);
    }
    unescape_ok(rest, false)
}

/// Go's `getScheme`: the scheme's length (0 if none) and the rest after its
/// `:`; `None` for a leading `:` (missing protocol scheme).
fn get_scheme(b: &[u8]) -> Option<(usize, &[u8])> {
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
            if i == 0 {
                break;
            }
            continue;
        }
        if c == b':' {
            if i == 0 {
                return None;
            }
            return Some((i, &b[i + 1..]));
        }
        break;
    }
    Some((0, b))
}

/// Whether `after` (what follows `//`) parses as an authority (userinfo and
/// host) and an escaped path.
fn authority_and_path_ok(after: &[u8]) -> bool {
    let (authority, path) = match after.iter().position(|&c| c == b'/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, &b""[..]),
    };
    let (user, host) = match authority.iter().rposition(|&c| c == b'@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if !parse_host_ok(host) {
        return false;
    }
    if let Some(u) = user
        && (!valid_userinfo(u) || !unescape_ok(u, false))
    {
        return false;
    }
    unescape_ok(path, false)
}

/// A small port of Go's `net/mail` address parser (`mail.ParseAddress`).
struct MailParser<'a> {
    s: &'a str,
}

impl<'a> MailParser<'a> {
    fn skip_space(&mut self) {
        self.s = self.s.trim_start_matches([' ', '\t']);
    }

    fn peek(&self) -> Option<char> {
        self.s.chars().next()
    }

    fn consume(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.s = &self.s[c.len_utf8()..];
            true
        } else {
            false
        }
    }

    fn is_atext(c: char, dot: bool) -> bool {
        match c {
            '.' => dot,
            '(' | ')' | '<' | '>' | '[' | ']' | ':' | ';' | '@' | '\\' | ',' | '"' => false,
            c => ('!'..='~').contains(&c) || (c as u32) >= 0x80,
        }
    }

    fn consume_atom(&mut self, dot: bool, permissive: bool) -> Option<String> {
        let end = self
            .s
            .char_indices()
            .find(|&(_, c)| !Self::is_atext(c, dot))
            .map(|(i, _)| i)
            .unwrap_or(self.s.len());
        if end == 0 {
            return None;
        }
        let atom = &self.s[..end];
        if !permissive && (atom.starts_with('.') || atom.contains("..") || atom.ends_with('.')) {
            return None;
        }
        self.s = &self.s[end..];
        Some(atom.to_string())
    }

    fn consume_quoted_string(&mut self) -> Option<String> {
        let mut chars = self.s.char_indices();
        chars.next(); // opening quote
        let mut out = String::new();
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                if !(('!'..='~').contains(&c) || c == ' ' || c == '\t' || (c as u32) >= 0x80) {
                    return None;
                }
                out.push(c);
                escaped = false;
            } else if c == '"' {
                self.s = &self.s[i + 1..];
                return Some(out);
            } else if c == '\\' {
                escaped = true;
            } else if ('!'..='~').contains(&c) || c == ' ' || c == '\t' || (c as u32) >= 0x80 {
                out.push(c);
            } else {
                return None;
            }
        }
        None
    }

    /// Skips CFWS; false on an unterminated comment.
    fn skip_cfws(&mut self) -> bool {
        self.skip_space();
        loop {
            if !self.consume('(') {
                break;
            }
            if self.consume_comment().is_none() {
                return false;
            }
            self.skip_space();
        }
        true
    }

    fn consume_comment(&mut self) -> Option<String> {
        let mut depth = 1;
        let mut out = String::new();
        let mut escaped = false;
        for (i, c) in self.s.char_indices() {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.s = &self.s[i + 1..];
                        return Some(out);
                    }
                }
                _ => {}
            }
            out.push(c);
        }
        None
    }

    fn parse_addr_spec(&mut self) -> Option<String> {
        let orig = self.s;
        let r = (|| {
            self.skip_space();
            if self.s.is_empty() {
                return None;
            }
            let local = if self.peek() == Some('"') {
                let q = self.consume_quoted_string()?;
                if q.is_empty() {
                    return None;
                }
                q
            } else {
                self.consume_atom(true, false)?
            };
            if !self.consume('@') {
                return None;
            }
            self.skip_space();
            if self.s.is_empty() {
                return None;
            }
            let domain = self.consume_atom(true, false)?;
            Some(format!("{local}@{domain}"))
        })();
        if r.is_none() {
            self.s = orig;
        }
        r
    }

    fn consume_phrase(&mut self) -> Option<String> {
        let mut words: Vec<String> = Vec::new();
        loop {
            if !words.is_empty() && !self.skip_cfws() {
                return None;
            }
            self.skip_space();
            if self.s.is_empty() {
                break;
            }
            let word = if self.peek() == Some('"') {
                self.consume_quoted_string()
            } else {
                self.consume_atom(true, true)
            };
            match word {
                Some(w) => words.push(w),
                None => break,
            }
        }
        if words.is_empty() {
            None
        } else {
            Some(words.join(" "))
        }
    }

    /// parseAddress(handleGroup): the number of addresses parsed.
    fn parse_address(&mut self, handle_group: bool) -> Option<usize> {
        self.skip_space();
        if self.s.is_empty() {
            return None;
        }
        if self.parse_addr_spec().is_some() {
            self.skip_space();
            if self.peek() == Some('(') {
                self.consume('(');
                self.consume_comment()?;
            }
            return Some(1);
        }
        if self.peek() != Some('<') {
            // display-name
            self.consume_phrase()?;
        }
        self.skip_space();
        if handle_group && self.consume(':') {
            return self.consume_group_list();
        }
        if !self.consume('<') {
            return None;
        }
        self.parse_addr_spec()?;
        if !self.consume('>') {
            return None;
        }
        Some(1)
    }

    fn consume_group_list(&mut self) -> Option<usize> {
        let mut n = 0;
        self.skip_space();
        if self.consume(';') {
            if !self.skip_cfws() {
                return None;
            }
            return Some(0);
        }
        loop {
            self.skip_space();
            n += self.parse_address(false)?;
            if !self.skip_cfws() {
                return None;
            }
            if self.consume(';') {
                if !self.skip_cfws() {
                    return None;
                }
                break;
            }
            if !self.consume(',') {
                return None;
            }
        }
        Some(n)
    }
}

/// strfmt `IsEmail`: `mail.ParseAddress(s)` succeeds with a non-empty address.
fn is_email(s: &str) -> bool {
    let mut p = MailParser { s };
    let Some(n) = p.parse_address(true) else {
        return false;
    };
    if !p.skip_cfws() {
        return false;
    }
    p.s.is_empty() && n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_ip() {
        assert!(validates("cidr", "10.1.0.0/16"));
        assert!(validates("cidr", "10.1.0.1/16"));
        assert!(validates("cidr", "010.001.0.0/016"));
        assert!(validates("cidr", "fd00::/8"));
        assert!(validates("cidr", "::ffff:1.2.3.4/120"));
        assert!(!validates("cidr", "10.1.0.0/33"));
        assert!(!validates("cidr", "10.1.0.0"));
        assert!(!validates("cidr", "10.1.0/16"));
        assert!(!validates("cidr", "fd00::/129"));
        assert!(validates("ipv4", "1.2.3.4"));
        assert!(validates("ipv4", "01.02.03.004"));
        assert!(validates("ipv4", "::ffff:1.2.3.4"));
        assert!(!validates("ipv4", "1.2.3"));
        assert!(!validates("ipv4", "::1"));
        assert!(!validates("ipv4", "256.1.1.1"));
        assert!(validates("ipv6", "::1"));
        assert!(validates("ipv6", "fe80::1:2"));
        assert!(!validates("ipv6", "1.2.3.4"));
        assert!(!validates("ipv6", "fe80::1%eth0"));
    }

    #[test]
    fn mac_uuid_misc() {
        assert!(validates("mac", "00:1a:2B:3c:4d:5e"));
        assert!(validates("mac", "00-1a-2b-3c-4d-5e"));
        assert!(validates("mac", "001a.2b3c.4d5e"));
        assert!(!validates("mac", "00:1a:2b:3c:4d"));
        assert!(!validates("mac", "00:1a-2b:3c:4d:5e"));
        assert!(validates("uuid", "A987FBC9-4BED-3078-CF07-9141BA07C9F3"));
        assert!(validates("uuid3", "a987fbc9-4bed-3078-cf07-9141ba07c9f3"));
        assert!(!validates("uuid4", "a987fbc9-4bed-3078-cf07-9141ba07c9f3"));
        assert!(validates("uuid4", "57b73598-8764-4ad0-a76a-679bb6640eb1"));
        assert!(validates("uuid5", "987fbc97-4bed-5078-af07-9141ba07c9f3"));
        assert!(validates("bsonobjectid", "507f1f77bcf86cd799439011"));
        assert!(!validates("bsonobjectid", "507f1f77bcf86cd79943901"));
        assert!(validates("isbn10", "3836221195"));
        assert!(validates("isbn10", "3-8362-2119-5"));
        assert!(!validates("isbn10", "3836221196"));
        assert!(validates("isbn13", "978-3836221191"));
        assert!(validates("isbn", "9783836221191"));
        assert!(validates("creditcard", "4111 1111 1111 1111"));
        assert!(!validates("creditcard", "4111 1111 1111 1112"));
        assert!(validates("ssn", "123-45-6789"));
        assert!(!validates("ssn", "123456789"));
        assert!(validates("hexcolor", "#fff"));
        assert!(!validates("hexcolor", "#ffff"));
        assert!(validates("rgbcolor", "rgb(255, 0, 10)"));
        assert!(!validates("rgbcolor", "rgb(256,0,0)"));
        assert!(validates("byte", "aGVsbG8="));
        assert!(!validates("byte", "aGVsbG8"));
        assert!(!validates("byte", ""));
        assert!(validates("password", ""));
        assert!(validates("int32-unknown", "anything"));
    }

    #[test]
    fn hostnames() {
        assert!(validates("hostname", "example.com"));
        assert!(validates("hostname", "localhost"));
        assert!(validates("hostname", "a-b.c-d.example"));
        assert!(!validates("hostname", "-bad.example.com"));
        assert!(!validates("hostname", "bad_host.com"));
        assert!(!validates("hostname", "example.c"));
    }

    #[test]
    fn dates_and_durations() {
        assert!(validates("date", "2024-02-29"));
        assert!(!validates("date", "2023-02-29"));
        assert!(!validates("date", "2023-13-01"));
        assert!(!validates("date", "2023-1-01"));
        assert!(validates("date-time", "2024-01-02T10:20:30Z"));
        assert!(validates("datetime", "2024-01-02T10:20:30.123+01:00"));
        assert!(validates("date-time", "2024-01-02t10:20:30z"));
        assert!(!validates("date-time", "2024-01-02T24:20:30Z"));
        assert!(!validates("date-time", "2024-01-02 10:20:30Z"));
        assert!(!validates("date-time", "2024-01-02T10:20:30"));
        assert!(validates("duration", "2160h"));
        assert!(validates("duration", "1h30m"));
        assert!(validates("duration", "1.5s"));
        assert!(validates("duration", "-3µs"));
        assert!(validates("duration", "3 days"));
        assert!(validates("duration", "2 weeks 3 hours"));
        assert!(!validates("duration", "1 year"));
        assert!(!validates("duration", "abc"));
        assert!(!validates("duration", ""));
        assert!(!validates("duration", "1"));
        assert!(!validates("duration", "9999999999999999999h"));
    }

    #[test]
    fn uris_and_emails() {
        assert!(validates("uri", "https://example.com/a?b=c"));
        assert!(validates("uri", "/just/a/path"));
        assert!(validates("uri", "mailto:a@b.c"));
        assert!(validates("uri", "http://[::1]:8080/x"));
        assert!(validates("uri", "http://user:pw@host:80/"));
        assert!(!validates("uri", "relative/path"));
        assert!(!validates("uri", ""));
        assert!(!validates("uri", "http://host:port/"));
        assert!(!validates("uri", "http://ho st/"));
        assert!(!validates("uri", "/a%zz"));
        assert!(!validates("uri", ":foo"));
        assert!(validates("email", "a@b.c"));
        assert!(validates("email", "John Doe <john.doe@example.com>"));
        assert!(validates("email", "\"john doe\"@example.com"));
        assert!(validates("email", "a@b (comment)"));
        assert!(!validates("email", "plainaddress"));
        assert!(!validates("email", "a@b@c"));
        assert!(!validates("email", "a@.b"));
        assert!(!validates("email", "a@b, c@d"));
    }
}
