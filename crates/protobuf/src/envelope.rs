//! The `k8s\0` envelope around every protobuf object (`runtime.Unknown`), and
//! the length-prefixed frames of a protobuf watch.

use k8s_envelope::{TypeMeta, Unknown};
use prost::Message;

use crate::Error;

/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

const MAGIC: &[u8] = b"k8s\0";

/// The messages of the envelope, as apimachinery's `runtime` package defines
/// them (two small messages: not worth a dependency on k8s-pb here).
mod k8s_envelope {
    /// `runtime.TypeMeta`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeMeta {
        #[prost(string, optional, tag = "1")]
        pub api_version: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub kind: Option<String>,
    }

    /// `runtime.Unknown`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Unknown {
        #[prost(message, optional, tag = "1")]
        pub type_meta: Option<TypeMeta>,
        #[prost(bytes = "vec", optional, tag = "2")]
        pub raw: Option<Vec<u8>>,
        #[prost(string, optional, tag = "3")]
        pub content_encoding: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub content_type: Option<String>,
    }
}

/// The apiVersion, kind and message bytes inside an enveloped body.
pub(crate) fn open(body: &[u8]) -> Result<(String, String, Vec<u8>), Error> {
    let inner = body.strip_prefix(MAGIC).ok_or(Error::NoEnvelope)?;
    let unknown = Unknown::decode(inner)?;
    let meta = unknown.type_meta.unwrap_or_default();
    Ok((
        meta.api_version.unwrap_or_default(),
        meta.kind.unwrap_or_default(),
        unknown.raw.unwrap_or_default(),
    ))
}

/// `raw` in the envelope, typed `api_version`/`kind`.
pub(crate) fn seal(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// One frame of a protobuf watch: a `meta/v1` WatchEvent of `event_type`
/// whose object is `object` (an enveloped body, as [`crate::encode`] gives),
/// behind its length as four big-endian bytes.
pub fn watch_frame(event_type: &str, object: Vec<u8>) -> Vec<u8> {
    /// `metav1.WatchEvent`, its object a `runtime.RawExtension`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WatchEvent {
        #[prost(string, optional, tag = "1")]
        r#type: Option<String>,
        #[prost(message, optional, tag = "2")]
        object: Option<RawExtension>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawExtension {
        #[prost(bytes = "vec", optional, tag = "1")]
        raw: Option<Vec<u8>>,
    }
    let event = WatchEvent {
        r#type: Some(event_type.to_owned()),
        object: Some(RawExtension { raw: Some(object) }),
    }
    .encode_to_vec();
    let len = u32::try_from(event.len()).unwrap_or(u32::MAX);
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend(event);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let body = seal("v1", "ConfigMap", vec![1, 2, 3]);
        assert!(body.starts_with(b"k8s\0"));
        assert_eq!(
            open(&body).unwrap(),
            ("v1".into(), "ConfigMap".into(), vec![1, 2, 3])
        );
        assert!(matches!(open(b"{}"), Err(Error::NoEnvelope)));
        let frame = watch_frame("ADDED", body);
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
    }
}
