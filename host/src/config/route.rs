//! A `[[route]]`: as written ([`RawRoute`]), validated ([`RouteConfig`],
//! what the rest of the host knows about one route), and the settings each
//! element of its chain runs with. `mod.rs` checks what needs every route
//! (unique paths and names); the rest of a route is checked here.

use super::build::{BuildConfig, RawBuild};
use super::key_value::{self, KeyValueStoreConfig};
use super::limits::{Limits, RawLimits};
use super::middleware::{self, MiddlewareConfig};
use super::names::validate_env;
use super::outbound::AllowedHosts;
use super::pattern::Pattern;
use super::variables::{self, Value};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One `[[route]]` entry, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    /// Unique name (explicit, or the component's file stem).
    pub name: String,
    /// The path pattern.
    pub pattern: Pattern,
    /// The middleware's name when this is one of the route's middleware
    /// ([`RouteConfig::for_middleware`]); `None` for the route itself.
    pub middleware_name: Option<String>,
    /// The component file, resolved against the config file's folder;
    /// empty when the route ends in an `upstream` instead.
    pub component: PathBuf,
    /// Environment variables the guest sees, and nothing else.
    pub env: Vec<(String, String)>,
    /// The route's budget: `[defaults]` with the route's own keys on top.
    pub limits: Limits,
    /// The middleware in front of the component or upstream, outermost
    /// first, each with its env already laid over the route's.
    pub middleware: Vec<MiddlewareConfig>,
    /// The HTTP server the route reverse-proxies to, instead of a component.
    pub upstream: Option<http::Uri>,
    /// `instance_reuse`: how many requests one instance may serve before it
    /// is replaced; 0 (the default) means a fresh instance per request.
    /// Per route only: reuse is for handlers written for it.
    pub instance_reuse: usize,
    /// `instance_concurrency`: how many requests one instance serves at the
    /// same time (1, the default, or more for a wasi:http 0.3 component on
    /// an `instance_reuse` route). Per route only.
    pub instance_concurrency: usize,
    /// `key_value_stores`: the wasi:keyvalue stores the guest may open,
    /// each declared (`""` already read as `default`).
    pub key_value_stores: Vec<String>,
    /// `variables`: what the guest reads through wasi:config.
    pub variables: Vec<(String, Value)>,
    /// `[route.build]`: how its component is built (`switchyard build`).
    pub build: Option<BuildConfig>,
}

impl RouteConfig {
    /// How the route is named in messages: `route 'hello' (/hello)`.
    pub fn label(&self) -> String {
        format!("route '{}' ({})", self.name, self.pattern)
    }

    /// Every component file the route runs: its middleware, then its own.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        let own = self.upstream.is_none().then_some(self.component.as_path());
        self.middleware
            .iter()
            .map(|m| m.component.as_path())
            .chain(own)
    }

    /// The settings one of the route's middleware runs with: the route's
    /// name and limits, the middleware's component, merged env and
    /// variables, and its own store grants.
    pub fn for_middleware(&self, middleware: &MiddlewareConfig) -> RouteConfig {
        RouteConfig {
            name: self.name.clone(),
            pattern: self.pattern.clone(),
            middleware_name: Some(middleware.name.clone()),
            component: middleware.component.clone(),
            env: middleware.env.clone(),
            limits: self.limits.clone(),
            middleware: Vec::new(),
            upstream: None,
            instance_reuse: 0,
            instance_concurrency: 1,
            key_value_stores: middleware.key_value_stores.clone(),
            variables: middleware.variables.clone(),
            build: middleware.build.clone(),
        }
    }
}

/// `[[route]]` as written.
#[derive(Deserialize)]
pub(super) struct RawRoute {
    pub(super) path: String,
    pub(super) component: Option<PathBuf>,
    pub(super) upstream: Option<String>,
    pub(super) name: Option<String>,
    // The rest is read by `resolve`. (`flatten` and `deny_unknown_fields` do
    // not mix in serde, so unknown keys of a route land in
    // `RawLimits::unknown` and are rejected by hand; a nested flatten would
    // lose the key's name from type errors.)
    #[serde(default)]
    middleware: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    instance_reuse: Option<i64>,
    instance_concurrency: Option<i64>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, toml::Value>,
    build: Option<RawBuild>,
    #[serde(flatten)]
    limits: RawLimits,
}

