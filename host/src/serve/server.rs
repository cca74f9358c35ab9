//! Accepting connections and shutting down gracefully.
//!
//! Every connection is served by hyper-util's auto builder, which speaks
//! HTTP/1.1 (with keep-alive) and HTTP/2 on the same port: over cleartext
//! (h2 by prior knowledge), or over TLS when [`ServerOptions::tls`] is set
//! (see [`super::tls`]). The TLS handshake runs in the connection's own task,
//! bounded by the header read timeout, so a slow or failing handshake never
//! holds up the accept loop or other connections. On shutdown the listener
//! closes first, then in-flight requests get up to the shutdown timeout to
//! finish.

use super::service::Service;
use crate::config::ServerLimits;
use crate::request::{ClientAddr, OverTls};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
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
    let limits = &options.limits;
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        // hyper's header timer also runs while a keep-alive connection
        // waits for its next request: it is the HTTP/1.1 idle limit too.
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
    let graceful = GracefulShutdown::new();
    // No guest of this host may call back into this listener.
    let own = listener
        .local_addr()
        .map(|addr| service.registry().host().own_addresses().hold(addr));
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
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {error}");
        }
        let service = service.clone();
        let watcher = graceful.watcher();
        match &options.tls {
            None => {
                tokio::spawn(serve_connection(
                    builder.clone(),
                    stream,
                    peer,
                    service,
                    watcher,
                    false,
                ));
            }
            Some(acceptor) => {
                let (acceptor, builder) = (acceptor.clone(), builder.clone());
                let handshake_timeout = limits.header_read_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(builder, stream, peer, service, watcher, true).await
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, "TLS handshake failed: {error}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }

    drop(own);
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: no new connections; waiting up to {:?} for in-flight requests",
        options.shutdown_timeout
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.shutdown_timeout) => {
            tracing::warn!("shutdown timeout reached; dropping the remaining connections")
        }
    }
    Ok(())
}

/// Serve one accepted (and, over TLS, handshaken) connection until it ends
/// or a graceful shutdown closes it.
async fn serve_connection<I>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: I,
    peer: SocketAddr,
    service: Arc<Service>,
    watcher: Watcher,
    over_tls: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(
        TokioIo::new(io),
        service_fn(move |mut request| {
            if over_tls {
                request.extensions_mut().insert(OverTls);
            }
            // For X-Forwarded-For, when a route ends in an upstream.
            request.extensions_mut().insert(ClientAddr(peer));
            let service = service.clone();
            async move { service.handle(request).await }
        }),
    );
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, "connection ended with an error: {error}");
    }
}
