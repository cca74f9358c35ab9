//! The admin listener: Prometheus metrics, health and readiness, and (only
//! with a token) the route API.
//!
//! A second, small HTTP/1.1 server on its own address (`--admin-listen`,
//! loopback by default), so operators can scrape and manage the server
//! without exposing any of it on the public port. It starts before the
//! routes are loaded: `/healthz` answers at once, `/readyz` turns 200 once
//! every route is loaded. It has its own accept loop and its own small
//! connection budget ([`ADMIN_MAX_CONNECTIONS`], file descriptors the main
//! listener's default `max_connections` leaves free), so probes still
//! answer while the main port is flooded, and a flood of the admin port
//! cannot take the main port's descriptors.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text format (see [`crate::telemetry`]) |
//! | `GET /healthz` | 200 while the process is up |
//! | `GET /readyz` | 200 once every route is loaded, else 503 |
//! | `/admin/...` | the route API ([`routes`]), bearer token required |

mod routes;
mod shared;
pub mod token;
mod write;

use crate::config::{Config, ADMIN_MAX_CONNECTIONS};
use crate::routing::Registry;
use crate::serve::limit::ConnectionLimit;
use anyhow::Context as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
pub use token::Token;
use tokio::net::TcpListener;

/// Everything the admin endpoints need.
pub struct Admin {
    /// Set once the routes are loaded (`/readyz`).
    registry: OnceLock<Arc<Registry>>,
    /// `None`: the route API is off.
    token: Option<Token>,
    /// The config file `DELETE` edits.
    config_file: PathBuf,
    /// Largest accepted component upload.
    max_upload: u64,
    /// How long a request body may take to arrive in full.
    upload_timeout: Duration,
    metrics: PrometheusHandle,
}

/// An admin response.
type Reply = hyper::Response<Full<Bytes>>;

impl Admin {
    /// The admin endpoints for `config`; installs the metrics recorder.
    pub fn new(config: &Config, token: Option<Token>) -> Admin {
        Admin {
            registry: OnceLock::new(),
            token,
            config_file: config.file.clone(),
            max_upload: config.admin.max_upload_bytes,
            upload_timeout: config.admin.upload_timeout,
            metrics: crate::telemetry::install(),
        }
    }

    /// The routes are loaded: `/readyz` turns 200 and the route API opens.
    pub fn ready(&self, registry: Arc<Registry>) {
        let _ = self.registry.set(registry);
    }

    async fn handle(&self, request: hyper::Request<Incoming>) -> Reply {
        let path = request.uri().path().to_string();
        match (request.method(), path.as_str()) {
            (&Method::GET, "/metrics") => {
                let mut reply = text(StatusCode::OK, crate::telemetry::render(&self.metrics));
                reply.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                reply
            }
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/readyz") => match self.registry.get() {
                Some(registry) => text(
                    StatusCode::OK,
                    format!(
                        "ready: {} routes loaded\n",
                        registry.snapshot().routes().len()
                    ),
                ),
                None => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: loading routes\n",
                ),
            },
            (_, "/admin") => self.guarded(request, &[]).await,
            (_, path) if path.starts_with("/admin/") => {
                let segments: Vec<String> = path["/admin/".len()..]
                    .split('/')
                    .map(str::to_string)
                    .collect();
                let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
                self.guarded(request, &segments).await
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The route API: the token first, checked on the request head, then
    /// the request. A body the answer did not need (a 401, a 404, a 413 on
    /// the declared length) is not waited for: the answer goes out at once,
    /// and the body is read and dropped behind it (up to the upload limit
    /// and timeout), so a client still sending it sees the answer rather
    /// than a broken pipe.
    async fn guarded(&self, request: hyper::Request<Incoming>, segments: &[&str]) -> Reply {
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        let reply = self.authorized(&parts, &mut body, segments).await;
        if let Some(body) = body.filter(|body| !body.is_end_stream()) {
            tokio::spawn(discard(body, self.max_upload, self.upload_timeout));
        }
        reply
    }

    async fn authorized(
        &self,
        request: &http::request::Parts,
        body: &mut Option<Incoming>,
        segments: &[&str],
    ) -> Reply {
        let Some(token) = &self.token else {
            return text(
                StatusCode::FORBIDDEN,
                format!(
                    "the admin API is disabled: set {} or `[admin] token_file` in the config to enable it\n",
                    token::TOKEN_ENV
                ),
            );
        };
        if !token.admits(request.headers.get(header::AUTHORIZATION)) {
            let mut reply = text(
                StatusCode::UNAUTHORIZED,
                "unauthorized: send `Authorization: Bearer <admin token>`\n",
            );
            reply
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return reply;
        }
        let Some(registry) = self.registry.get() else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: loading routes\n",
            );
        };
        routes::handle(self, registry, request, body, segments).await
    }
}

/// Read and drop up to `limit` bytes of `body` for at most `timeout`.
async fn discard(mut body: Incoming, limit: u64, timeout: Duration) {
    let drain = async {
        let mut left = limit;
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, |d| d.len() as u64);
            match left.checked_sub(len) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(timeout, drain).await;
}

/// `--admin-listen`: an address, or `none`.
#[derive(Clone, Copy)]
pub struct Listen(pub Option<std::net::SocketAddr>);

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "none" => Ok(Listen(None)),
            _ => value
                .parse()
                .map(|addr| Listen(Some(addr)))
                .map_err(|_| format!("expected IP:PORT or `none`, got {value:?}")),
        }
    }
}

/// Bind the admin listener at `address`, announce it, and serve it in the
/// background; returns the address it is bound to.
pub async fn start(
    address: std::net::SocketAddr,
    config: &Config,
    token: Option<Token>,
) -> anyhow::Result<(Arc<Admin>, std::net::SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--admin-listen)"))?;
    let address = listener.local_addr().context("reading the admin address")?;
    if token.is_none() {
        tracing::info!(
            "admin API off: set {} or `[admin] token_file` to enable /admin",
            token::TOKEN_ENV
        );
    }
    let admin = Arc::new(Admin::new(config, token));
    println!("admin listening on http://{address}");
    tokio::spawn(serve(listener, admin.clone()));
    Ok((admin, address))
}

/// Serve the admin endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    let upkeep = admin.metrics.clone();
    // Histograms keep samples until upkeep folds them in; do it even when
    // nobody scrapes.
    let _upkeep = AbortOnDrop(tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    }));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Plain HTTP/1.1 (no protocol sniffing): hyper's header timer runs
        // from the first read, so a silent connection is closed after it.
        .header_read_timeout(Duration::from_secs(10));
    let cap = ConnectionLimit::new(ADMIN_MAX_CONNECTIONS, "admin");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("admin: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = cap.admit(peer) else {
            drop(stream);
            continue;
        };
        let admin = admin.clone();
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| {
                let admin = admin.clone();
                async move { Ok::<_, std::convert::Infallible>(admin.handle(request).await) }
            }),
        );
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "admin connection ended with an error: {error}");
            }
        });
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A plain-text reply.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut reply = hyper::Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

/// A JSON reply.
fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut body = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    body.push(b'\n');
    let mut reply = hyper::Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}
