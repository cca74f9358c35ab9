//! `switchyard check`: can this host serve these `.wasm` files?
//!
//! Each file goes through the server's own [`Host`] (the engine its world
//! needs, the same linker, the same pre-instantiation as a
//! `wasi:http/proxy@0.2` or `wasi:http/service@0.3` handler), so "can be
//! served" here means exactly what `serve` would do with it. For a component the report
//! also shows its shape (imports, exports, the world its exports imply) and
//! every import the linker cannot satisfy, not only the first one wasmtime
//! stops at: after each failure the missing import is stood in for by a
//! throwaway definition in a copy of the linker and the check runs again.

use crate::runtime::header::check_component_header;
use crate::runtime::{digest, Host, World as Exported};
use std::fmt;
use std::path::{Path, PathBuf};
use wasmtime::component::types::{ComponentExtern, ComponentItem};
use wasmtime::component::{Component, LinkerInstance, ResourceType};
use wasmtime::Engine;

/// The export a wasi:http 0.2 component must have to answer requests (any
/// 0.2.x version).
pub const HANDLER_EXPORT: &str = "wasi:http/incoming-handler";

/// The export of a wasi:http 0.3 component (`wasi:http/service`).
pub const SERVICE_EXPORT: &str = "wasi:http/handler";

/// What `check` found out about one file.
#[derive(Debug)]
pub struct FileReport {
    pub file: PathBuf,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub enum Verdict {
    /// The file could not be read.
    Unreadable(String),
    /// Not a component: not WebAssembly at all, empty, or a core module.
    NotAComponent(String),
    /// Looks like a component, but wasmtime cannot compile it.
    Invalid(String),
    /// A compiled component.
    Component(ComponentReport),
}

/// The shape of a compiled component and whether this host can serve it.
#[derive(Debug)]
pub struct ComponentReport {
    /// The world its exports imply.
    pub world: World,
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
    /// Imports this host's linker cannot satisfy, each with the reason.
    pub unsatisfied: Vec<Unsatisfied>,
    /// Why `serve` would refuse it, if it would (`None`: it can be served).
    pub refusal: Option<String>,
}

/// A named import or export and what kind of item it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub kind: &'static str,
}

/// An import the host cannot satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsatisfied {
    pub name: String,
    pub reason: String,
}

/// The world a component targets, as far as its exports tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum World {
    /// Exports `wasi:http/handler@0.3.x` (this export name): wasi:http 0.3.
    HttpService(String),
    /// Exports `wasi:http/incoming-handler` (this export name).
    HttpProxy(String),
    /// Exports `wasi:cli/run` (a command, not a request handler).
    CliCommand(String),
    /// Neither.
    Unknown,
}

impl FileReport {
    /// Whether `serve` would accept this file as a route's component.
    pub fn servable(&self) -> bool {
        matches!(&self.verdict, Verdict::Component(report) if report.refusal.is_none())
    }
}

