//! The invoke layer: one request on one loaded component.
//!
//! [`Handler::load`] turns a route's component into a handler once;
//! [`Handler::invoke`] runs each request on a fresh instance (a 0.3
//! component's, and an `instance_reuse` route's, from the route's [`pool`])
//! within the route's budget, holding the request's [`Admission`] until its
//! response body ends ([`guarded`], which also cuts the body short when
//! the guest fails mid-stream). Every way it can go wrong is one
//! [`InvokeError`], which knows its status and how to log itself. Nothing
//! here knows about routes, chains or connections.

mod admission;
mod error;
mod fate;
mod fresh;
mod guarded;
mod handler;
mod instances;
mod limited;
mod pool;
mod traced;

pub use admission::{Admission, InstanceSlot};
pub use error::InvokeError;
pub use handler::{Handler, LoadError};
