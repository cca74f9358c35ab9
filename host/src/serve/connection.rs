//! One client connection's deadlines, kept by the connection's own task
//! because hyper cannot keep them.
//!
//! - **The first request head** must be complete within
//!   `header_read_timeout` of `accept`, whatever the client sends: nothing,
//!   part of the HTTP/2 preface, part of an HTTP/1.1 head, or (over TLS) a
//!   handshake and then nothing. hyper's own header timer starts only once
//!   hyper-util's auto builder has sniffed HTTP/1 from HTTP/2, which waits
//!   for as many bytes as the 24-byte preface, forever; and HTTP/2 has no
//!   header timer at all. hyper's timer still covers later HTTP/1.1 heads.
//! - **Idle**: a connection with no request in flight for `idle_timeout` is
//!   shut down gracefully (a GOAWAY on HTTP/2, whose keep-alive pings a
//!   client answers forever), and dropped if it lingers.
//! - **A client that stops reading**: each response's [`Progress`] says
//!   since when hyper has had something to send and not come back for more;
//!   after `write_timeout` the connection is dropped, which drops its
//!   bodies, so the route's and the server's slots (and an upstream's
//!   connection) are released, and the access line says `client stalled`.
//!   On HTTP/2 this closes the client's other streams too: hyper offers no
//!   handle to reset one stream from outside it.

use crate::body::{Holding, Progress, Watched};
use crate::config::ServerLimits;
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// What a connection's requests tell its task.
pub struct Tracker {
    /// A request head has been received.
    head_seen: AtomicBool,
    /// Requests whose response is not finished.
    in_flight: AtomicUsize,
    /// When `in_flight` last fell to 0 (or the first head arrived).
    idle_since: Mutex<Instant>,
    /// The responses being sent (dead ones are pruned at each check).
    responses: Mutex<Vec<Weak<Progress>>>,
    /// Wakes the connection's task when a request begins or ends, so it
    /// moves from one deadline to the next (head → write → idle).
    changed: Notify,
}

/// One request in flight on a connection: made when its head arrives, ended
/// when its response body ends or is dropped.
pub struct Active(Arc<Tracker>);

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *lock(&self.0.idle_since) = Instant::now();
            self.0.changed.notify_one();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tracker {
    pub fn new() -> Arc<Tracker> {
        Arc::new(Tracker {
            head_seen: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            responses: Mutex::new(Vec::new()),
            changed: Notify::new(),
        })
    }

    /// A request head arrived: the request is in flight until the returned
    /// guard drops, and its response's progress is watched.
    pub fn begin(self: &Arc<Self>, progress: &Arc<Progress>) -> Active {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_seen.store(true, Ordering::Release);
        let mut responses = lock(&self.responses);
        // Keep-alive connections serve many requests: forget finished ones.
        responses.retain(|weak| weak.strong_count() > 0);
        responses.push(Arc::downgrade(progress));
        drop(responses);
        self.changed.notify_one();
        Active(self.clone())
    }

    /// The response `response` of a request begun with `active`, watched.
    pub fn watch<B: Body>(
        response: hyper::Response<B>,
        progress: Arc<Progress>,
        active: Active,
    ) -> hyper::Response<Holding<Watched<B>, Active>> {
        response.map(|body| Holding {
            body: Watched::new(body, progress),
            held: Some(active),
        })
    }

    /// The responses whose client has owed a read since before `cutoff`.
    fn stalled(&self, cutoff: Instant) -> Vec<Arc<Progress>> {
        let mut responses = lock(&self.responses);
        responses.retain(|weak| weak.strong_count() > 0);
        responses
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| p.owed_since().is_some_and(|since| since <= cutoff))
            .collect()
    }

    /// The earliest instant a watched response would count as stalled.
    fn next_stall(&self, write_timeout: Duration) -> Option<Instant> {
        let responses = lock(&self.responses);
        responses
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|p| p.owed_since())
            .min()
            .map(|since| since + write_timeout)
    }
}

/// Why the task ended a connection itself.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// No deadline passed: check again later.
    Fine,
    /// No complete request head within the header read timeout.
    NoHead,
    /// No request in flight for the idle timeout.
    Idle,
    /// A response's client stopped reading.
    Stalled,
}

