//! The unit an operator is made of: a named resource that brings one part of
//! the world in line with the object (`ensure_created`) and takes it away again
//! (`ensure_deleted`). Resources run in order on creation and in reverse order
//! on deletion.

use async_trait::async_trait;

use crate::outcome::Outcome;
use crate::request::Request;

/// The error a resource returns: any error type, boxed. The loop logs it with
/// the object's name, puts it in the Ready condition and a Warning Event, and
/// retries the object with backoff.
pub type ResourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One step of an operator.
///
/// Both methods must be idempotent: they run on every loop, and a steady state
/// should make no writes (see [`crate::crud`] for a helper that guarantees it).
#[async_trait]
pub trait Resource<K>: Send + Sync + 'static {
    /// A short name, unique within the operator (`secret`, `vault-role`);
    /// used in logs, metrics and conditions.
    fn name(&self) -> &str;

    /// Brings this part of the world in line with the object.
    async fn ensure_created(&self, request: &Request<K>) -> Result<Outcome, ResourceError>;

    /// Removes what `ensure_created` made. Runs when the object is being
    /// deleted, in reverse resource order; the finalizer is removed only after
    /// every resource returned without error and without keeping it.
    async fn ensure_deleted(&self, request: &Request<K>) -> Result<Outcome, ResourceError>;
}
