//! The server log's writer, off the request path.
//!
//! Every request writes an access line, and guests' output becomes log
//! lines too. Written straight to stderr, each line is a `write(2)` on the
//! tokio worker that served the request, and when stderr is slow (a
//! terminal, a pipe nobody drains fast enough, a full journald socket)
//! that write blocks the worker and every connection on it. So lines go
//! into a bounded queue that one thread drains to stderr; when the queue
//! is full a line is dropped, never waited for, and counted
//! (`switchyard_log_lines_dropped_total` on `/metrics`).
//!
//! The queue holds at most [`QUEUED_LINES`] lines: an access line is about
//! 200 bytes and a guest line at most 4 KiB (`guest/log.rs`), so at most
//! ~18 MiB, and typically under 1 MiB, however fast lines arrive.

use std::sync::OnceLock;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines the queue holds before it drops new ones.
pub const QUEUED_LINES: usize = 4096;

/// The drop count of the process's log queue, once [`stderr`] made it.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// A writer for the log subscriber that queues lines for stderr. Keep the
/// guard for as long as the process logs: dropping it writes out what is
/// queued (waiting at most a second).
pub fn stderr() -> (NonBlocking, WorkerGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("switchyard-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    (writer, guard)
}

/// Log lines dropped so far because the queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}
