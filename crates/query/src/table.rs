//! `meta.k8s.io/v1` `Table` rendering (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! This module owns what kube-apiserver returns when a client (e.g.
//! `kubectl get`) asks for a Table:
//!
//! * [`CustomResourceTable`] / [`table_for_custom_resources`] — port of the
//!   apiextensions-apiserver `tableconvertor` for custom resources: a `Name`
//!   column followed by the CRD version's `additionalPrinterColumns` (or a
//!   single `Age` column of `.metadata.creationTimestamp` when there are
//!   none, as the CRD handler defaults it). Cells are computed from the
//!   *first* JSONPath result; a path that matches nothing or fails to
//!   evaluate gives a `null` cell. `string` columns print the value like
//!   client-go `PrintResults` (objects/arrays as compact JSON, JSON `null`
//!   as `<no value>`); `integer` accepts JSON integers and truncates floats;
//!   `number` gives a float; `boolean` a bool; `date` the *age* string the
//!   apiserver computes (`duration.HumanDuration(now - t)`, `<unknown>` for
//!   an empty/zero time, `<invalid>` for an unparsable one); anything of the
//!   wrong JSON type is `null`.
//! * [`builtin_table`] — the built-in kinds' Tables, from the port of
//!   kube-apiserver's printers in [`crate::printers`]: kind-specific
//!   columns, the `-o wide` ones (priority 1) included, cells computed from
//!   the stored object, row `conditions` for finished pods, `"rows": []` for
//!   an empty list.
//! * [`default_table`] — port of `rest.NewDefaultTableConvertor`: columns
//!   `Name` and `Created At` (type `date`, cell = RFC 3339 UTC creation
//!   timestamp), what kube-apiserver serves for the kinds without a printer
//!   (Role, ClusterRole, LimitRange, CustomResourceDefinition).
//! * [`Include`] — `?includeObject=None|Metadata|Object` (default
//!   `Metadata`: a `PartialObjectMetadata`), as applied by the endpoint
//!   handler's `asTable`.
//!
//! Table metadata carries the list's `resourceVersion`, `continue` and
//! `remainingItemCount` (or the object's `resourceVersion` for a single
//! object); `columnDefinitions` is `null` when headers are suppressed
//! (watch events after the first).
//!
//! Known differences from kube-apiserver:
//!
//! * Built-in kinds' column descriptions are the current API version's field
//!   docs (from the `k8s-openapi` 1.33 schemas) where kube-apiserver quotes
//!   an older version's (`extensions/v1beta1`, `autoscaling/v2beta1`, ...);
//!   kubectl does not show them.
//! * The printers read the stored JSON, not a decoded Go object: a field of
//!   the wrong JSON type reads as its zero value (kube-apiserver could not
//!   have stored it), and a quantity too large for 128 bits prints as stored.
//! * JSON output differs only textually: serde_json sorts object keys
//!   (Go emits struct field order) and does not HTML-escape `<`, `>`, `&`.
//! * Go converts an out-of-range float to `int64` in a platform specific way;
//!   this port uses amd64's result (`i64::MIN`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::jsonpath::{self, Item, JsonPath};
use crate::printers;
use operatorkit_gofmt::{self as gofmt, GoNumber};
use operatorkit_gofmt::{I64_MIN_F, float_to_json_value};

/// Description of the `Name` column (`ObjectMeta` swagger doc for `name`).
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// Description of the `Age`/`Created At` columns (`ObjectMeta` swagger doc
/// for `creationTimestamp`).
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// Errors of this module. `Display` is the Kubernetes message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A bad `includeObject` query parameter; kube-apiserver answers
    /// `400 BadRequest` with this message.
    #[error(
        "Unable to convert to Table as requested: includeObject: Invalid value: {}: must be 'Metadata', 'Object', 'None', or empty",
        gofmt::quote(.0)
    )]
    InvalidIncludeObject(String),
    /// A Table was requested in a group version other than `meta.k8s.io/v1`
    /// or `meta.k8s.io/v1beta1` (`406 NotAcceptable`).
    #[error("no Table exists in group version {0}")]
    NoTableInGroupVersion(String),
    /// A printer column whose JSONPath does not parse. kube-apiserver only
    /// logs this and serves the columns before the bad one.
    #[error("unrecognized column definition {}", gofmt::quote(.0))]
    InvalidColumn(String),
}

impl TableError {
    /// HTTP status kube-apiserver uses for the error (400, 406, or 500 for a
    /// column error, which is never sent to clients).
    pub fn http_status(&self) -> u16 {
        match self {
            TableError::InvalidIncludeObject(_) => 400,
            TableError::NoTableInGroupVersion(_) => 406,
            TableError::InvalidColumn(_) => 500,
        }
    }
}

/// `?includeObject=` policy for the `object` of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Include {
    /// `None`: `"object": null`.
    None,
    /// `Metadata` (the default): a `PartialObjectMetadata` holding the
    /// object's metadata.
    #[default]
    Metadata,
    /// `Object`: the full object.
    Object,
}

impl Include {
    /// Parses the `includeObject` query parameter: absent or empty means
    /// [`Include::Metadata`]; values are case-sensitive.
    pub fn from_query(value: Option<&str>) -> Result<Self, TableError> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(Include::Metadata),
            "None" => Ok(Include::None),
            "Object" => Ok(Include::Object),
            other => Err(TableError::InvalidIncludeObject(other.to_string())),
        }
    }
}