/// Serve `connection` (hyper's, for one accepted socket) until it ends, a
/// graceful shutdown (`shutdown` changes) completes, or one of the
/// deadlines in the module doc ends it. `head_deadline` is `accept` plus
/// the header read timeout, the TLS handshake included.
pub async fn drive<I, S, B>(
    connection: auto::Connection<'_, I, S, TokioExecutor>,
    tracker: Arc<Tracker>,
    limits: &ServerLimits,
    head_deadline: Instant,
    mut shutdown: watch::Receiver<()>,
    peer: SocketAddr,
) where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    TokioExecutor: auto::HttpServerConnExec<S::Future, B>,
{
    let mut connection = std::pin::pin!(connection);
    let mut draining = false;
    // Set when the task asked an idle connection to close: if it is still
    // open and idle this long after, it is dropped.
    let mut closing_since: Option<Instant> = None;
    loop {
        let wake = next_check(
            &tracker,
            limits,
            head_deadline,
            closing_since,
            Instant::now(),
        );
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%peer, "connection ended with an error: {error}");
                }
                return;
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tracker.changed.notified() => {}
            () = tokio::time::sleep_until(wake) => {
                match verdict(&tracker, limits, head_deadline, closing_since, Instant::now()) {
                    Verdict::Fine => {}
                    Verdict::NoHead => {
                        tracing::debug!(
                            %peer,
                            "no complete request head within {:?} of connecting: closing the connection",
                            limits.header_read_timeout
                        );
                        return;
                    }
                    Verdict::Idle if closing_since.is_none() => {
                        tracing::debug!(%peer, "idle for {:?}: closing the connection", limits.idle_timeout);
                        closing_since = Some(Instant::now());
                        connection.as_mut().graceful_shutdown();
                    }
                    Verdict::Idle => {
                        tracing::debug!(%peer, "idle connection did not close: dropping it");
                        return;
                    }
                    Verdict::Stalled => {
                        tracing::warn!(
                            %peer,
                            "client stopped reading for {:?}: closing the connection",
                            limits.write_timeout
                        );
                        return;
                    }
                }
            }
        }
    }
}

/// When the task should next look at the deadlines.
fn next_check(
    tracker: &Tracker,
    limits: &ServerLimits,
    head_deadline: Instant,
    closing_since: Option<Instant>,
    now: Instant,
) -> Instant {
    if !tracker.head_seen.load(Ordering::Acquire) {
        return head_deadline;
    }
    if tracker.in_flight.load(Ordering::Acquire) == 0 {
        return match closing_since {
            Some(since) => since + limits.header_read_timeout,
            None => *lock(&tracker.idle_since) + limits.idle_timeout,
        };
    }
    // A response may start owing a read at any moment (HTTP/2 bodies are
    // polled in tasks of their own), so look again at least twice per
    // write timeout; a stall is then cut within 1.5 × write_timeout.
    let again = now + limits.write_timeout / 2;
    match tracker.next_stall(limits.write_timeout) {
        Some(stall) => stall.min(again),
        None => again,
    }
}

/// Which deadline, if any, has passed at `now`. Marks the stalled
/// responses, so their access lines say so when the connection drops them.
fn verdict(
    tracker: &Tracker,
    limits: &ServerLimits,
    head_deadline: Instant,
    closing_since: Option<Instant>,
    now: Instant,
) -> Verdict {
    if !tracker.head_seen.load(Ordering::Acquire) {
        return if now >= head_deadline {
            Verdict::NoHead
        } else {
            Verdict::Fine
        };
    }
    if tracker.in_flight.load(Ordering::Acquire) == 0 {
        let due = match closing_since {
            Some(since) => since + limits.header_read_timeout,
            None => *lock(&tracker.idle_since) + limits.idle_timeout,
        };
        return if now >= due {
            Verdict::Idle
        } else {
            Verdict::Fine
        };
    }
    let Some(cutoff) = now.checked_sub(limits.write_timeout) else {
        return Verdict::Fine;
    };
    let stalled = tracker.stalled(cutoff);
    if stalled.is_empty() {
        return Verdict::Fine;
    }
    for progress in &stalled {
        progress.mark_stalled();
    }
    Verdict::Stalled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(200),
            write_timeout: Duration::from_millis(300),
            ..ServerLimits::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_connection_without_a_head_is_due_at_the_header_deadline() {
        let tracker = Tracker::new();
        let t0 = Instant::now();
        let deadline = t0 + limits().header_read_timeout;
        assert_eq!(
            next_check(&tracker, &limits(), deadline, None, t0),
            deadline
        );
        let at = |t| verdict(&tracker, &limits(), deadline, None, t);
        assert_eq!(at(t0 + ms(99)), Verdict::Fine);
        assert_eq!(at(deadline), Verdict::NoHead);
    }

    #[test]
    fn a_response_the_client_does_not_take_is_stalled_after_the_write_timeout() {
        let tracker = Tracker::new();
        let deadline = Instant::now();
        let progress = Progress::new();
        let active = tracker.begin(&progress);
        let at = |t| verdict(&tracker, &limits(), deadline, None, t);
        // The handler takes its time: not the client's fault.
        assert_eq!(at(Instant::now() + ms(5000)), Verdict::Fine);
        let body = http_body_util::Full::new(bytes::Bytes::from_static(b"x"));
        let _body = Watched::new(body, progress.clone());
        let owed = progress.owed_since().unwrap();
        assert_eq!(
            next_check(&tracker, &limits(), deadline, None, owed),
            owed + limits().write_timeout / 2,
            "looks again within the write timeout"
        );
        assert_eq!(at(owed + ms(299)), Verdict::Fine);
        assert!(!progress.stalled());
        assert_eq!(at(owed + ms(300)), Verdict::Stalled);
        assert!(progress.stalled());
        drop(active);
        // With nothing in flight, the idle clock runs from the drop.
        let idle = Instant::now();
        assert_eq!(at(idle + ms(199)), Verdict::Fine);
        assert_eq!(at(idle + ms(200)), Verdict::Idle);
    }
}
