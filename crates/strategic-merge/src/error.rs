//! Errors of strategic merge patch application.
//!
//! Every variant's `Display` is the exact text that k8s.io/apimachinery's `strategicpatch`
//! (and `mergepatch`) produce for the same situation, so that an API server built on this
//! module reports what kube-apiserver reports.  How kube-apiserver turns these errors into
//! an HTTP response (`interpretStrategicMergePatchError` in
//! `k8s.io/apiserver/pkg/endpoints/handlers/patch.go`) is available through
//! [`Error::http_status`], [`Error::status_reason`] and [`Error::status_message`].

use thiserror::Error;

/// An error raised while applying a strategic merge patch.
///
/// The `Display` text of each variant is Kubernetes' own message for it (see the variant
/// documentation for the Go origin).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// `mergepatch.ErrBadJSONDoc`: the original document is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,

    /// The request body is valid JSON but not an object (or `null`).  kube-apiserver fails to
    /// decode it into `map[string]interface{}` and answers 400 with the Go decoder's message;
    /// the payload is the JSON type name Go reports (`array`, `string`, `number`, `bool`).
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    PatchNotObject(&'static str),

    /// `mergepatch.ErrNoListOfLists`.
    #[error("lists of lists are not supported")]
    NoListOfLists,

    /// `mergepatch.ErrBadPatchFormatForPrimitiveList`: a malformed `$deleteFromPrimitiveList/...` key.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,

    /// `mergepatch.ErrBadPatchFormatForRetainKeys`: `$retainKeys` is not a list, or the patch
    /// sets a field that the list does not retain.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,

    /// `mergepatch.ErrBadPatchFormatForSetElementOrderList`: a malformed `$setElementOrder/...` key.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,

    /// `mergepatch.ErrNoMergeKey`: a list element lacks the field's merge key.
    /// `map` is the element rendered with Go's `%v`.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The offending element, formatted like Go's `fmt` `%v` of a `map[string]interface{}`.
        map: String,
        /// The merge key that was expected.
        key: String,
    },

    /// `mergepatch.ErrBadArgType`: a value had the wrong JSON type.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        /// Go type that was expected (`map[string]interface {}` or `[]interface {}`).
        expected: &'static str,
        /// Go type that was received (for `null`: `%!s(<nil>)`, as Go prints it).
        actual: &'static str,
    },

    /// `mergepatch.ErrBadPatchType`: an unknown `$patch` directive value.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType {
        /// The directive value formatted with Go's `%s`.
        directive: String,
        /// The map holding the directive formatted with Go's `%v`.
        map: String,
    },

    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,

    /// A merge-strategy list of objects without a merge key; the payload is the Go kind of
    /// the list's element type.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyForType(String),

    /// The elements of the original and patch lists do not all have the same JSON type;
    /// the payload is Go's `fmt.Sprint` of the lists.
    #[error("list element types are not identical: {0}")]
    ElementTypesNotIdentical(String),

    /// `sliceElementType` found no element at all (a `$setElementOrder` list for a field
    /// that is empty in the original and absent from the patch).
    #[error("no elements in any of the given slices")]
    NoElements,

    /// The patch list's order contradicts its `$setElementOrder` list (or has items that the
    /// order list does not).  Both lists are rendered with Go's `%v`.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch {
        /// The patch list, Go `%v`.
        patch: String,
        /// The `$setElementOrder` list, Go `%v`.
        order: String,
    },

    /// A list expected to hold objects has a non-object at the given index.
    #[error("value for key {0} is not a map")]
    ValueNotAMap(usize),

    /// A `$setElementOrder` directive names a field whose Go type is a (non-pointer) struct;
    /// the payload is the Go kind of the enclosing type.
    #[error("expected slice or array type, but got: {0}")]
    NotASlice(&'static str),

    /// Patch metadata lookup below a field whose Go type is not a struct.
    #[error("merging an object in json but data type is not struct, instead is: {0}")]
    NotAStruct(&'static str),

    /// The Go implementation panics on this input (nil dereference, comparing or hashing an
    /// uncomparable value).  kube-apiserver recovers the panic and answers
    /// `500 Internal Server Error` with a plain-text body — which is this variant's `Display`.
    /// `reason` is the Go runtime error that would be logged.
    #[error("This request caused apiserver to panic. Look in the logs for details.")]
    Panic {
        /// The Go runtime error message of the panic (for logs only).
        reason: String,
    },

    /// The original or the patch nests deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    /// Not a Kubernetes error: Go's JSON decoder accepts up to 10000 levels; this module
    /// refuses earlier to bound recursion.
    #[error("json: exceeded max depth")]
    TooDeep,
}

impl Error {
    /// Build the panic variant from a Go runtime error message.
    pub(crate) fn panic(reason: impl Into<String>) -> Self {
        Error::Panic {
            reason: reason.into(),
        }
    }

    /// The HTTP status kube-apiserver answers with when a PATCH fails with this error.
    ///
    /// 400 for the malformed-directive errors that `interpretStrategicMergePatchError` maps to
    /// `BadRequest`, 422 for the ones it maps to a generic `Invalid` response, 500 for every
    /// other error (kube-apiserver returns them unwrapped, which `ErrorToAPIStatus` turns into
    /// an internal error) and for panics.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadJsonDoc
            | Error::PatchNotObject(_)
            | Error::BadPatchFormatForPrimitiveList
            | Error::BadPatchFormatForRetainKeys
            | Error::BadPatchFormatForSetElementOrderList
            | Error::TooDeep => 400,
            Error::NoListOfLists => 422,
            _ => 500,
        }
    }

    /// The `metav1.Status` `reason` of the error response: `BadRequest` for 400, `Invalid`
    /// for 422, and the empty `StatusReasonUnknown` for the others (a panic has no `Status`
    /// body at all; its body is plain text).
    pub fn status_reason(&self) -> &'static str {
        match self.http_status() {
            400 => "BadRequest",
            422 => "Invalid",
            _ => "",
        }
    }

    /// The `metav1.Status` `message` a client receives.  For 422 kube-apiserver replaces the
    /// error text with the generic `NewGenericServerResponse` message; for a panic this is the
    /// plain-text body.
    pub fn status_message(&self) -> String {
        match self.http_status() {
            422 => "the server rejected our request due to an error in our request".to_string(),
            _ => self.to_string(),
        }
    }

    /// Whether this error stands for a panic of the Go implementation.
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panic { .. })
    }
}