/// Options for rendering a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// What each row's `object` holds.
    pub include: Include,
    /// `TableOptions.NoHeaders`: omit the column definitions (`null`).
    pub no_headers: bool,
    /// The server's "now", used for `date` cells (ages).
    pub now: SystemTime,
    /// `apiVersion` of the Table and of `PartialObjectMetadata` rows:
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1` (see [`table_api_version`]).
    pub api_version: String,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            include: Include::Metadata,
            no_headers: false,
            now: SystemTime::now(),
            api_version: "meta.k8s.io/v1".to_string(),
        }
    }
}

/// Validates the group version of a Table request (`g=meta.k8s.io;v=...`),
/// returning the `apiVersion` to use.
pub fn table_api_version(group: &str, version: &str) -> Result<String, TableError> {
    match (group, version) {
        ("meta.k8s.io", "v1" | "v1beta1") => Ok(format!("{group}/{version}")),
        _ => Err(TableError::NoTableInGroupVersion(if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        })),
    }
}

// ---------------------------------------------------------------------------
// Time helpers (Go time.Parse(time.RFC3339), metav1.Time, duration.HumanDuration)
// ---------------------------------------------------------------------------

/// An instant as (Unix seconds, nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instant {
    secs: i64,
    nanos: u32,
}

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z).
const GO_ZERO_UNIX: i64 = -62_135_596_800;

impl Instant {
    fn is_zero(self) -> bool {
        self.secs == GO_ZERO_UNIX && self.nanos == 0
    }

    fn unix_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &[u8], from: usize, n: usize) -> Option<i64> {
    let part = s.get(from..from + n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        part.iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
    )
}

/// `time.Parse(time.RFC3339, s)`, including the leniencies of Go's general
/// parser (one-digit hour, `,` as the fraction separator, offsets up to
/// `24:60`). Returns `None` on any error.
fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(b, 8, 2)?;
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let mut i = 11;
    let hour = if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 2;
        digits(b, i - 2, 2)?
    } else {
        i += 1;
        digits(b, i - 1, 1)?
    };
    if b.get(i) != Some(&b':') {
        return None;
    }
    let minute = digits(b, i + 1, 2)?;
    if b.get(i + 3) != Some(&b':') {
        return None;
    }
    let second = digits(b, i + 4, 2)?;
    i += 6;
    let (nanos, i) = parse_fraction(b, i)?;
    if !(1..=12).contains(&month) || hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (offset, i) = parse_offset(b, i)?;
    if i != b.len() {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    Some(Instant { secs, nanos })
}

/// The optional fraction of seconds (`.` or `,` then digits, nanosecond
/// precision) at `b[i]`: the nanoseconds and the index after it.
fn parse_fraction(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let mut nanos: u32 = 0;
    if !(matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
        return Some((nanos, i));
    }
    let mut j = i + 1;
    while b.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let frac = b.get(i + 1..j)?;
    let mut scale = 100_000_000u32;
    for d in frac.iter().take(9) {
        nanos += u32::from(d - b'0') * scale;
        scale /= 10;
    }
    Some((nanos, j))
}

/// The zone at `b[i]` (`Z` or `±hh:mm`, Go allowing up to `24:60`): the
/// offset in seconds east of UTC and the index after it.
fn parse_offset(b: &[u8], i: usize) -> Option<(i64, usize)> {
    match b.get(i) {
        Some(b'Z') => Some((0, i + 1)),
        Some(sign @ (b'+' | b'-')) => {
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 24 || om > 60 {
                return None;
            }
            let off = (oh * 60 + om) * 60;
            Some((if *sign == b'-' { -off } else { off }, i + 6))
        }
        _ => None,
    }
}

/// `metav1.Time` JSON: `time.Time.UTC().Format(time.RFC3339)`.
fn format_rfc3339_utc(t: Instant) -> String {
    let days = t.secs.div_euclid(86_400);
    let rem = t.secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        y,
        m,
        d,
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

/// `duration.HumanDuration` of a Go `time.Duration` (nanoseconds).
pub fn human_duration(d: i64) -> String {
    const SEC: i64 = 1_000_000_000;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;
    let seconds = d / SEC;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / MIN;
    if minutes < 10 {
        let s = (d / SEC) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 8 {
        let m = (d / MIN) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// `metatable.ConvertToHumanReadableDateType`: `<unknown>` for the zero
/// time, else `HumanDuration(time.Since(t))` (Go saturates the duration).
fn human_age(t: Instant, now: SystemTime) -> String {
    if t.is_zero() {
        return "<unknown>".to_string();
    }
    let d = unix_nanos(now) - t.unix_nanos();
    let d = i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX });
    human_duration(d)
}

/// Nanoseconds since the Unix epoch of Go's zero `time.Time`.
pub(crate) const ZERO_TIME_NANOS: i128 = GO_ZERO_UNIX as i128 * 1_000_000_000;

/// A JSON `metav1.Time` / `metav1.MicroTime` as Unix nanoseconds, the way a
/// decoded object holds it: [`ZERO_TIME_NANOS`] (Go's zero time) when the
/// field is missing, `null`, empty or not an RFC 3339 time.
pub(crate) fn time_nanos(v: Option<&Value>) -> i128 {
    time_field(v).map_or(ZERO_TIME_NANOS, Instant::unix_nanos)
}

/// `duration.HumanDuration` of a nanosecond count, saturated to a Go
/// `time.Duration` like `time.Sub` does.
pub(crate) fn human_nanos(d: i128) -> String {
    human_duration(i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX }))
}

/// The server's "now" as Unix nanoseconds.
pub(crate) fn now_nanos(now: SystemTime) -> i128 {
    unix_nanos(now)
}

/// The printers' `translateTimestampSince`: `<unknown>` for the zero time,
/// else `HumanDuration(now - t)`.
pub(crate) fn since(t: i128, now: SystemTime) -> String {
    if t == ZERO_TIME_NANOS {
        return "<unknown>".to_string();
    }
    human_nanos(unix_nanos(now) - t)
}

/// A `date` cell: `metav1.Time.UnmarshalQueryParameter` then the age.
fn date_cell(s: &str, now: SystemTime) -> Value {
    if s.is_empty() || s == "null" {
        return Value::String("<unknown>".to_string());
    }
    match parse_rfc3339(s) {
        Some(t) => Value::String(human_age(t, now)),
        None => Value::String("<invalid>".to_string()),
    }
}

// ---------------------------------------------------------------------------
// Rows, metadata, table assembly
// ---------------------------------------------------------------------------

fn metadata_of(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn name_of(obj: &Value) -> String {
    metadata_of(obj)
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn time_field(v: Option<&Value>) -> Option<Instant> {
    v.and_then(Value::as_str).and_then(parse_rfc3339)
}

/// The `ObjectMeta` of `obj` as Go would re-serialize it: only `ObjectMeta`
/// fields, empty `omitempty` fields dropped, `creationTimestamp` always
/// present (`null` when unset), timestamps re-rendered in RFC 3339 UTC.
pub fn normalize_object_meta(obj: &Value) -> Value {
    let empty = Map::new();
    let meta = metadata_of(obj).unwrap_or(&empty);
    let mut out = Map::new();
    for key in [
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
    ] {
        if let Some(Value::String(s)) = meta.get(key)
            && !s.is_empty()
        {
            out.insert(key.to_string(), Value::String(s.clone()));
        }
    }
    if let Some(Value::Number(n)) = meta.get("generation")
        && n.as_f64().is_some_and(|f| f != 0.0)
    {
        out.insert("generation".to_string(), Value::Number(n.clone()));
    }
    let creation = match meta.get("creationTimestamp") {
        Some(Value::String(s)) => match parse_rfc3339(s) {
            Some(t) if t.is_zero() => Value::Null,
            Some(t) => Value::String(format_rfc3339_utc(t)),
            None => Value::String(s.clone()),
        },
        _ => Value::Null,
    };
    out.insert("creationTimestamp".to_string(), creation);
    if let Some(Value::String(s)) = meta.get("deletionTimestamp") {
        let v = match parse_rfc3339(s) {
            Some(t) if t.is_zero() => Value::Null,
            Some(t) => Value::String(format_rfc3339_utc(t)),
            None => Value::String(s.clone()),
        };
        out.insert("deletionTimestamp".to_string(), v);
    }
    if let Some(v @ Value::Number(_)) = meta.get("deletionGracePeriodSeconds") {
        out.insert("deletionGracePeriodSeconds".to_string(), v.clone());
    }
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(m)) = meta.get(key)
            && !m.is_empty()
        {
            out.insert(key.to_string(), Value::Object(m.clone()));
        }
    }
    for key in ["ownerReferences", "finalizers", "managedFields"] {
        if let Some(Value::Array(a)) = meta.get(key)
            && !a.is_empty()
        {
            out.insert(key.to_string(), Value::Array(a.clone()));
        }
    }
    Value::Object(out)
}

/// The row `object` for `include`.
pub fn row_object(obj: &Value, include: Include, api_version: &str) -> Value {
    match include {
        Include::None => Value::Null,
        Include::Object => obj.clone(),
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": api_version,
            "metadata": normalize_object_meta(obj),
        }),
    }
}

/// `ListMeta` of the Table from the list's metadata: `resourceVersion`,
/// `continue`, `remainingItemCount` (and the legacy `selfLink`), empty ones
/// omitted.
fn table_list_meta(list_meta: &Value) -> Value {
    let mut out = Map::new();
    for key in ["selfLink", "resourceVersion", "continue"] {
        if let Some(Value::String(s)) = list_meta.get(key)
            && !s.is_empty()
        {
            out.insert(key.to_string(), Value::String(s.clone()));
        }
    }
    if let Some(v @ Value::Number(_)) = list_meta.get("remainingItemCount") {
        out.insert("remainingItemCount".to_string(), v.clone());
    }
    Value::Object(out)
}

/// Table `metadata` for a single object (GET of one object): its
/// `resourceVersion`.
pub fn single_object_list_meta(obj: &Value) -> Value {
    let rv = metadata_of(obj)
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    json!({ "resourceVersion": rv })
}

fn assemble(headers: Value, rows: Value, list_meta: &Value, opts: &TableOptions) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": opts.api_version,
        "metadata": table_list_meta(list_meta),
        "columnDefinitions": if opts.no_headers { Value::Null } else { headers },
        "rows": rows,
    })
}

fn header(name: &str, typ: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({
        "name": name,
        "type": typ,
        "format": format,
        "description": description,
        "priority": priority,
    })
}

// ---------------------------------------------------------------------------
// Custom resources
// ---------------------------------------------------------------------------

struct Column {
    path: JsonPath,
    typ: String,
}

/// A table convertor for one CRD version (port of
/// `tableconvertor.New(additionalPrinterColumns)`), reusable across requests.
pub struct CustomResourceTable {
    headers: Vec<Value>,
    columns: Vec<Column>,
}

fn str_field<'a>(col: &'a Value, key: &str) -> &'a str {
    col.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Go `int64(f)` on amd64: truncation, `i64::MIN` when out of range.
fn go_f64_to_i64(f: f64) -> i64 {
    if (I64_MIN_F..-I64_MIN_F).contains(&f) {
        f.trunc() as i64
    } else {
        i64::MIN
    }
}

impl CustomResourceTable {
    /// Builds the convertor from a CRD version's `additionalPrinterColumns`
    /// (JSON objects with `name`, `type`, `format`, `description`,
    /// `priority`, `jsonPath`). An empty list means the default `Age` column.
    /// Like upstream, a column whose `jsonPath` does not parse stops the
    /// construction: the columns before it are kept and the error is returned
    /// alongside (kube-apiserver logs it and serves the partial table).
    pub fn new(additional_printer_columns: &[Value]) -> (Self, Option<TableError>) {
        let default_cols;
        let cols: &[Value] = if additional_printer_columns.is_empty() {
            default_cols = [json!({
                "name": "Age",
                "type": "date",
                "description": CREATION_TIMESTAMP_DESCRIPTION,
                "jsonPath": ".metadata.creationTimestamp",
            })];
            &default_cols
        } else {
            additional_printer_columns
        };
        let mut table = CustomResourceTable {
            headers: vec![header("Name", "string", "name", NAME_DESCRIPTION, 0)],
            columns: Vec::new(),
        };
        for col in cols {
            let json_path = str_field(col, "jsonPath");
            let path = match jsonpath::parse(json_path) {
                Ok(p) => p,
                Err(_) => {
                    return (
                        table,
                        Some(TableError::InvalidColumn(json_path.to_string())),
                    );
                }
            };
            let description = match str_field(col, "description") {
                "" => {
                    format!("Custom resource definition column (in JSONPath format): {json_path}")
                }
                d => d.to_string(),
            };
            let priority = col.get("priority").and_then(Value::as_i64).unwrap_or(0);
            let typ = str_field(col, "type");
            table.headers.push(header(
                str_field(col, "name"),
                typ,
                str_field(col, "format"),
                &description,
                priority,
            ));
            table.columns.push(Column {
                path,
                typ: typ.to_string(),
            });
        }
        (table, None)
    }

    /// The column definitions (`Name` first).
    pub fn column_definitions(&self) -> &[Value] {
        &self.headers
    }

    /// The cells of one custom resource.
    pub fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let mut cells = Vec::with_capacity(1 + self.columns.len());
        cells.push(Value::String(name_of(obj)));
        for col in &self.columns {
            let cell = match col.path.first(obj) {
                None => Value::Null,
                Some(item) if col.typ == "string" => Value::String(match item {
                    Item::Ref(Value::Null) => "<no value>".to_string(),
                    other => other.print(),
                }),
                Some(item) => cell_for_json_value(&col.typ, &item, now),
            };
            cells.push(cell);
        }
        cells
    }

    fn row(&self, obj: &Value, opts: &TableOptions) -> Value {
        json!({
            "cells": self.cells(obj, opts.now),
            "object": row_object(obj, opts.include, &opts.api_version),
        })
    }

    /// Renders a list of custom resources. `list_meta` is the list's
    /// `metadata` (`resourceVersion`, `continue`, `remainingItemCount`).
    pub fn render_list(&self, items: &[Value], list_meta: &Value, opts: &TableOptions) -> Value {
        let rows: Vec<Value> = items.iter().map(|o| self.row(o, opts)).collect();
        assemble(
            Value::Array(self.headers.clone()),
            Value::Array(rows),
            list_meta,
            opts,
        )
    }

    /// Renders a single custom resource (GET of one object).
    pub fn render_object(&self, obj: &Value, opts: &TableOptions) -> Value {
        let rows = vec![self.row(obj, opts)];
        assemble(
            Value::Array(self.headers.clone()),
            Value::Array(rows),
            &single_object_list_meta(obj),
            opts,
        )
    }
}

/// `cellForJSONValue` of the apiextensions table convertor.
fn cell_for_json_value(typ: &str, item: &Item<'_>, now: SystemTime) -> Value {
    let num = |i: &Item<'_>| match i {
        Item::Ref(Value::Number(n)) => Some(gofmt::go_number(n)),
        Item::Float(f) => Some(GoNumber::Float(*f)),
        _ => None,
    };
    match typ {
        "integer" => match num(item) {
            Some(GoNumber::Int(i)) => Value::from(i),
            Some(GoNumber::Float(f)) => Value::from(go_f64_to_i64(f)),
            None => Value::Null,
        },
        "number" => match num(item) {
            Some(GoNumber::Int(i)) => float_to_json_value(i as f64),
            Some(GoNumber::Float(f)) => float_to_json_value(f),
            None => Value::Null,
        },
        "boolean" => match item {
            Item::Ref(Value::Bool(b)) | Item::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        },
        "string" => match item {
            Item::Ref(Value::String(s)) | Item::Text(s) => Value::String(s.clone()),
            _ => Value::Null,
        },
        "date" => match item {
            Item::Ref(Value::String(s)) | Item::Text(s) => date_cell(s, now),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Renders custom resources as a Table from their CRD version's
/// `additionalPrinterColumns` (see [`CustomResourceTable`]; build one of
/// those once per CRD version to avoid re-parsing the JSONPaths).
pub fn table_for_custom_resources(
    columns: &[Value],
    items: &[Value],
    list_meta: &Value,
    opts: &TableOptions,
) -> Value {
    CustomResourceTable::new(columns)
        .0
        .render_list(items, list_meta, opts)
}

// ---------------------------------------------------------------------------
// Built-in kinds (pkg/printers/internalversion)
// ---------------------------------------------------------------------------

fn builtin_row(printer: &printers::Printer, obj: &Value, opts: &TableOptions) -> Value {
    let row = (printer.print)(obj, opts.now);
    let mut out = Map::new();
    out.insert("cells".to_string(), Value::Array(row.cells));
    if let Some(conditions) = row.conditions {
        out.insert("conditions".to_string(), conditions);
    }
    out.insert(
        "object".to_string(),
        row_object(obj, opts.include, &opts.api_version),
    );
    Value::Object(out)
}

/// The Table kube-apiserver's printer for `group`/`kind` makes of `items`
/// (see [`printers`]): its columns, wide ones
/// included (priority 1, what `kubectl get -o wide` shows), one row per
/// item with `conditions` where the printer sets them (finished pods), and
/// `"rows": []` for an empty list. `None` for kinds kube-apiserver serves
/// with the default convertor (then use [`default_table`]).
pub fn builtin_table(
    kind: &str,
    group: &str,
    items: &[Value],
    list_meta: &Value,
    opts: &TableOptions,
) -> Option<Value> {
    let printer = printers::printer_for(group, kind)?;
    let headers: Vec<Value> = printer
        .columns
        .iter()
        .map(|c| header(c.name, c.typ, c.format, c.description, c.priority))
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| builtin_row(&printer, o, opts))
        .collect();
    Some(assemble(
        Value::Array(headers),
        Value::Array(rows),
        list_meta,
        opts,
    ))
}

// ---------------------------------------------------------------------------
// Default table convertor
// ---------------------------------------------------------------------------

fn default_headers() -> Value {
    json!([
        header("Name", "string", "name", NAME_DESCRIPTION, 0),
        header("Created At", "date", "", CREATION_TIMESTAMP_DESCRIPTION, 0),
    ])
}

fn default_row(obj: &Value, opts: &TableOptions) -> Value {
    let created =
        time_field(metadata_of(obj).and_then(|m| m.get("creationTimestamp"))).unwrap_or(Instant {
            secs: GO_ZERO_UNIX,
            nanos: 0,
        });
    json!({
        "cells": [name_of(obj), format_rfc3339_utc(created)],
        "object": row_object(obj, opts.include, &opts.api_version),
    })
}

/// `rest.NewDefaultTableConvertor` for a list: columns `Name` and
/// `Created At`; cells are the name and the creation timestamp in RFC 3339
/// UTC (`0001-01-01T00:00:00Z` when unset). An empty list has `"rows": null`
/// (Go appends to a nil slice).
pub fn default_table(items: &[Value], list_meta: &Value, opts: &TableOptions) -> Value {
    let rows = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items.iter().map(|o| default_row(o, opts)).collect())
    };
    assemble(default_headers(), rows, list_meta, opts)
}

/// `rest.NewDefaultTableConvertor` for a single object.
pub fn default_table_for_object(obj: &Value, opts: &TableOptions) -> Value {
    assemble(
        default_headers(),
        Value::Array(vec![default_row(obj, opts)]),
        &single_object_list_meta(obj),
        opts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: &str) -> SystemTime {
        let t = parse_rfc3339(s).unwrap();
        UNIX_EPOCH
            + Duration::from_secs(u64::try_from(t.secs).unwrap())
            + Duration::from_nanos(u64::from(t.nanos))
    }

    fn opts(now: &str) -> TableOptions {
        TableOptions {
            now: at(now),
            ..TableOptions::default()
        }
    }

    fn widget(name: &str, created: &str, spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": created, "resourceVersion": "7", "uid": "u-1", "labels": {}, "generation": 1},
            "spec": spec,
            "status": status,
        })
    }

    fn columns() -> Vec<Value> {
        vec![
            json!({"name": "Color", "type": "string", "jsonPath": ".spec.color", "description": "the color"}),
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}),
            json!({"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "format": "float"}),
            json!({"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"}),
            json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
            json!({"name": "Since", "type": "date", "jsonPath": ".status.since"}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ]
    }

    #[test]
    fn include_parsing() {
        assert_eq!(Include::from_query(None).unwrap(), Include::Metadata);
        assert_eq!(Include::from_query(Some("")).unwrap(), Include::Metadata);
        assert_eq!(Include::from_query(Some("None")).unwrap(), Include::None);
        assert_eq!(
            Include::from_query(Some("Object")).unwrap(),
            Include::Object
        );
        let e = Include::from_query(Some("object")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to convert to Table as requested: includeObject: Invalid value: \"object\": must be 'Metadata', 'Object', 'None', or empty"
        );
        assert_eq!(e.http_status(), 400);
    }

    #[test]
    fn table_group_versions() {
        assert_eq!(
            table_api_version("meta.k8s.io", "v1").unwrap(),
            "meta.k8s.io/v1"
        );
        assert_eq!(
            table_api_version("meta.k8s.io", "v1beta1").unwrap(),
            "meta.k8s.io/v1beta1"
        );
        let e = table_api_version("meta.k8s.io", "v2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no Table exists in group version meta.k8s.io/v2"
        );
        assert_eq!(e.http_status(), 406);
    }

    #[test]
    fn custom_resource_headers() {
        let (t, err) = CustomResourceTable::new(&columns());
        assert!(err.is_none());
        let h = t.column_definitions();
        assert_eq!(h[0], header("Name", "string", "name", NAME_DESCRIPTION, 0));
        assert_eq!(
            h[1],
            json!({"name": "Color", "type": "string", "format": "", "description": "the color", "priority": 0})
        );
        assert_eq!(
            h[2],
            json!({"name": "Replicas", "type": "integer", "format": "", "description": "Custom resource definition column (in JSONPath format): .spec.replicas", "priority": 1})
        );
        assert_eq!(h[3]["format"], "float");
        assert_eq!(h.len(), 8);
    }

    #[test]
    fn custom_resource_cells_all_types() {
        let (t, _) = CustomResourceTable::new(&columns());
        let w = widget(
            "w1",
            "2025-01-01T00:00:00Z",
            json!({"color": "red", "replicas": 3, "ratio": 2, "paused": true}),
            json!({"conditions": [{"type": "Ready", "status": "True"}], "since": "2025-01-01T10:00:00Z"}),
        );
        let cells = t.cells(&w, at("2025-01-03T12:00:00Z"));
        assert_eq!(
            cells,
            vec![
                json!("w1"),
                json!("red"),
                json!(3),
                json!(2),
                json!(true),
                json!("True"),
                json!("2d2h"),
                json!("2d12h"),
            ]
        );
        // serialized like Go: the float 2 prints as 2
        assert_eq!(cells[3].to_string(), "2");
    }

    #[test]
    fn custom_resource_cells_missing_and_wrong_types() {
        let (t, _) = CustomResourceTable::new(&columns());
        let w = widget(
            "w2",
            "2025-01-01T00:00:00Z",
            json!({"replicas": "3", "ratio": "x", "paused": "true", "color": null}),
            json!({"conditions": [{"type": "Initialized", "status": "True"}], "since": "yesterday"}),
        );
        let cells = t.cells(&w, at("2025-01-01T00:00:30Z"));
        assert_eq!(
            cells,
            vec![
                json!("w2"),
                json!("<no value>"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                json!("<invalid>"),
                json!("30s"),
            ]
        );
        let bare = json!({"metadata": {"name": "w3"}});
        let cells = t.cells(&bare, at("2025-01-01T00:00:00Z"));
        assert_eq!(cells[0], json!("w3"));
        assert!(cells[1..].iter().all(Value::is_null), "{cells:?}");
    }

    #[test]
    fn numeric_conversions() {
        let (t, _) = CustomResourceTable::new(&[
            json!({"name": "I", "type": "integer", "jsonPath": ".v"}),
            json!({"name": "N", "type": "number", "jsonPath": ".v"}),
            json!({"name": "S", "type": "string", "jsonPath": ".v"}),
        ]);
        let now = at("2025-01-01T00:00:00Z");
        assert_eq!(
            t.cells(&json!({"v": 2.9}), now)[1..],
            [json!(2), json!(2.9), json!("2.9")]
        );
        assert_eq!(
            t.cells(&json!({"v": -2.9}), now)[1..],
            [json!(-2), json!(-2.9), json!("-2.9")]
        );
        assert_eq!(t.cells(&json!({"v": 1e20}), now)[1], json!(i64::MIN));
        assert_eq!(
            t.cells(&json!({"v": 7}), now)[1..],
            [json!(7), json!(7), json!("7")]
        );
        assert_eq!(
            t.cells(&json!({"v": true}), now)[1..],
            [Value::Null, Value::Null, json!("true")]
        );
        assert_eq!(
            t.cells(&json!({"v": {"b": [1, 2.5], "a": "<x>"}}), now)[3],
            json!(r#"{"a":"\u003cx\u003e","b":[1,2.5]}"#)
        );
        assert_eq!(
            t.cells(&json!({"v": 1234567.0}), now)[3],
            json!("1.234567e+06")
        );
    }

    #[test]
    fn date_cells() {
        let (t, _) =
            CustomResourceTable::new(&[json!({"name": "D", "type": "date", "jsonPath": ".t"})]);
        let now = at("2025-06-01T12:00:00Z");
        let cell = |v: Value| t.cells(&json!({ "t": v }), now)[1].clone();
        assert_eq!(cell(json!("")), json!("<unknown>"));
        assert_eq!(cell(json!("null")), json!("<unknown>"));
        assert_eq!(cell(json!("0001-01-01T00:00:00Z")), json!("<unknown>"));
        assert_eq!(cell(json!("not a date")), json!("<invalid>"));
        assert_eq!(cell(json!("2025-06-01T11:59:00Z")), json!("60s"));
        assert_eq!(cell(json!("2025-06-01T11:55:30Z")), json!("4m30s"));
        assert_eq!(cell(json!("2025-06-01T13:00:00+02:00")), json!("60m"));
        assert_eq!(cell(json!("2025-06-01T12:00:01.5Z")), json!("0s"));
        assert_eq!(cell(json!("2025-06-01T12:00:05Z")), json!("<invalid>"));
        assert_eq!(cell(json!("2024-06-01T12:00:00Z")), json!("365d"));
        assert_eq!(cell(json!("2020-01-01T00:00:00Z")), json!("5y153d"));
        assert_eq!(cell(json!(12)), Value::Null);
        assert_eq!(cell(json!("2025-02-30T00:00:00Z")), json!("<invalid>"));
        // Go's general parser accepts a one-digit hour
        assert_eq!(cell(json!("2025-06-01T9:00:00Z")), json!("3h"));
    }

    #[test]
    fn human_duration_matches_go() {
        let s = 1_000_000_000i64;
        assert_eq!(human_duration(-2 * s), "<invalid>");
        assert_eq!(human_duration(-s), "0s");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(119 * s), "119s");
        assert_eq!(human_duration(120 * s), "2m");
        assert_eq!(human_duration(125 * s), "2m5s");
        assert_eq!(human_duration(600 * s), "10m");
        assert_eq!(human_duration(179 * 60 * s), "179m");
        assert_eq!(human_duration(3 * 3600 * s), "3h");
        assert_eq!(human_duration((3 * 3600 + 5 * 60) * s), "3h5m");
        assert_eq!(human_duration(47 * 3600 * s), "47h");
        assert_eq!(human_duration(50 * 3600 * s), "2d2h");
        assert_eq!(human_duration(72 * 3600 * s), "3d");
        assert_eq!(human_duration(400 * 24 * 3600 * s), "400d");
        assert_eq!(human_duration(730 * 24 * 3600 * s), "2y");
        assert_eq!(human_duration(731 * 24 * 3600 * s), "2y1d");
        assert_eq!(human_duration(3000 * 24 * 3600 * s), "8y");
        assert_eq!(human_duration(i64::MAX), "292y");
    }

    #[test]
    fn list_table_shape_and_include() {
        let (t, _) = CustomResourceTable::new(&[]);
        let w = widget("w1", "2025-01-01T00:00:00.000Z", json!({}), json!({}));
        let list_meta =
            json!({"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3});
        let table = t.render_list(
            std::slice::from_ref(&w),
            &list_meta,
            &opts("2025-01-01T00:05:00Z"),
        );
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            table["metadata"],
            json!({"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3})
        );
        let defs = table["columnDefinitions"].as_array().unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!(
            defs[1],
            json!({"name": "Age", "type": "date", "format": "", "description": CREATION_TIMESTAMP_DESCRIPTION, "priority": 0})
        );
        assert_eq!(table["rows"][0]["cells"], json!(["w1", "5m"]));
        assert_eq!(
            table["rows"][0]["object"],
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "w1", "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": "7", "uid": "u-1", "generation": 1}
            })
        );
        let none = t.render_list(
            std::slice::from_ref(&w),
            &json!({}),
            &TableOptions {
                include: Include::None,
                ..opts("2025-01-01T00:05:00Z")
            },
        );
        assert_eq!(none["rows"][0]["object"], Value::Null);
        assert_eq!(none["metadata"], json!({}));
        let full = t.render_list(
            std::slice::from_ref(&w),
            &json!({}),
            &TableOptions {
                include: Include::Object,
                ..opts("2025-01-01T00:05:00Z")
            },
        );
        assert_eq!(full["rows"][0]["object"], w);
        let beta = t.render_list(
            std::slice::from_ref(&w),
            &json!({}),
            &TableOptions {
                api_version: table_api_version("meta.k8s.io", "v1beta1").unwrap(),
                ..opts("2025-01-01T00:05:00Z")
            },
        );
        assert_eq!(beta["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(
            beta["rows"][0]["object"]["apiVersion"],
            "meta.k8s.io/v1beta1"
        );
        let no_headers = t.render_list(
            &[],
            &json!({}),
            &TableOptions {
                no_headers: true,
                ..opts("2025-01-01T00:05:00Z")
            },
        );
        assert_eq!(no_headers["columnDefinitions"], Value::Null);
        assert_eq!(no_headers["rows"], json!([]));
    }

    #[test]
    fn single_object_table() {
        let (t, _) = CustomResourceTable::new(&[]);
        let w = widget("w1", "2025-01-01T00:00:00Z", json!({}), json!({}));
        let table = t.render_object(&w, &opts("2025-01-01T00:00:10Z"));
        assert_eq!(table["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(table["rows"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn bad_column_keeps_previous_columns() {
        let (t, err) = CustomResourceTable::new(&[
            json!({"name": "A", "type": "string", "jsonPath": ".a"}),
            json!({"name": "B", "type": "string", "jsonPath": ".b["}),
            json!({"name": "C", "type": "string", "jsonPath": ".c"}),
        ]);
        assert_eq!(
            err.unwrap().to_string(),
            "unrecognized column definition \".b[\""
        );
        assert_eq!(t.column_definitions().len(), 2);
        assert_eq!(
            t.cells(&json!({"a": "x", "c": "y"}), SystemTime::now()),
            vec![json!(""), json!("x")]
        );
    }

    #[test]
    fn default_table_shape() {
        let o = json!({"metadata": {"name": "cm", "creationTimestamp": "2025-01-02T03:04:05+01:00", "resourceVersion": "9"}});
        let table = default_table(
            std::slice::from_ref(&o),
            &json!({"resourceVersion": "10"}),
            &opts("2025-01-03T00:00:00Z"),
        );
        assert_eq!(
            table["columnDefinitions"],
            json!([
                {"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0},
                {"name": "Created At", "type": "date", "format": "", "description": CREATION_TIMESTAMP_DESCRIPTION, "priority": 0}
            ])
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["cm", "2025-01-02T02:04:05Z"])
        );
        assert_eq!(table["metadata"], json!({"resourceVersion": "10"}));
        let no_ts = default_table(
            &[json!({"metadata": {"name": "x"}})],
            &json!({}),
            &opts("2025-01-03T00:00:00Z"),
        );
        assert_eq!(
            no_ts["rows"][0]["cells"],
            json!(["x", "0001-01-01T00:00:00Z"])
        );
        assert_eq!(
            no_ts["rows"][0]["object"]["metadata"],
            json!({"name": "x", "creationTimestamp": null})
        );
        let empty = default_table(
            &[],
            &json!({"resourceVersion": "1"}),
            &opts("2025-01-03T00:00:00Z"),
        );
        assert_eq!(empty["rows"], Value::Null);
        let single = default_table_for_object(&o, &opts("2025-01-03T00:00:00Z"));
        assert_eq!(single["metadata"], json!({"resourceVersion": "9"}));
    }

    #[test]
    fn builtin_table_shape() {
        let pod = json!({"metadata": {"name": "done", "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": "5"},
            "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}});
        let t = builtin_table(
            "Pod",
            "",
            std::slice::from_ref(&pod),
            &json!({"resourceVersion": "9"}),
            &opts("2025-01-01T00:01:00Z"),
        )
        .unwrap();
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["metadata"], json!({"resourceVersion": "9"}));
        let row = &t["rows"][0];
        assert_eq!(
            row["cells"],
            json!([
                "done",
                "0/1",
                "Succeeded",
                "0",
                "60s",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(row["conditions"][0]["reason"], "Succeeded");
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        let cm = json!({"metadata": {"name": "c"}});
        let t = builtin_table(
            "ConfigMap",
            "",
            std::slice::from_ref(&cm),
            &json!({}),
            &opts("2025-01-01T00:01:00Z"),
        )
        .unwrap();
        assert!(t["rows"][0].get("conditions").is_none());
        let empty = builtin_table(
            "ConfigMap",
            "",
            &[],
            &json!({}),
            &TableOptions {
                no_headers: true,
                ..opts("2025-01-01T00:00:00Z")
            },
        )
        .unwrap();
        assert_eq!(empty["rows"], json!([]));
        assert_eq!(empty["columnDefinitions"], Value::Null);
        assert!(
            builtin_table(
                "ClusterRole",
                "rbac.authorization.k8s.io",
                &[],
                &json!({}),
                &opts("2025-01-01T00:00:00Z")
            )
            .is_none()
        );
    }

    #[test]
    fn metadata_normalization() {
        let o = json!({"metadata": {
            "name": "a", "namespace": "", "generation": 0, "labels": {"x": "y"}, "annotations": {},
            "finalizers": [], "ownerReferences": [{"kind": "K"}], "deletionGracePeriodSeconds": 0,
            "deletionTimestamp": "2025-01-01T00:00:00.5+00:00", "unknownField": 1
        }});
        assert_eq!(
            normalize_object_meta(&o),
            json!({
                "name": "a", "labels": {"x": "y"}, "ownerReferences": [{"kind": "K"}],
                "deletionGracePeriodSeconds": 0, "deletionTimestamp": "2025-01-01T00:00:00Z", "creationTimestamp": null
            })
        );
    }

    #[test]
    fn rfc3339_parsing_rules() {
        assert!(parse_rfc3339("2025-01-01T00:00:00Z").is_some());
        assert!(parse_rfc3339("2025-01-01T00:00:00.123456789Z").is_some());
        assert!(parse_rfc3339("2025-01-01T00:00:00,5Z").is_some());
        assert!(parse_rfc3339("2025-01-01T00:00:00+05:30").is_some());
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_none());
        assert!(parse_rfc3339("2025-01-01 00:00:00Z").is_none());
        assert!(parse_rfc3339("2025-01-01T00:00:00").is_none());
        assert!(parse_rfc3339("2025-01-01T24:00:00Z").is_none());
        assert!(parse_rfc3339("2025-01-01T00:00:60Z").is_none());
        assert!(parse_rfc3339("2025-01-01T00:00:00Zjunk").is_none());
        assert!(parse_rfc3339("2025-1-01T00:00:00Z").is_none());
        assert!(parse_rfc3339("2025-01-01t00:00:00z").is_none());
        assert_eq!(
            format_rfc3339_utc(parse_rfc3339("1969-12-31T23:59:59Z").unwrap()),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            format_rfc3339_utc(parse_rfc3339("0001-01-01T00:00:00Z").unwrap()),
            "0001-01-01T00:00:00Z"
        );
        assert!(
            parse_rfc3339("0001-01-01T01:00:00+01:00")
                .unwrap()
                .is_zero()
        );
    }
}
