//! The route API: list the routes, upload a new component for one, remove one.
//!
//! Every change is all-or-nothing. An upload whose file other routes also
//! run (as their component or a middleware) is refused with 409 naming
//! them, before its body is read. An upload's body must arrive within
//! `[admin] upload_timeout_ms` (else 408). It is compiled with the real host
//! before anything is touched; only then does it replace the route's file
//! ([`write_atomically`]: same mode and owner, never through a symlink; so
//! a restart, and the file watcher, see the same bytes) and the snapshot
//! is swapped with the route's generation bumped. A
//! delete edits the config file (comments kept) before the route leaves the
//! live table, so a restart agrees. Route names from the URL are checked
//! against the config's name rule before any lookup, and the file written is
//! always the one the config names: the URL never becomes a path.

use super::shared::shared;
use super::write::{write_atomically, WriteError};
use super::{json, text, Admin, Reply};
use crate::config::{validate_name, Config};
use crate::invoke::Handler;
use crate::routing::{Registry, Route, Snapshot};
use crate::runtime::{digest, digest_hex};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Dispatch `/admin/{segments...}` (the token has been checked).
pub async fn handle(
    admin: &Admin,
    registry: &Arc<Registry>,
    request: &http::request::Parts,
    body: &mut Option<Incoming>,
    segments: &[&str],
) -> Reply {
    let method = request.method.clone();
    let name = match segments {
        ["routes"] => {
            return match method {
                Method::GET => list(registry),
                _ => not_allowed("GET"),
            }
        }
        ["routes", name, ..] => *name,
        _ => return unknown_endpoint(),
    };
    // Before anything else looks at it.
    if let Err(reason) = validate_name(name) {
        return text(StatusCode::BAD_REQUEST, format!("bad request: {reason}\n"));
    }
    match (&segments[2..], method) {
        (["component"], Method::PUT) => upload(admin, registry, name, request, body).await,
        (["component"], _) => not_allowed("PUT"),
        ([], Method::DELETE) => delete(admin, registry, name).await,
        ([], _) => not_allowed("DELETE"),
        _ => unknown_endpoint(),
    }
}

fn unknown_endpoint() -> Reply {
    text(StatusCode::NOT_FOUND, "not found: unknown admin endpoint\n")
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    reply
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    reply
}

fn unknown(name: &str) -> Reply {
    text(StatusCode::NOT_FOUND, format!("no route named '{name}'\n"))
}

/// `GET /admin/routes`.
fn list(registry: &Registry) -> Reply {
    let snapshot = registry.snapshot();
    let routes: Vec<_> = snapshot.routes().iter().map(describe).collect();
    json(StatusCode::OK, &json!({ "routes": routes }))
}

fn describe(route: &Route) -> serde_json::Value {
    let (config, limits) = (&route.config, &route.config.limits);
    let handler = route.chain.component();
    json!({
        "name": config.name,
        "path": config.pattern.to_string(),
        "component": handler.map(|_| config.component.display().to_string()),
        "upstream": config.upstream.as_ref().map(|uri| uri.to_string()),
        "middleware": config.middleware.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "sha256": handler.map(|h| digest_hex(&h.digest)),
        "generation": route.generation,
        "loaded_at_unix": handler.map(|h| h.loaded_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
        "load_ms": handler.map(|h| h.load_time.as_millis() as u64),
        "world": handler.map(|h| h.world.to_string()),
        "instance_reuse": config.instance_reuse,
        "instance_concurrency": config.instance_concurrency,
        "key_value_stores": config.key_value_stores,
        // Names and where each value comes from; never a value.
        "variables": config.variables.iter().map(|(name, value)| {
            let source = match value.env() {
                Some(env) => json!({ "from": "env", "env": env }),
                None => json!({ "from": "config" }),
            };
            (name.clone(), source)
        }).collect::<serde_json::Map<_, _>>(),
        "limits": {
            "timeout_ms": limits.timeout.as_millis() as u64,
            "memory_mb": limits.memory_bytes >> 20,
            "max_concurrency": limits.max_concurrency,
            "max_request_body_bytes": limits.max_request_body,
            "allowed_outbound_hosts": limits.allowed_outbound_hosts,
            "max_outbound_concurrency": limits.max_outbound_concurrency,
        },
    })
}

/// `PUT /admin/routes/{name}/component`.
async fn upload(
    admin: &Admin,
    registry: &Arc<Registry>,
    name: &str,
    request: &http::request::Parts,
    body: &mut Option<Incoming>,
) -> Reply {
    if registry.snapshot().named(name).is_none() {
        return unknown(name);
    }
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "component too large: the limit is {} MiB (`[admin] max_upload_mb`)\n",
                admin.max_upload >> 20
            ),
        )
    };
    let declared = request
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > admin.max_upload) {
        return too_large();
    }
    if let Some(refused) = shared(&registry.snapshot(), name) {
        return refused;
    }
    let collect =
        Limited::new(body.take().expect("read once"), admin.max_upload as usize).collect();
    let bytes: Bytes = match tokio::time::timeout(admin.upload_timeout, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(error)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the upload: {error}\n"),
            )
        }
        Err(_) => {
            tracing::warn!(route = %name, "admin upload refused, nothing changed: the body did not arrive in time");
            let mut reply = text(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request timeout: the upload did not arrive within {} ms (`[admin] upload_timeout_ms`)\n",
                    admin.upload_timeout.as_millis()
                ),
            );
            reply.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return reply;
        }
    };

    let _updating = registry.updating().await;
    let snapshot = registry.snapshot();
    let Some(current) = snapshot.named(name) else {
        return unknown(name);
    };
    // Again: the routes may have changed while the body arrived.
    if let Some(refused) = shared(&snapshot, name) {
        return refused;
    }
    let Some(previous) = current.chain.component().cloned() else {
        return text(
            StatusCode::CONFLICT,
            format!("route '{name}' ends in an upstream, not a component\n"),
        );
    };
    let digest = digest(&bytes);
    if digest == previous.digest {
        return json(StatusCode::OK, &swapped(current, false));
    }
    let (host, config) = (registry.host().clone(), current.config.clone());
    let stores = registry.stores().clone();
    let built = tokio::task::spawn_blocking(move || {
        let mut handler = Handler::load(&host, &stores, &config, &bytes, digest)
            .map_err(|error| (StatusCode::UNPROCESSABLE_ENTITY, format!("{error}\n")))?;
        handler.inherit_slots(&previous);
        write_atomically(&config.component, &bytes).map_err(|error| {
            let status = match error {
                WriteError::Symlink(_) | WriteError::NotAFile(_) => StatusCode::CONFLICT,
                WriteError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, format!("cannot replace the component: {error}\n"))
        })?;
        Ok::<_, (StatusCode, String)>(handler)
    })
    .await;
    let handler = match built {
        Ok(Ok(handler)) => handler,
        Ok(Err((status, reason))) => {
            tracing::warn!(route = %name, "admin upload refused, nothing changed: {}", reason.trim_end());
            return text(status, reason);
        }
        Err(error) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the upload task failed: {error}\n"),
            )
        }
    };
    let handler = Arc::new(handler);
    let routes = snapshot
        .routes()
        .iter()
        .map(|route| match route.config.name == name {
            true => Route {
                config: route.config.clone(),
                chain: route.chain.with_component(handler.clone()),
                generation: route.generation + 1,
            },
            false => copy(route),
        })
        .collect();
    let next = Snapshot::new(routes, snapshot.stores().clone());
    let installed = next.named(name).expect("the route is in the new snapshot");
    let reply = swapped(installed, true);
    tracing::info!(
        route = %name,
        sha256 = %digest_hex(&digest),
        compile_ms = handler.load_time.as_millis() as u64,
        "route '{name}' replaced through the admin API: generation {} → {}",
        installed.generation - 1,
        installed.generation
    );
    registry.install(next);
    crate::telemetry::reloaded(true);
    json(StatusCode::OK, &reply)
}