/// `switchyard check FILE...`: a report per file on stdout; exit 0 only if
/// every file can be served, 1 if any cannot (or the host cannot start).
pub fn run(files: &[PathBuf]) -> std::process::ExitCode {
    let host = match Host::new() {
        Ok(host) => host,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut servable = 0;
    for file in files {
        let report = check(&host, file);
        servable += usize::from(report.servable());
        print!("{report}");
    }
    println!("{servable} of {} files can be served", files.len());
    if servable == files.len() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Check one file with `host`. CPU-heavy (compiles the component).
pub fn check(host: &Host, file: &Path) -> FileReport {
    let verdict = match regular_file(file).and_then(|()| std::fs::read(file)) {
        Err(error) => Verdict::Unreadable(format!("cannot read the file: {error}")),
        Ok(bytes) => match check_component_header(&bytes) {
            Err(error) => Verdict::NotAComponent(format!("{error:#}")),
            Ok(()) => {
                // The engine `serve` would compile it on.
                let concurrent = Exported::of(&bytes).is_some_and(|w| w.is_p3());
                match host.compile(&bytes, digest(&bytes), concurrent) {
                    Err(error) => Verdict::Invalid(format!("{error:#}")),
                    Ok(component) => match describe(host, &component, concurrent) {
                        Ok(report) => Verdict::Component(report),
                        Err(error) => Verdict::Invalid(format!("{error:#}")),
                    },
                }
            }
        },
    };
    FileReport {
        file: file.to_owned(),
        verdict,
    }
}

/// Refuse what is not a regular file before reading it: a directory says
/// so plainly, and a FIFO or a device would block or never end.
fn regular_file(file: &Path) -> std::io::Result<()> {
    let kind = std::fs::metadata(file)?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else {
        "a FIFO, socket or device"
    };
    Err(std::io::Error::other(format!(
        "not a regular file but {what}"
    )))
}

fn describe(
    host: &Host,
    component: &Component,
    concurrent: bool,
) -> anyhow::Result<ComponentReport> {
    let engine = component.engine();
    let ty = component.component_type();
    let imports = items(ty.imports(engine));
    let exports = items(ty.exports(engine));
    // The unsatisfied list says which imports and why; the refusal is the
    // one-line summary `serve` would print.
    let refusal = host
        .pre_instantiate(component, concurrent)
        .err()
        .map(|error| error.to_string());
    let linker = host.linker(concurrent)?;
    Ok(ComponentReport {
        world: world(&exports),
        imports,
        exports,
        unsatisfied: unsatisfied_imports(linker, component),
        refusal,
    })
}

fn items<'a>(list: impl Iterator<Item = (&'a str, ComponentExtern<'a>)>) -> Vec<Item> {
    list.map(|(name, item)| Item {
        name: name.to_string(),
        kind: kind(&item.ty),
    })
    .collect()
}

fn kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// Whether `name` is `interface` at any version (`a:b/c` or `a:b/c@x.y.z`).
fn is_interface(name: &str, interface: &str) -> bool {
    name.strip_prefix(interface)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
}

fn world(exports: &[Item]) -> World {
    let find = |interface: &str| {
        exports
            .iter()
            .find(|e| is_interface(&e.name, interface))
            .map(|e| e.name.clone())
    };
    if let Some(name) = find(SERVICE_EXPORT) {
        World::HttpService(name)
    } else if let Some(name) = find(HANDLER_EXPORT) {
        World::HttpProxy(name)
    } else if let Some(name) = find("wasi:cli/run") {
        World::CliCommand(name)
    } else {
        World::Unknown
    }
}

/// Every import of `component` the host's linker cannot satisfy.
///
/// wasmtime's type check stops at the first unsatisfied import and names it
/// in its message (`component imports instance `NAME`, but ...`). So: check
/// against a copy of the linker; on failure record the named import with
/// wasmtime's reason, define a stand-in for it in the copy (never called:
/// nothing is instantiated), and check again, until the check passes.
fn unsatisfied_imports<T: 'static>(
    mut linker: wasmtime::component::Linker<T>,
    component: &Component,
) -> Vec<Unsatisfied> {
    let engine = component.engine();
    let ty = component.component_type();
    let imports: Vec<(&str, ComponentItem)> = ty.imports(engine).map(|(n, e)| (n, e.ty)).collect();
    linker.allow_shadowing(true);
    let mut found: Vec<Unsatisfied> = Vec::new();
    // Each round either passes or stands in for one more import.
    for _ in 0..=imports.len() {
        let error = match linker.instantiate_pre(component) {
            Ok(_) => return found,
            Err(error) => anyhow::Error::from(error),
        };
        let top = error.to_string();
        let named = imports
            .iter()
            .find(|(name, _)| top.contains(&format!("`{name}`")))
            .filter(|(name, _)| !found.iter().any(|u| u.name == *name));
        let Some((name, item)) = named else {
            // Not about one import (or the same one again): report it whole.
            found.push(Unsatisfied {
                name: "(component)".into(),
                reason: format!("{error:#}"),
            });
            return found;
        };
        let reason = error
            .chain()
            .skip(1)
            .map(|cause| cause.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        found.push(Unsatisfied {
            name: name.to_string(),
            reason: if reason.is_empty() { top } else { reason },
        });
        if stand_in(&mut linker.root(), name, item, engine).is_err() {
            // A module or component import: nothing to stand in with, so
            // the imports after it stay unchecked.
            return found;
        }
    }
    found
}

/// Define `name` in `linker` with the shape of `item`: functions that would
/// fail if called, host resources, nested instances of the same.
fn stand_in<T: 'static>(
    linker: &mut LinkerInstance<'_, T>,
    name: &str,
    item: &ComponentItem,
    engine: &Engine,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentInstance(instance) => {
            let mut nested = linker.instance(name)?;
            for (export, item) in instance.exports(engine) {
                stand_in(&mut nested, export, &item.ty, engine)?;
            }
        }
        ComponentItem::ComponentFunc(_) => {
            linker.func_new(name, |_, _, _, _| {
                wasmtime::bail!("a stand-in of `switchyard check` was called")
            })?;
        }
        ComponentItem::Resource(_) => {
            linker.resource(name, ResourceType::host::<()>(), |_, _| Ok(()))?;
        }
        ComponentItem::Type(_) => {}
        ComponentItem::Module(_) | ComponentItem::Component(_) | ComponentItem::CoreFunc(_) => {
            wasmtime::bail!("cannot stand in for a {}", kind(item))
        }
    }
    Ok(())
}

impl fmt::Display for FileReport {
    /// The human-readable report: a verdict line, then the details.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        let verdict = if self.servable() {
            "can be served"
        } else {
            "cannot be served"
        };
        let report = match &self.verdict {
            Verdict::Unreadable(why) | Verdict::NotAComponent(why) | Verdict::Invalid(why) => {
                return writeln!(f, "{file}: {verdict}: {why}");
            }
            Verdict::Component(report) => report,
        };
        writeln!(f, "{file}: {verdict}")?;
        let version = |export: &str| export.split_once('@').map(|(_, v)| format!("@{v}"));
        match &report.world {
            World::HttpService(export) => writeln!(
                f,
                "  component for the wasi:http/service{} world (exports {export})",
                version(export).unwrap_or_default()
            )?,
            World::HttpProxy(export) => writeln!(
                f,
                "  component for the wasi:http/proxy{} world (exports {export})",
                version(export).unwrap_or_default()
            )?,
            World::CliCommand(export) => writeln!(
                f,
                "  component for the wasi:cli/command world (exports {export}), not a request handler"
            )?,
            World::Unknown => writeln!(
                f,
                "  component for an unknown world (it exports neither {SERVICE_EXPORT} nor {HANDLER_EXPORT})"
            )?,
        }
        for (label, items) in [("imports", &report.imports), ("exports", &report.exports)] {
            writeln!(f, "  {label} ({}):", items.len())?;
            for item in items {
                writeln!(f, "    {} {}", item.kind, item.name)?;
            }
        }
        if !report.unsatisfied.is_empty() {
            writeln!(
                f,
                "  imports this host cannot satisfy ({}):",
                report.unsatisfied.len()
            )?;
            for missing in &report.unsatisfied {
                writeln!(f, "    {}: {}", missing.name, missing.reason)?;
            }
        }
        if let Some(refusal) = &report.refusal {
            writeln!(f, "  serve would refuse it: {refusal}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