/// What `mod.rs` settled about a route: its name, path and target.
pub(super) struct Identity {
    pub(super) name: String,
    pub(super) pattern: Pattern,
    /// As written; joined to the config's folder here.
    pub(super) component: PathBuf,
    pub(super) upstream: Option<http::Uri>,
}

/// What every route is checked against.
pub(super) struct Shared<'a> {
    /// The config file's folder.
    pub(super) base: &'a Path,
    pub(super) defaults: &'a Limits,
    pub(super) stores: &'a BTreeMap<String, KeyValueStoreConfig>,
    pub(super) declared: &'a HashMap<String, MiddlewareConfig>,
}

impl RawRoute {
    /// The route's settings, validated, given what `mod.rs` settled (its
    /// `path`, `component`, `upstream` and `name` fields are not read
    /// again); the message says what is wrong (the caller names the route).
    pub(super) fn resolve(
        self,
        identity: Identity,
        shared: &Shared,
    ) -> Result<RouteConfig, String> {
        let Identity {
            name,
            pattern,
            component,
            upstream,
        } = identity;
        validate_env(&self.env)?;
        let env: Vec<(String, String)> = self.env.into_iter().collect();
        let variables = variables::read(&self.variables)?;
        let build = match self.build {
            None => None,
            Some(_) if upstream.is_some() => {
                return Err("a `build` table needs a `component` to build".into())
            }
            Some(build) => Some(build.resolve(shared.base)?),
        };
        let key_value_grants = key_value::grants(&self.key_value_stores, shared.stores)?;
        let chain: Vec<MiddlewareConfig> = middleware::resolve(&self.middleware, shared.declared)?
            .into_iter()
            .map(|m| MiddlewareConfig {
                env: middleware::env(&env, &m.env),
                variables: variables::merge(&variables, &m.variables),
                ..m
            })
            .collect();

        let limits = self.limits.apply(shared.defaults)?;
        AllowedHosts::parse(&limits.allowed_outbound_hosts)
            .map_err(|reason| format!("allowed_outbound_hosts: {reason}"))?;
        let instance_reuse = match self.instance_reuse {
            None => 0,
            Some(n) if (0..=MAX_INSTANCE_REUSE).contains(&n) => n as usize,
            Some(n) => {
                return Err(format!(
                    "`instance_reuse` = {n} is out of range (0 to {MAX_INSTANCE_REUSE}; 0 = a fresh instance per request)"
                ))
            }
        };
        let instance_concurrency = match self.instance_concurrency {
            None => 1,
            Some(n) if (1..=MAX_INSTANCE_CONCURRENCY).contains(&n) => n as usize,
            Some(n) => {
                return Err(format!(
                    "`instance_concurrency` = {n} is out of range (1 to {MAX_INSTANCE_CONCURRENCY}; 1 = one request at a time)"
                ))
            }
        };
        if instance_concurrency > 1 && instance_reuse == 0 {
            return Err(format!(
                "`instance_concurrency` = {instance_concurrency} needs `instance_reuse`: a fresh \
                 instance serves one request, so set how many requests an instance may \
                 serve (e.g. instance_reuse = 128)"
            ));
        }
        if instance_reuse > 0 && (!chain.is_empty() || upstream.is_some()) {
            return Err(
                "`instance_reuse` applies to a route that ends in a component and has no \
                 middleware; a chain's elements always run on fresh instances"
                    .into(),
            );
        }
        Ok(RouteConfig {
            name,
            pattern,
            middleware_name: None,
            component: match upstream {
                None => shared.base.join(&component),
                Some(_) => component,
            },
            env,
            limits,
            middleware: chain,
            upstream,
            instance_reuse,
            instance_concurrency,
            key_value_stores: key_value_grants,
            variables,
            build,
        })
    }
}

/// The most requests `instance_reuse` lets one instance serve.
const MAX_INSTANCE_REUSE: i64 = 1_000_000;

/// The most requests `instance_concurrency` lets one instance serve at once.
const MAX_INSTANCE_CONCURRENCY: i64 = 1024;
