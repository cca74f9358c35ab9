//! A compiled, pre-instantiated handler, and how one request runs on it.
//!
//! [`Handler::load`] does the expensive work once (read, compile, link,
//! pre-instantiate). [`Handler::invoke`] is the per-request path: for a
//! wasi:http 0.2 component, a fresh `Store` and instance (`fresh`); for a
//! 0.3 component, or a route with `instance_reuse`, an instance of the
//! route's [`InstancePool`] (a fresh one per request unless the route opts
//! into reuse).

use super::admission::{Admission, InstanceSlot};
use super::error::InvokeError;
use super::guarded::GuardedBody;
use super::instances::InstanceRecipe;
use super::pool::InstancePool;
use crate::config::{Limits, RouteConfig};
use crate::guest::keyvalue::{OpenError, Stores};
use crate::guest::outbound::address::OwnAddresses;
use crate::guest::{Grants, NextHop, OutboundGate, OutboundLimits};
use crate::request::{content_length, RequestTag};
use crate::runtime::{digest, Digest, HandlerPre, Host, World};
use crate::telemetry::RouteMetrics;
use anyhow::Context as _;
use bytes::Bytes;
use http_body::Body;
use opentelemetry::KeyValue;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// One route's loaded component.
pub struct Handler {
    /// The route's name, shared with every request's log tag.
    pub route: Arc<str>,
    /// The route's metric handles, resolved at load.
    pub metrics: Arc<RouteMetrics>,
    /// What its spans call it: the middleware's name, or the route's.
    pub component: Arc<str>,
    /// Whether it runs as one of a route's middleware.
    pub middleware: bool,
    /// The component file it was loaded from.
    pub file: PathBuf,
    /// sha256 of the component's bytes.
    pub digest: Digest,
    /// How long reading, compiling and pre-instantiating took.
    pub load_time: Duration,
    /// When it was compiled.
    pub loaded_at: std::time::SystemTime,
    /// The route's budget.
    pub limits: Limits,
    /// Instance slots of this route (`max_concurrency`).
    pub slots: Arc<Semaphore>,
    /// `instance_reuse`: 0 for a fresh instance per request.
    pub instance_reuse: usize,
    /// `instance_concurrency`: requests one instance serves at once.
    pub instance_concurrency: usize,
    /// The wasi:http world the component exports.
    pub world: World,
    pub(super) grants: Grants,
    pub(super) outbound: Arc<OutboundGate>,
    pub(super) pre: HandlerPre,
    /// The route's pooled instances: a 0.3 component's (fresh or reused),
    /// or a 0.2 component's with `instance_reuse`.
    pub(super) pool: Option<InstancePool>,
}

/// What could not be loaded, in one line: a route's component (naming the
/// route, the file and the reason) or a key-value store its grants need.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{label}: cannot load {}: {reason:#}", file.display())]
    Component {
        label: String,
        file: PathBuf,
        reason: anyhow::Error,
    },
    #[error(transparent)]
    Store(#[from] OpenError),
}

