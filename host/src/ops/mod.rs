//! The ops layer: what operators and tools do to a running (or not yet
//! running) server, on top of everything below.
//!
//! - [`admin`]: the admin listener (metrics, health, readiness, and the
//!   token-guarded route API that swaps components live);
//! - [`reload`]: hot reload, watching the config file and every routed
//!   `.wasm`, rebuilding off the request path and swapping on success;
//! - [`build`]: `switchyard build`, running routes' `[route.build]` commands;
//! - [`check`]: `switchyard check`, whether this host can serve a `.wasm`
//!   file and if not, why;
//! - [`wit`]: `switchyard wit`, the WIT handlers build against, from the
//!   binary;
//! - [`scaffold`]: `switchyard new`, a project and its handlers from
//!   templates;
//! - [`dev`]: `switchyard dev`, rebuilding a route when its sources change.

pub mod admin;
pub mod build;
pub mod check;
pub mod dev;
pub mod reload;
pub mod scaffold;
pub mod wit;
