//! Kubernetes protobuf bodies, to and from the JSON kube-apiserver would make of
//! them, for every kind of the stable built-in group-versions.
//!
//! Typed Go clients (kubectl's `create`, `run`, `expose`, client-go informers)
//! speak `application/vnd.kubernetes.protobuf`: the object's message inside
//! the `k8s\0` envelope, a `runtime.Unknown`. A server that keeps JSON needs
//! the JSON the same request would have carried. This crate gives it:
//!
//! ```text
//!   k8s\0 + Unknown{typeMeta, raw}  --decode-->  serde_json::Value
//!                                   <--encode--
//!   4-byte length + WatchEvent{type, object: k8s\0 + Unknown}  (watch frames)
//! ```
//!
//! # Why a schema and a table, not k8s-pb's structs
//! The wire format is [`prost_reflect`]'s: dynamic messages over the
//! descriptors of Kubernetes' own `generated.proto` files
//! (`schema/kubernetes.binpb`). `k8s-pb` has the same messages as Rust types
//! but no mapping to JSON, and the mapping is where the meaning is:
//! - **Zero values.** Go writes every non-pointer field, zero or not, so a `0`,
//!   `""` or `false` on the wire is "unset" for an `omitempty` field and
//!   meant for a pointer (`replicas: 0`, `automountServiceAccountToken:
//!   false`) or a field JSON always carries. The protos cannot say which;
//!   the Go struct tags can, and `schema/fields.txt` lists them (`cargo xtask
//!   protobuf-schema` regenerates both files).
//! - **Embedded structs.** `Volume.volumeSource`, `Probe.handler` and a few
//!   more are nested messages in protobuf and inlined in JSON.
//! - **Special types**, as apimachinery marshals them: `Time` (RFC 3339,
//!   seconds; an empty one is `null`), `MicroTime` (microseconds),
//!   `Duration` (Go's `1h0m0s`), `IntOrString`, `Quantity` (its string),
//!   `RawExtension`, `FieldsV1` and apiextensions' `JSON` (embedded JSON),
//!   `JSONSchemaPropsOr{Array,Bool,StringArray}` and `$ref`.
//!
//! Lists and maps that are empty are absent, as Go's decoder leaves them nil.
//! Custom resources have no protobuf form: [`supports`] says no, [`encode`]
//! and [`decode`] give [`Error::UnknownKind`].

#![forbid(unsafe_code)]

mod decode;
mod encode;
mod envelope;
mod gotime;
mod schema;

pub use decode::decode;
pub use encode::encode;
pub use envelope::{WATCH_MEDIA_TYPE, watch_frame};
pub use schema::supports;

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// What can go wrong between protobuf and JSON.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body does not start with the `k8s\0` envelope.
    #[error("protobuf body without the k8s envelope")]
    NoEnvelope,
    /// The bytes are not the message they claim to be.
    #[error("decoding protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
    /// No message for this kind (custom resources, unserved versions).
    #[error("no protobuf message for {api_version}, Kind={kind}")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// A JSON value that the message's field cannot hold.
    #[error("{field}: {message}")]
    Field {
        /// The field's path, dotted.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Field {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}
