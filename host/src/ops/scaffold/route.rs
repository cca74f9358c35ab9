//! The `[[route]]` that `switchyard new handler` appends to a project's
//! `switchyard.toml`, edited with toml_edit so the file's comments and
//! layout stay as the user wrote them, and refused when its name or path
//! is taken.

use crate::config::{Config, Pattern};
use std::path::Path;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

/// The route to append.
pub struct NewRoute<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub language: &'a str,
    pub watch: &'a [String],
}

/// `text` (the config file `file`) with `route` appended, checked: the
/// name and path must be free, and the result must be a valid config.
pub fn append(file: &Path, text: &str, route: &NewRoute) -> Result<String, String> {
    let shown = file.display();
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{shown} is not valid TOML: {}", e.message()))?;
    let pattern = Pattern::parse(route.path).map_err(|e| format!("route {:?}: {e}", route.path))?;
    if document
        .get("middleware")
        .and_then(Item::as_table_like)
        .is_some_and(|m| m.contains_key(route.name))
    {
        return Err(format!(
            "{shown} already has a middleware named '{}'; pick another name",
            route.name
        ));
    }
    if let Some(routes) = document.get("route").and_then(Item::as_array_of_tables) {
        for (i, existing) in routes.iter().enumerate() {
            let index = i + 1;
            let path = existing.get("path").and_then(Item::as_str).unwrap_or("");
            if existing_name(existing).as_deref() == Some(route.name) {
                return Err(format!(
                    "{shown} already has a route named '{}' (route {index}, {path}); pick another name",
                    route.name
                ));
            }
            if Pattern::parse(path).is_ok_and(|p| p == pattern) {
                return Err(format!(
                    "{shown} already serves {} (route {index}, '{}'); pick another path with --route",
                    route.path,
                    existing_name(existing).unwrap_or_default()
                ));
            }
        }
    }

    let mut table = Table::new();
    table.decor_mut().set_prefix(format!(
        "\n# {}: a {} handler (handlers/{}/), added by `switchyard new handler`.\n",
        route.name, route.language, route.name
    ));
    table.insert("name", value(route.name));
    table.insert("path", value(route.path));
    table.insert("component", value(format!("build/{}.wasm", route.name)));
    let mut build = Table::new();
    build.insert("command", value("./build.sh"));
    build.insert("workdir", value(format!("handlers/{}", route.name)));
    let mut watch = Array::new();
    for pattern in route.watch {
        watch.push(pattern.as_str());
    }
    build.insert("watch", value(watch));
    table.insert("build", Item::Table(build));
    match document.get_mut("route") {
        Some(item) => item
            .as_array_of_tables_mut()
            .ok_or_else(|| format!("{shown}: `route` is not an array of [[route]] tables"))?
            .push(table),
        None => {
            let mut routes = ArrayOfTables::new();
            routes.push(table);
            document.insert("route", Item::ArrayOfTables(routes));
        }
    }
    let appended = document.to_string();
    Config::parse(file, &appended)
        .map_err(|e| format!("the config would not be valid with the new route: {e}"))?;
    Ok(appended)
}

/// A route's name as the config derives it: `name`, else the component's
/// file stem.
fn existing_name(route: &Table) -> Option<String> {
    if let Some(name) = route.get("name").and_then(Item::as_str) {
        return Some(name.to_string());
    }
    let component = route.get("component").and_then(Item::as_str)?;
    Path::new(component)
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
}
