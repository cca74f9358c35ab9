//! The runtime layer: wasmtime engines, the linker every handler is
//! instantiated with, and compiled components (in memory and on disk).
//!
//! [`Host`] is the one entry point: bytes in, a pre-instantiated
//! `wasi:http/proxy` (0.2) or `wasi:http/service` (0.3) handler out, on the
//! engine its route needs; [`World`] tells which a component is before it
//! is compiled. The
//! engine's settings live in [`tuning`], measured against the benchmark;
//! the on-disk cache in [`compile_cache`]. The store type the linker names
//! comes from the guest layer below, which is why that layer sits under
//! this one (as in `wasmtime serve`: the store struct first, then the
//! linker).

pub mod compile_cache;
pub mod digest;
pub mod header;
mod host;
mod incremental;
pub mod tuning;
mod world;

pub use digest::{digest, digest_hex, Digest};
pub use host::{HandlerPre, Host};
pub use world::World;
