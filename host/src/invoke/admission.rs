//! The instance slots a request holds while its guest runs.
//!
//! The server admits a request by taking one slot of its route
//! (`max_concurrency`) and one of the server (`max_concurrent_requests`);
//! whatever runs the request (a fresh instance's task, a reused instance's
//! ticket, an upstream's response body) holds the [`Admission`] until the
//! response is done, so streaming counts against both limits.

use tokio::sync::OwnedSemaphorePermit;

/// One route slot and one server slot, released together when dropped.
pub struct Admission {
    pub route: OwnedSemaphorePermit,
    pub server: OwnedSemaphorePermit,
}
