//! A validated `[[route]]` ([`RouteConfig`]): what the rest of the host
//! knows about one route, and the settings each element of its chain runs
//! with.

use super::build::BuildConfig;
use super::limits::Limits;
use super::middleware::MiddlewareConfig;
use super::pattern::Pattern;
use super::variables::Value;
use std::path::{Path, PathBuf};

/// One `[[route]]` entry, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    /// Unique name (explicit, or the component's file stem).
    pub name: String,
    /// The path pattern.
    pub pattern: Pattern,
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