impl LoadError {
    pub fn new(route: &RouteConfig, reason: anyhow::Error) -> LoadError {
        LoadError::Component {
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
        let digest = digest(&bytes);
        Ok((bytes, digest))
    }

    /// Compile and pre-instantiate a route's component from its bytes.
    ///
    /// CPU-heavy: run it off the request path.
    /// The route's store grants draw from `stores`.
    pub fn load(
        host: &Host,
        stores: &Arc<Stores>,
        route: &RouteConfig,
        bytes: &[u8],
        digest: Digest,
    ) -> Result<Handler, LoadError> {
        let started = Instant::now();
        let world = World::of(bytes);
        let p3 = world.as_ref().is_some_and(World::is_p3);
        refuse_concurrency(route, world.as_ref())?;
        let pre = host
            .prepare(bytes, digest, p3 || route.instance_reuse > 0)
            .map_err(|reason| LoadError::new(route, reason))?;
        let world = match (&pre, world) {
            (HandlerPre::P3(_), Some(world @ World::P3 { .. })) => world,
            (HandlerPre::P2(_), Some(world @ World::P2 { .. })) => world,
            (HandlerPre::P3(_), _) => World::P3 {
                version: "0.3.0".into(),
            },
            (HandlerPre::P2(_), _) => World::P2 {
                version: "0.2".into(),
            },
        };
        tracing::info!(world = %world, "a {world} handler");
        let outbound = outbound_gate(&route.limits, host.own_addresses())
            .map_err(|reason| LoadError::new(route, reason))?;
        let outbound = Arc::new(outbound);
        let metrics = RouteMetrics::new(&route.name);
        let grants = Grants::new(route, stores);
        Ok(Handler {
            route: route.name.as_str().into(),
            pool: pool(route, &pre, &outbound, &metrics, &grants),
            metrics,
            component: route
                .middleware_name
                .as_deref()
                .unwrap_or(&route.name)
                .into(),
            middleware: route.middleware_name.is_some(),
            file: route.component.clone(),
            digest,
            load_time: started.elapsed(),
            loaded_at: std::time::SystemTime::now(),
            slots: Arc::new(Semaphore::new(route.limits.max_concurrency)),
            limits: route.limits.clone(),
            instance_reuse: route.instance_reuse,
            instance_concurrency: route.instance_concurrency,
            grants,
            world,
            outbound,
            pre,
        })
    }

    /// The same compiled component under a route's (possibly edited)
    /// settings: no recompilation.
    pub fn reconfigure(&self, route: &RouteConfig) -> Result<Handler, LoadError> {
        refuse_concurrency(route, Some(&self.world))?;
        // Every outbound setting, timeouts included, or an edit of one of
        // them alone would be ignored until the component changed.
        let outbound = if route.limits.allowed_outbound_hosts == self.limits.allowed_outbound_hosts
            && OutboundLimits::from(&route.limits) == OutboundLimits::from(&self.limits)
            && route.limits.allow_private_networks == self.limits.allow_private_networks
        {
            self.outbound.clone()
        } else {
            let own = self.outbound.own_addresses();
            Arc::new(
                outbound_gate(&route.limits, own)
                    .map_err(|reason| LoadError::new(route, reason))?,
            )
        };
        let metrics = RouteMetrics::new(&route.name);
        let grants = match self.grants.matches(route) {
            true => self.grants.clone(),
            false => Grants::new(route, self.grants.key_value.stores()),
        };
        Ok(Handler {
            route: route.name.as_str().into(),
            pool: pool(route, &self.pre, &outbound, &metrics, &grants),
            metrics,
            component: route
                .middleware_name
                .as_deref()
                .unwrap_or(&route.name)
                .into(),
            middleware: route.middleware_name.is_some(),
            file: route.component.clone(),
            digest: self.digest,
            load_time: self.load_time,
            loaded_at: self.loaded_at,
            slots: self.slots_for(&route.limits),
            limits: route.limits.clone(),
            instance_reuse: route.instance_reuse,
            instance_concurrency: route.instance_concurrency,
            grants,
            world: self.world.clone(),
            outbound,
            pre: self.pre.clone(),
        })
    }

    /// Keep the route's instance slots across a reload when the limit did not
    /// change, so in-flight requests on the old version still count.
    pub fn inherit_slots(&mut self, previous: &Handler) {
        self.slots = previous.slots_for(&self.limits);
    }

    fn slots_for(&self, limits: &Limits) -> Arc<Semaphore> {
        if limits.max_concurrency == self.limits.max_concurrency {
            self.slots.clone()
        } else {
            Arc::new(Semaphore::new(limits.max_concurrency))
        }
    }

    /// Whether this handler was loaded from exactly `route`'s settings.
    pub fn matches(&self, route: &RouteConfig) -> bool {
        self.file == route.component
            && *self.component == *route.middleware_name.as_deref().unwrap_or(&route.name)
            && self.grants.matches(route)
            && *self.route == *route.name
            && self.limits == route.limits
            && self.instance_reuse == route.instance_reuse
            && self.instance_concurrency == route.instance_concurrency
    }

    /// Whether this handler's compiled code is on the engine `route` needs:
    /// the concurrent one for a 0.3 component or `instance_reuse`, else the
    /// fresh-instance one.
    pub fn engine_fits(&self, route: &RouteConfig) -> bool {
        let concurrent = |reuse: usize| self.world.is_p3() || reuse > 0;
        concurrent(self.instance_reuse) == concurrent(route.instance_reuse)
    }

    /// Run one request on a fresh instance (or, for a 0.3 component or on
    /// an `instance_reuse` route, on an instance of the route's pool: see
    /// `pool`).
    ///
    /// Returns once the guest has set its response (or failed, or ran out of
    /// time, before doing so). The guest keeps running in its own task while
    /// the body streams, holding `admission` until it is done; the route's
    /// deadline, counted from `arrived`, bounds the whole of it.
    pub async fn invoke<B>(
        &self,
        request: hyper::Request<B>,
        scheme: Scheme,
        tag: &RequestTag,
        admission: Admission,
        arrived: Instant,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let slot = InstanceSlot::First(admission);
        self.run(request, scheme, tag, slot, arrived, None).await
    }

    /// [`Handler::invoke`] as one element of a middleware chain: `next` is
    /// where the guest's requests to the reserved `next` authority go, and
    /// `slot` the request's admission for the first element, one of its
    /// server slots for each later one.
    pub async fn run<B>(
        &self,
        request: hyper::Request<B>,
        scheme: Scheme,
        tag: &RequestTag,
        slot: InstanceSlot,
        arrived: Instant,
        next: Option<Arc<dyn NextHop>>,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let Some(span) = self.span(tag) else {
            return self
                .run_untraced(request, scheme, tag, slot, arrived, next)
                .await;
        };
        let tag = tag.within(Some(span.clone()));
        let ran = self
            .run_untraced(request, scheme, &tag, slot, arrived, next)
            .await;
        match ran {
            Ok(response) => Ok(response.map(|body| body.traced(span))),
            Err(error) => {
                span.set(KeyValue::new("switchyard.outcome", error.outcome()));
                span.fail(error.to_string());
                span.end();
                Err(error)
            }
        }
    }

    async fn run_untraced<B>(
        &self,
        request: hyper::Request<B>,
        scheme: Scheme,
        tag: &RequestTag,
        slot: InstanceSlot,
        arrived: Instant,
        next: Option<Arc<dyn NextHop>>,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let max_body = self.limits.max_request_body;
        if content_length(&request).is_some_and(|len| len > max_body) {
            return Err(InvokeError::BodyTooLarge(max_body));
        }
        if let Some(pool) = &self.pool {
            return pool
                .invoke(request, &scheme, tag, slot, arrived, next)
                .await;
        }
        self.run_fresh(request, scheme, tag, slot, arrived, next)
            .await
    }
}

/// The route's instance pool: every 0.3 component has one (a fresh instance
/// per request unless the route asks for reuse), a 0.2 component only with
/// `instance_reuse`.
fn pool(
    route: &RouteConfig,
    pre: &HandlerPre,
    outbound: &Arc<OutboundGate>,
    metrics: &Arc<RouteMetrics>,
    grants: &Grants,
) -> Option<InstancePool> {
    let p3 = pre.is_p3();
    (p3 || route.instance_reuse > 0).then(|| {
        InstancePool::new(
            pre.to_proxy_pre(),
            InstanceRecipe {
                route: route.name.as_str().into(),
                metrics: metrics.clone(),
                grants: grants.clone(),
                memory_bytes: route.limits.memory_bytes,
                outbound: outbound.clone(),
                timeout: route.limits.timeout,
                max_request_body: route.limits.max_request_body,
                max_requests: route.instance_reuse.max(1),
                max_concurrent: if p3 {
                    route.instance_concurrency.max(1)
                } else {
                    1
                },
            },
        )
    })
}

/// `instance_concurrency` > 1 is for a wasi:http 0.3 component (`world`)
/// only: anything else is a load error naming the route.
fn refuse_concurrency(route: &RouteConfig, world: Option<&World>) -> Result<(), LoadError> {
    if route.instance_concurrency <= 1 || world.is_some_and(World::is_p3) {
        return Ok(());
    }
    let exports = world.map_or("no wasi:http handler".to_owned(), World::to_string);
    Err(LoadError::new(
        route,
        anyhow::anyhow!(
            "`instance_concurrency` = {} needs a wasi:http 0.3 component \
             (wasi:http/service@0.3.0), but this one is {exports}, which takes one \
             request at a time",
            route.instance_concurrency
        ),
    ))
}

fn outbound_gate(limits: &Limits, own: &OwnAddresses) -> anyhow::Result<OutboundGate> {
    let (hosts, own) = (&limits.allowed_outbound_hosts, own.clone());
    OutboundGate::new(hosts, OutboundLimits::from(limits), own)
        .map_err(|reason| anyhow::anyhow!("allowed_outbound_hosts: {reason}"))
}
