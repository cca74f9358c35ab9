//! Switchyard's integration tests, as one test binary.
//!
//! One binary instead of one per file, as wasmtime's own `tests/all` does:
//! wasmtime and the rest of the host are linked once, not once per file,
//! and the shared [`common::host`] compiles each component once per run.
//! Each module covers one area (the table is in `host/tests/README.md`);
//! run one with `cargo test --test all -- reload::`.

mod common;

mod admin;
mod admin_writes;
mod build;
mod check;
mod compile_cache;

mod connections;
mod container;
mod deploy;
mod dev;
mod failures;
mod guardrails;
mod handler_coverage;
mod host_memory;
mod key_value;
mod key_value_redis;
mod layers;
mod log_queue;
mod malformed;
mod metrics;
mod middleware;
mod new;
mod outbound;
mod outbound_private;
mod p3;
mod paths;
mod polyglot;
mod properties;
mod reload;
mod reload_stable;
mod reuse;
mod routes;
mod shutdown;
mod slow_readers;
mod startup;
mod streaming;
mod templates;
mod tls;
mod traces;
mod upstream;
mod variables;
mod wit_deps;
