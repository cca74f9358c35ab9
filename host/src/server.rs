//! Accepting connections and shutting down gracefully.
//!
//! Every connection is served by hyper-util's auto builder, which speaks
//! HTTP/1.1 (with keep-alive) and HTTP/2 over cleartext (prior knowledge) on
//! the same port. On shutdown the listener closes first, then in-flight
//! requests get up to the shutdown timeout to finish.

use crate::config::ServerLimits;
use crate::service::Service;
use crate::upstream::ClientAddr;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connection-level settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_timeout: Duration,
    /// Header sizes and connection timeouts.
    pub limits: ServerLimits,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            shutdown_timeout: Duration::from_secs(30),
            limits: ServerLimits::default(),
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
    let graceful = GracefulShutdown::new();
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
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    // For X-Forwarded-For, when a route ends in an upstream.
                    request.extensions_mut().insert(ClientAddr(peer));
                    let service = service.clone();
                    async move { service.handle(request).await }
                }),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "connection ended with an error: {error}");
            }
        });
    }

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
