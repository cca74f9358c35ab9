//! Accepting connections and shutting down gracefully.
//!
//! Every connection is served by hyper-util's auto builder, which speaks
//! HTTP/1.1 (with keep-alive) and HTTP/2 on the same port: over cleartext
//! (h2 by prior knowledge), or over TLS when [`ServerOptions::tls`] is set
//! (see [`super::tls`]). The TLS handshake runs in the connection's own task,
//! so a slow or failing handshake never holds up the accept loop or other
//! connections; from `accept` to a complete first request head, handshake
//! included, a client has the header read timeout, and its task keeps the
//! idle and write deadlines too ([`super::connection`]). At most
//! `max_connections` are open at once ([`super::limit`]). On shutdown the
//! listener closes first, then in-flight requests get up to the shutdown
//! timeout to finish.

use super::connection::{self, Tracker};
use super::limit::{self, ConnectionLimit};
use super::service::Service;
use crate::body::Progress;
use crate::config::ServerLimits;
use crate::request::{ClientAddr, OverTls};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// Connection-level settings.
#[derive(Clone)]
pub struct ServerOptions {
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_timeout: Duration,
    /// Header sizes and connection timeouts.
    pub limits: ServerLimits,
    /// Serve HTTPS with this acceptor ([`super::tls::acceptor`]) instead of
    /// cleartext.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            shutdown_timeout: Duration::from_secs(30),
            limits: ServerLimits::default(),
            tls: None,
        }
    }
}

/// Serve connections from `listener` until `shutdown` resolves, then drain.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let limits = Arc::new(options.limits.clone());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        // hyper's header timer also runs while a keep-alive connection
        // waits for its next request: it is the HTTP/1.1 idle limit too.
        // The first head's deadline is the connection task's (it covers
        // the protocol sniffing before hyper's timer starts).
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_header_count)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.idle_timeout);
    let builder = Arc::new(builder);
    // No guest of this host may call back into this listener.
    let own = listener
        .local_addr()
        .map(|addr| service.registry().host().own_addresses().hold(addr));
    let cap = ConnectionLimit::new(limit::max_connections(limits.max_connections), "main");
    tracing::info!(
        max_connections = cap.max(),
        open_file_limit = ?limit::open_file_limit(),
        "connection limit"
    );
    // Every connection task holds a receiver: a send starts their graceful
    // shutdown, and the channel closes when the last one has ended.
    let (drain, draining) = watch::channel(());
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let head_deadline = Instant::now() + limits.header_read_timeout;
        let Some(slot) = cap.admit(peer) else {
            drop(stream);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {error}");
        }
        let conn = Conn {
            builder: builder.clone(),
            service: service.clone(),
            limits: limits.clone(),
            draining: draining.clone(),
            head_deadline,
            peer,
        };
        let tls = options.tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => conn.serve(stream, false).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout_at(head_deadline, handshake).await {
                        Ok(Ok(stream)) => conn.serve(stream, true).await,
                        Ok(Err(error)) => tracing::debug!(%peer, "TLS handshake failed: {error}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }

    drop(own);
    drop(listener);
    drop(draining);
    tracing::info!(
        connections = drain.receiver_count(),
        "shutting down: no new connections; waiting up to {:?} for in-flight requests",
        options.shutdown_timeout
    );
    drain.send_replace(());
    tokio::select! {
        () = drain.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.shutdown_timeout) => {
            tracing::warn!("shutdown timeout reached; dropping the remaining connections")
        }
    }
    Ok(())
}

/// What one accepted connection's task needs.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: Arc<Service>,
    limits: Arc<ServerLimits>,
    /// Changes when the server begins its graceful shutdown.
    draining: watch::Receiver<()>,
    /// `accept` plus the header read timeout.
    head_deadline: Instant,
    peer: SocketAddr,
}

impl Conn {
    /// Serve the (over TLS, handshaken) connection until it ends, a graceful
    /// shutdown closes it, or one of its deadlines does.
    async fn serve<I>(self, io: I, over_tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            builder,
            service,
            limits,
            draining,
            head_deadline,
            peer,
        } = self;
        let tracker = Tracker::new();
        let requests = tracker.clone();
        let connection = builder.serve_connection(
            TokioIo::new(io),
            service_fn(move |mut request| {
                if over_tls {
                    request.extensions_mut().insert(OverTls);
                }
                // For X-Forwarded-For, when a route ends in an upstream.
                request.extensions_mut().insert(ClientAddr(peer));
                // Whether the client takes the response, for the write timeout.
                let progress = Progress::new();
                request.extensions_mut().insert(progress.clone());
                let active = requests.begin(&progress);
                let service = service.clone();
                async move {
                    let response = service.handle(request).await?;
                    Ok::<_, std::convert::Infallible>(Tracker::watch(response, progress, active))
                }
            }),
        );
        connection::drive(connection, tracker, &limits, head_deadline, draining, peer).await;
    }
}
