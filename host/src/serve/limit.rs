//! How many client connections a listener holds at once, and what happens
//! to the one after: it is accepted and closed at once, and counted.
//!
//! Without a cap, a client that opens connections and sends nothing can use
//! up the process's file descriptors; then `accept` fails for everyone,
//! including the admin listener's `/healthz`, and an orchestrator restarts
//! a pod that one unauthenticated client is holding down. So
//! `[server] max_connections` defaults to the open-file limit less a reserve
//! (the admin listener's own budget, upstream connections, component and
//! cache files), and a connection beyond it is closed right after `accept`
//! rather than left in the kernel's backlog, where its client would hang.

use crate::config::ADMIN_MAX_CONNECTIONS;
use crate::telemetry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most `max_connections` defaults to, however high the fd limit: each
/// connection costs memory too (buffers, TLS and HTTP/2 state).
pub const MAX_DEFAULT_CONNECTIONS: usize = 8192;

/// File descriptors the default `max_connections` leaves for everything
/// else: the admin listener's budget, then room for outbound connections
/// (upstreams, guests' requests), component and cache files, the watcher.
/// Never more than half the limit.
pub const FD_RESERVE: u64 = 1024 + ADMIN_MAX_CONNECTIONS as u64;

/// The default `max_connections` for an open-file limit of `nofile`.
pub fn default_max_connections(nofile: u64) -> usize {
    let reserve = FD_RESERVE.min(nofile / 2);
    let budget = nofile.saturating_sub(reserve).max(1);
    usize::try_from(budget)
        .unwrap_or(usize::MAX)
        .min(MAX_DEFAULT_CONNECTIONS)
}

/// The process's soft open-file limit (`RLIMIT_NOFILE`), if it has one.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// `configured`, or the default for this process's open-file limit; warns
/// when a configured cap leaves the process no descriptors to spare.
pub fn max_connections(configured: Option<usize>) -> usize {
    let nofile = open_file_limit();
    let fitting = nofile.map_or(MAX_DEFAULT_CONNECTIONS, default_max_connections);
    match configured {
        None => fitting,
        Some(n) => {
            if let Some(nofile) =
                nofile.filter(|&nofile| n as u64 + FD_RESERVE.min(nofile / 2) > nofile)
            {
                tracing::warn!(
                    "[server] max_connections = {n} does not fit the open-file limit ({nofile}): \
                     the server may run out of file descriptors before it refuses connections"
                );
            }
            n
        }
    }
}

/// A listener's connection budget.
pub struct ConnectionLimit {
    slots: Arc<Semaphore>,
    max: usize,
    /// `listener` label of the refusal counter.
    listener: &'static str,
    /// When a refusal was last logged at warn level (at most one per 10 s).
    warned: Mutex<Option<Instant>>,
}

/// How often a flood of refusals is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

impl ConnectionLimit {
    pub fn new(max: usize, listener: &'static str) -> ConnectionLimit {
        ConnectionLimit {
            slots: Arc::new(Semaphore::new(max)),
            max,
            listener,
            warned: Mutex::new(None),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for one accepted connection, held for as long as it is open;
    /// `None` (counted and logged) when the listener is full: the caller
    /// closes the connection at once.
    pub fn admit(&self, peer: std::net::SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        telemetry::connection_refused(self.listener);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *warned = Some(Instant::now());
            tracing::warn!(
                %peer,
                listener = self.listener,
                "{} connections open, the most allowed: closing new connections at once",
                self.max
            );
        } else {
            tracing::debug!(%peer, listener = self.listener, "connection refused: at the cap");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_reserve_and_is_capped() {
        // A container's usual limit: capped.
        assert_eq!(default_max_connections(1 << 20), MAX_DEFAULT_CONNECTIONS);
        // Room for the reserve: the rest.
        assert_eq!(default_max_connections(4096), 4096 - FD_RESERVE as usize);
        // A small limit: half of it, so the admin listener and outbound
        // connections still get descriptors.
        assert_eq!(default_max_connections(1024), 512);
        assert_eq!(default_max_connections(256), 128);
        assert_eq!(default_max_connections(1), 1);
    }

    #[test]
    fn a_full_listener_refuses_until_a_connection_closes() {
        let limit = ConnectionLimit::new(2, "test");
        let peer = "127.0.0.1:1".parse().unwrap();
        let first = limit.admit(peer).expect("room for one");
        let _second = limit.admit(peer).expect("room for two");
        assert!(limit.admit(peer).is_none());
        drop(first);
        assert!(limit.admit(peer).is_some());
    }
}
