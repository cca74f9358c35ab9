//! The routing layer: which path runs what, and the live table of it.
//!
//! [`router`] maps a path to a route (pure data); a route is a [`Chain`](chain::Chain) of
//! middleware components in front of its own component or an
//! [`upstream`] server, each middleware passing the request on in-process
//! ([`chain`]); the [`Registry`] holds the current [`Snapshot`] of every
//! route, built at start-up and on every reload, and swapped atomically.
//!
//! Inside the layer the files form a chain of their own: `registry` →
//! `chain` → `upstream` → `origin`, and `registry` → `router`.

pub mod chain;
pub mod origin;
pub mod registry;
pub mod router;
pub mod upstream;

pub use registry::{Change, Registry, Route, Snapshot, Strictness};
pub use router::Router;
