//! `[[middleware]]` declarations and the chain a route names.
//!
//! A middleware is declared once, by name, and routes refer to it:
//!
//! ```toml
//! [[middleware]]
//! name = "auth"
//! component = "build/handlers/auth.wasm"
//! env = { REALM = "demo" }            # optional, on top of the route's env
//! variables = { realm = "demo" }       # optional, on top of the route's variables
//! key_value_stores = ["sessions"]      # optional: its own grants, not the route's
//!
//! [[route]]
//! path = "/private/..."
//! middleware = ["auth"]                # run in this order, outermost first
//! component = "build/handlers/hello.wasm"   # or: upstream = "http://127.0.0.1:9000"
//! ```
//!
//! This module checks the declarations (unique, plain names; a component
//! each; a valid env) and turns a route's list of names and its `upstream`
//! into the validated pieces [`RouteConfig`](super::RouteConfig) holds.

use super::build::{BuildConfig, RawBuild};
use super::key_value::KeyValueStoreConfig;
use super::names::{validate_env, validate_name};
use super::variables::Value;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One declared middleware, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct MiddlewareConfig {
    /// The name routes refer to it by.
    pub name: String,
    /// The component file, resolved against the config file's folder.
    pub component: PathBuf,
    /// Its own env, laid over the env of the route it runs on.
    pub env: Vec<(String, String)>,
    /// Its own variables, laid over the route's (merged once a route names it).
    pub variables: Vec<(String, Value)>,
    /// The stores it may open: its own grants only, so a middleware in
    /// front of many routes holds exactly what it was given.
    pub key_value_stores: Vec<String>,
    /// `[middleware.build]`: how its component is built.
    pub build: Option<BuildConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMiddleware {
    name: String,
    component: PathBuf,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, toml::Value>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    build: Option<RawBuild>,
}

/// Validate every `[[middleware]]` entry; the error says which (by its
/// position and name) and why.
pub(super) fn declare(
    raw: Vec<RawMiddleware>,
    base: &Path,
    stores: &std::collections::BTreeMap<String, KeyValueStoreConfig>,
) -> Result<HashMap<String, MiddlewareConfig>, String> {
    let mut declared: HashMap<String, (usize, MiddlewareConfig)> = HashMap::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let index = i + 1;
        let what = format!("[[middleware]] #{index} ('{}')", raw.name);
        validate_name(&raw.name).map_err(|e| format!("{what}: {e}"))?;
        if let Some((first, _)) = declared.get(&raw.name) {
            return Err(format!(
                "{what} repeats the name of [[middleware]] #{first}; each middleware name must be unique"
            ));
        }
        if raw.component.as_os_str().is_empty() {
            return Err(format!("{what}: `component` is empty"));
        }
        validate_env(&raw.env).map_err(|e| format!("{what}: {e}"))?;
        let variables =
            super::variables::read(&raw.variables).map_err(|e| format!("{what}: {e}"))?;
        let key_value_stores = super::key_value::grants(&raw.key_value_stores, stores)
            .map_err(|e| format!("{what}: {e}"))?;
        let build = match raw.build {
            Some(build) => Some(build.resolve(base).map_err(|e| format!("{what}: {e}"))?),
            None => None,
        };
        let middleware = MiddlewareConfig {
            name: raw.name.clone(),
            component: base.join(&raw.component),
            env: raw.env.into_iter().collect(),
            variables,
            key_value_stores,
            build,
        };
        declared.insert(raw.name, (index, middleware));
    }
    Ok(declared.into_iter().map(|(k, (_, m))| (k, m)).collect())
}

/// The declared middleware a route lists, in its order.
pub(super) fn resolve(
    names: &[String],
    declared: &HashMap<String, MiddlewareConfig>,
) -> Result<Vec<MiddlewareConfig>, String> {
    names
        .iter()
        .map(|name| {
            declared.get(name).cloned().ok_or_else(|| {
                let mut known: Vec<&str> = declared.keys().map(String::as_str).collect();
                known.sort_unstable();
                let known = match known.is_empty() {
                    true => "none are declared".to_string(),
                    false => format!("declared: {}", known.join(", ")),
                };
                format!("middleware '{name}' is not declared in a [[middleware]] table ({known})")
            })
        })
        .collect()
}

/// A route's `upstream`: `http://host[:port]` or `https://host[:port]`,
/// nothing else; the request's own path and query are appended.
pub(super) fn upstream(text: &str) -> Result<http::Uri, String> {
    let bad = |why: &str| format!("upstream {text:?} is invalid: {why}");
    let uri: http::Uri = text
        .parse()
        .map_err(|_| bad("expected a URL such as http://127.0.0.1:9000"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http:// or https://")),
    }
    let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
    if authority.host().is_empty() {
        return Err(bad("it has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("user info is not supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad(
            "it may not have a path or query; the request's own path is sent",
        ));
    }
    Ok(uri)
}

/// A middleware's environment: the route's, with the middleware's own keys
/// laid over it.
pub(super) fn env(route: &[(String, String)], own: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: BTreeMap<String, String> = route.iter().cloned().collect();
    merged.extend(own.iter().cloned());
    merged.into_iter().collect()
}
