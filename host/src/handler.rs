//! A compiled, pre-instantiated handler, and how one request runs on it.
//!
//! [`Handler::load`] does the expensive work once (read, compile, link,
//! pre-instantiate). [`Handler::invoke`] is the per-request path: a fresh
//! `Store` and instance, the guest's `handle` call in its own task, and the
//! response returned as soon as the guest sets it, its body streaming while
//! the guest keeps writing.

use crate::body::GuardedBody;
use crate::config::RouteConfig;
use crate::engine::{Digest, Host};
use crate::error::InvokeError;
use crate::state::{RequestState, RequestTag};
use anyhow::Context as _;
use hyper::body::Incoming;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

/// One route's loaded component.
pub struct Handler {
    /// The route's name, shared with every request's log tag.
    pub route: Arc<str>,
    /// The component file it was loaded from.
    pub file: PathBuf,
    /// sha256 of the component's bytes.
    pub digest: Digest,
    /// How long reading, compiling and pre-instantiating took.
    pub load_time: Duration,
    env: Vec<(String, String)>,
    pre: ProxyPre<RequestState>,
}

/// A route whose component could not be loaded: names the route, the file
/// and the reason, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{label}: cannot load {}: {reason:#}", file.display())]
pub struct LoadError {
    pub label: String,
    pub file: PathBuf,
    pub reason: anyhow::Error,
}

impl LoadError {
    pub fn new(route: &RouteConfig, reason: anyhow::Error) -> LoadError {
        LoadError {
            label: route.label(),
            file: route.component.clone(),
            reason,
        }
    }
}

impl Handler {
    /// Read a route's component file: its bytes and their digest.
    pub fn read(route: &RouteConfig) -> Result<(Vec<u8>, Digest), LoadError> {
        let bytes = std::fs::read(&route.component)
            .context("cannot read the file")
            .map_err(|reason| LoadError::new(route, reason))?;
        let digest = Host::digest(&bytes);
        Ok((bytes, digest))
    }

    /// Compile and pre-instantiate a route's component from its bytes.
    ///
    /// CPU-heavy: run it off the request path.
    pub fn load(
        host: &Host,
        route: &RouteConfig,
        bytes: &[u8],
        digest: Digest,
    ) -> Result<Handler, LoadError> {
        let started = Instant::now();
        let pre = host
            .prepare(bytes, digest)
            .map_err(|reason| LoadError::new(route, reason))?;
        Ok(Handler {
            route: route.name.as_str().into(),
            file: route.component.clone(),
            digest,
            load_time: started.elapsed(),
            env: route.env.clone(),
            pre,
        })
    }

    /// The same compiled component under a route's (possibly edited)
    /// settings: no recompilation.
    pub fn reconfigure(&self, route: &RouteConfig) -> Handler {
        Handler {
            route: route.name.as_str().into(),
            file: route.component.clone(),
            digest: self.digest,
            load_time: self.load_time,
            env: route.env.clone(),
            pre: self.pre.clone(),
        }
    }

    /// Whether this handler was loaded from exactly `route`'s settings.
    pub fn matches(&self, route: &RouteConfig) -> bool {
        self.file == route.component && self.env == route.env && *self.route == *route.name
    }

    /// Run one request on a fresh instance.
    ///
    /// Returns once the guest has set its response (or failed before doing
    /// so). The guest keeps running in its own task while the body streams.
    pub async fn invoke(
        &self,
        request: hyper::Request<Incoming>,
        scheme: Scheme,
        tag: &RequestTag,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError> {
        let mut store = Store::new(self.pre.engine(), RequestState::new(&self.env, tag));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)
            .map_err(|e| InvokeError::BadRequest(e.into()))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| InvokeError::Internal(e.into()))?;

        let pre = self.pre.clone();
        let guest = tokio::spawn(async move {
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(anyhow::Error::from)
                .context("instantiating the component")?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await
                .map_err(anyhow::Error::from)
        });

        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| GuardedBody::new(body, guest, tag.clone()))),
            Ok(Err(code)) => Err(InvokeError::GuestError(code)),
            // The outparam was dropped unset: the guest is done; ask how it ended.
            Err(_) => match guest.await {
                Ok(Ok(())) => Err(InvokeError::NoResponse),
                Ok(Err(error)) => Err(InvokeError::Trap(error)),
                Err(join) => Err(InvokeError::Internal(
                    anyhow::Error::from(join).context("the guest task panicked"),
                )),
            },
        }
    }
}
