//! The serve layer: connections in, responses out.
//!
//! [`server`] accepts connections (HTTP/1.1 and HTTP/2, cleartext or
//! [`tls`]) and hands each request to the [`Service`], which routes it,
//! gives it a request id, admits it against the route's and the server's
//! slots, runs its chain and turns any failure into a status, so the
//! connection layer only ever sees a response. The access line and the
//! request metrics are written when the body ends ([`access`]). Each
//! connection's task keeps the deadlines hyper cannot (first request head,
//! idle, a client that stopped reading: [`connection`]), and each listener
//! holds a bounded number of connections ([`limit`]).

pub mod access;
pub mod connection;
pub mod limit;
pub mod process;
pub mod server;
pub mod service;
pub mod tls;

pub use server::{serve, ServerOptions};
pub use service::Service;
