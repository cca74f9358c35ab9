//! wasi:keyvalue for guests: the stores a route may open, on embedded
//! SQLite, Redis or process memory.
//!
//! wasmtime-wasi-keyvalue serves only a map that each `open` copies, so its
//! writes never outlive the bucket handle; this module is our own host of
//! the same WIT (`wit/deps/keyvalue`, synced from that crate). The pieces:
//!
//! - [`Stores`]: every declared store, swapped whole on reload; a store whose
//!   settings did not change keeps its backend (open connections, the same
//!   memory map).
//! - [`Store`]: one store's limits, time bound and metrics around a backend
//!   ([`sqlite`], [`redis`], [`memory`]), which agree on what a counter is
//!   (`counter`).
//! - [`KeyValueAccess`]: what one instance may open (its route's grants) and
//!   until when (the request's deadline); `bindings` turns guest calls into
//!   store calls.
//!
//! Every failure reaches the guest as `error::other(message)` (or
//! `access-denied` / `no-such-store` from `open`) and the log as one line
//! naming the route, request and store; nothing traps the guest.

mod bindings;
mod counter;
mod memory;
mod redis;
mod sqlite;
mod store;
mod stores;

pub use bindings::add_to_linker;
pub use bindings::KeyValueView;
pub use store::{OpenError, Store};
pub use stores::{StoreMap, Stores};

use crate::request::RequestTag;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys one `list-keys` call returns at most.
pub const LIST_PAGE: usize = 1000;
/// Keys one batch call (`get-many`, `set-many`, `delete-many`) takes at most.
pub const MAX_BATCH: usize = 1000;
/// Bytes of values one batch call moves at most.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// Why a store call failed: all of it is for the guest to read.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// A limit of the store or of this host (key or value size, batch size).
    #[error("{0}")]
    Refused(String),
    /// The backend did not answer in time.
    #[error("store '{store}' did not answer within {} ms", took.as_millis())]
    Timeout { store: Arc<str>, took: Duration },
    /// The backend failed.
    #[error("store '{store}' ({kind}): {message}")]
    Backend {
        store: Arc<str>,
        kind: &'static str,
        message: String,
    },
    /// The value at the key is not a decimal integer, or would overflow.
    #[error("{0}")]
    Counter(String),
}

impl KvError {
    /// The `outcome` label of the call's metric.
    fn outcome(&self) -> &'static str {
        match self {
            KvError::Refused(_) | KvError::Counter(_) => "refused",
            KvError::Timeout { .. } => "timeout",
            KvError::Backend { .. } => "error",
        }
    }
}

/// The stores one route's instances may open, shared by every instance.
#[derive(Clone)]
pub struct KeyValueGrant {
    stores: Arc<Stores>,
    granted: Arc<[String]>,
}

impl KeyValueGrant {
    /// `granted` of `stores` (names already validated against the config).
    pub fn new(stores: Arc<Stores>, granted: &[String]) -> KeyValueGrant {
        KeyValueGrant {
            stores,
            granted: granted.into(),
        }
    }

    /// The server's stores this grant draws from.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }
}

/// What one instance may open, for the request it serves now.
pub struct KeyValueAccess {
    grant: KeyValueGrant,
    tag: RequestTag,
    /// The request's deadline, when the instance serves one request at a
    /// time; every call ends before it.
    deadline: Option<Instant>,
    /// The route's timeout: the bound when no deadline is known.
    timeout: Duration,
}

impl KeyValueAccess {
    pub fn new(grant: KeyValueGrant, tag: RequestTag, timeout: Duration) -> KeyValueAccess {
        KeyValueAccess {
            grant,
            tag,
            deadline: None,
            timeout,
        }
    }

    /// The instance starts serving `tag`'s request, due at `deadline`.
    pub fn retag(&mut self, tag: &RequestTag, deadline: Option<Instant>) {
        self.tag = tag.clone();
        self.deadline = deadline;
    }

    /// How long the next call may take: the store's bound, within the
    /// request's deadline.
    fn budget(&self, store: &Store) -> Duration {
        let left = match self.deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => self.timeout,
        };
        store.timeout().min(left)
    }
}
