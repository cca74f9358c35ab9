//! The guest layer: what one instance may see and do.
//!
//! Everything a component's `Store` holds is made here: its WASI context
//! (the route's env and nothing of the host's, no files, no sockets), its
//! stdout/stderr into the server log ([`log`]), its memory budgets (linear
//! memory, and what it makes the host allocate: [`budget`]), and the
//! hooks its outbound HTTP goes through ([`outbound`]): the route's
//! allow-list, or, for a middleware, the rest of its chain behind the
//! reserved `next` authority ([`next`]); the route's wasi:config
//! variables and wasi:keyvalue stores ([`grants`], [`keyvalue`]). It knows
//! nothing of engines,
//! routes or servers; the layers above build a [`RequestState`] per
//! instance and hand it to wasmtime.

pub mod budget;
pub mod grants;
pub mod keyvalue;
pub mod log;
pub mod next;
pub mod outbound;
pub mod state;

pub use grants::Grants;
pub use next::{NextHop, NextResponse, NEXT_AUTHORITY};
pub use outbound::{OutboundGate, OutboundLimits};
pub use state::RequestState;
