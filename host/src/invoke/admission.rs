//! The instance slots a request holds while its guest runs.
//!
//! The server admits a request by taking one slot of its route
//! (`max_concurrency`) and, of the server (`max_concurrent_requests`), one
//! slot per instance the request will run: a chain of k components takes k,
//! all at once, so the engine's instance pool (sized to the server's slots)
//! can never run out mid-chain, and a request never holds some slots while
//! waiting for others (no deadlock when every slot is taken). Whatever runs
//! the request (a fresh instance's task, a reused instance's ticket, an
//! upstream's response body) holds the [`Admission`] until the response is
//! done, so streaming counts against both limits; a chain's inner elements
//! each hold one of its server slots ([`InstanceSlot::Inner`]).

use tokio::sync::OwnedSemaphorePermit;

/// One route slot and the request's server slots, released together when
/// dropped.
pub struct Admission {
    pub route: OwnedSemaphorePermit,
    pub server: OwnedSemaphorePermit,
}

impl Admission {
    /// The server slots beyond the first, for the chain's later elements.
    pub fn split_rest(&mut self) -> Option<OwnedSemaphorePermit> {
        match self.server.num_permits() {
            0 | 1 => None,
            n => self.server.split(n - 1),
        }
    }
}

/// What one fresh instance holds while it lives: the request's admission
/// (the first element of a chain, or a plain route), or one server slot of
/// it (a later element of a chain). Dropped after the instance's store, so
/// a slot is free again only once its pool slot is.
pub enum InstanceSlot {
    First(Admission),
    Inner(OwnedSemaphorePermit),
}
