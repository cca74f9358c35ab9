//! A guest's stdout and stderr, line by line, into the server log.
//!
//! Each line becomes one `tracing` event carrying the route and request id,
//! so output from concurrent requests never interleaves mid-line and can be
//! traced back to the request that printed it. Lines are capped so a guest
//! cannot make the host buffer without bound.
//!
//! The line being written belongs to the instance's stream, not to one
//! output-stream handle: guests (wasi-libc, language runtimes) often take a
//! fresh handle for each write, and `print("a", "b")` may arrive as several
//! writes through several handles. Each handle writes into the same pending
//! line, which is logged when its newline arrives or, when the instance ends
//! without one, when the last handle goes.

use crate::request::RequestTag;
use arc_swap::ArcSwap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; the rest of an over-long line is cut and marked.
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout,
    Stderr,
}

/// The request a line is tagged with: fixed for an instance that serves one
/// request; for a reused instance, whichever request it is serving now.
#[derive(Clone)]
enum Tag {
    Fixed(RequestTag),
    Current(Arc<ArcSwap<RequestTag>>),
}

/// A `StdoutStream` for wasmtime-wasi that writes into the log: one per
/// stream of an instance; its clones (one per handle) share the pending line.
#[derive(Clone)]
pub struct GuestLog {
    line: Arc<Mutex<Line>>,
}

impl GuestLog {
    fn new(tag: Tag, stream: Stream) -> GuestLog {
        GuestLog {
            line: Arc::new(Mutex::new(Line {
                tag,
                stream,
                text: Vec::new(),
                truncated: false,
            })),
        }
    }

    pub fn stdout(tag: RequestTag) -> GuestLog {
        GuestLog::new(Tag::Fixed(tag), Stream::Stdout)
    }

    pub fn stderr(tag: RequestTag) -> GuestLog {
        GuestLog::new(Tag::Fixed(tag), Stream::Stderr)
    }

    /// Stdout of a reused instance: each line is tagged with the request
    /// `current` holds when the line ends.
    pub fn stdout_of_current(current: Arc<ArcSwap<RequestTag>>) -> GuestLog {
        GuestLog::new(Tag::Current(current), Stream::Stdout)
    }

    /// Stderr of a reused instance; see [`GuestLog::stdout_of_current`].
    pub fn stderr_of_current(current: Arc<ArcSwap<RequestTag>>) -> GuestLog {
        GuestLog::new(Tag::Current(current), Stream::Stderr)
    }

    fn push(&self, bytes: &[u8]) {
        // A poisoned lock only means a panic mid-push; the line is still usable.
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        line.push(bytes);
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { log: self.clone() })
    }
}

/// The line a stream is writing, and what to tag it with.
struct Line {
    tag: Tag,
    stream: Stream,
    text: Vec<u8>,
    truncated: bool,
}

impl Line {
    fn emit(&mut self) {
        if self.text.is_empty() && !self.truncated {
            return;
        }
        let text = String::from_utf8_lossy(&self.text);
        let text = text.trim_end_matches('\r');
        let cut = if self.truncated {
            " [line truncated]"
        } else {
            ""
        };
        let current;
        let tag = match &self.tag {
            Tag::Fixed(tag) => tag,
            Tag::Current(cell) => {
                current = cell.load();
                &**current
            }
        };
        let (route, request_id, trace_id) = (&tag.route, &tag.request_id, tag.trace_id());
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "switchyard::guest", %route, %request_id, trace_id, "stdout: {text}{cut}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "switchyard::guest", %route, %request_id, trace_id, "stderr: {text}{cut}")
            }
        }
        self.text.clear();
        self.truncated = false;
    }

    fn push(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let (body, ends_line) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            let room = MAX_LINE.saturating_sub(self.text.len());
            self.text.extend_from_slice(&body[..body.len().min(room)]);
            self.truncated |= body.len() > room;
            if ends_line {
                self.emit();
            }
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        // The instance is gone: a last line without a newline is still
        // worth logging.
        self.emit();
    }
}

/// One output-stream handle of the guest's.
struct LineWriter {
    log: GuestLog,
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.log.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