fn swapped(route: &Route, changed: bool) -> serde_json::Value {
    json!({
        "name": route.config.name,
        "sha256": route.chain.component().map(|h| digest_hex(&h.digest)),
        "generation": route.generation,
        "changed": changed,
    })
}

fn copy(route: &Route) -> Route {
    Route {
        config: route.config.clone(),
        chain: route.chain.clone(),
        generation: route.generation,
    }
}

/// `DELETE /admin/routes/{name}`.
async fn delete(admin: &Admin, registry: &Arc<Registry>, name: &str) -> Reply {
    let _updating = registry.updating().await;
    let snapshot = registry.snapshot();
    if snapshot.named(name).is_none() {
        return unknown(name);
    }
    let file = admin.config_file.clone();
    let name_owned = name.to_string();
    let edited = tokio::task::spawn_blocking(move || remove_from_config(&file, &name_owned)).await;
    match edited {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            tracing::warn!(route = %name, "admin delete refused, nothing changed: {reason}");
            return text(StatusCode::CONFLICT, format!("{reason}\n"));
        }
        Err(error) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the delete task failed: {error}\n"),
            )
        }
    }
    let routes = snapshot
        .routes()
        .iter()
        .filter(|route| route.config.name != name)
        .map(copy)
        .collect();
    registry.install(Snapshot::new(routes, snapshot.stores().clone()));
    crate::telemetry::reloaded(true);
    tracing::info!(route = %name, "route '{name}' removed through the admin API");
    text(StatusCode::OK, format!("route '{name}' removed\n"))
}

/// Remove route `name` from the config file, keeping everything else
/// (comments, order, formatting) as it is.
fn remove_from_config(file: &Path, name: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the config file {}: {e}", file.display()))?;
    let config = Config::parse(file, &text)
        .map_err(|e| format!("the config file is invalid, fix it first: {e}"))?;
    let Some(index) = config.routes.iter().position(|r| r.name == name) else {
        return Err(format!(
            "route '{name}' is not in {} (a reload is pending?)",
            file.display()
        ));
    };
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot edit {}: {e}", file.display()))?;
    let item = document
        .get_mut("route")
        .ok_or_else(|| format!("{} has no `route` entries", file.display()))?;
    let mut detached = String::new();
    let left = if let Some(tables) = item.as_array_of_tables_mut() {
        // Comments right above the route go with it; a comment block set
        // off by a blank line (a file header, say) stays.
        let prefix = tables
            .get(index)
            .and_then(|t| t.decor().prefix())
            .and_then(|p| p.as_str())
            .unwrap_or("");
        detached = match prefix.rfind("\n\n") {
            Some(end) => prefix[..end + 1].to_string(),
            None => String::new(),
        };
        tables.remove(index);
        if let Some(next) = tables.get_mut(index).filter(|_| !detached.is_empty()) {
            let own = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
            let joined = format!("{detached}\n{own}");
            next.decor_mut().set_prefix(joined);
            detached.clear();
        }
        tables.len()
    } else if let Some(array) = item.as_array_mut() {
        array.remove(index);
        array.len()
    } else {
        return Err(format!(
            "{}: `route` is not a list of tables",
            file.display()
        ));
    };
    if left == 0 {
        document.remove("route");
    }
    if !detached.is_empty() {
        let trailing = document.trailing().as_str().unwrap_or("").to_string();
        document.set_trailing(format!("{trailing}\n{detached}"));
    }
    write_atomically(file, document.to_string().as_bytes())
        .map_err(|e| format!("cannot replace the config file: {e}"))
}
