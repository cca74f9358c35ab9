//! A route's `variables` (what its guest reads through wasi:config) and the
//! `{ env = "NAME" }` form that takes a value from Switchyard's own
//! environment when the config is loaded, so a secret never sits in the
//! file.
//!
//! ```toml
//! [[route]]
//! variables = { greeting = "hello", api_key = { env = "APP_API_KEY" } }
//! ```
//!
//! A value from the environment is a secret: it is compared (so a reload
//! sees it change) but never shown, not in `Debug`, messages or the admin
//! API, which say where it came from instead.

use std::collections::BTreeMap;

/// A value written in the file, or read from an environment variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    value: String,
    /// The environment variable it came from; `None` for a literal.
    env: Option<String>,
}

impl Value {
    /// A literal.
    pub fn literal(value: impl Into<String>) -> Value {
        Value {
            value: value.into(),
            env: None,
        }
    }

    /// The value itself, for the guest (or the backend) only.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The environment variable it was read from, if it is a secret.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.env {
            Some(env) => write!(f, "{{ env = {env:?} }}"),
            None => write!(f, "{:?}", self.value),
        }
    }
}

/// A string, or `{ env = "NAME" }` read now. The message names neither the
/// value nor anything but the variable it wanted.
pub(super) fn read_value(raw: &toml::Value) -> Result<Value, String> {
    match raw {
        toml::Value::String(s) => Ok(Value::literal(s.clone())),
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("env") => {
            let Some(name) = t["env"].as_str().filter(|n| !n.is_empty()) else {
                return Err("`env` must name an environment variable".into());
            };
            match std::env::var(name) {
                Ok(value) => Ok(Value {
                    value,
                    env: Some(name.to_string()),
                }),
                Err(std::env::VarError::NotPresent) => Err(format!(
                    "the environment variable {name} is not set (switchyard's own environment)"
                )),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(format!("the environment variable {name} is not UTF-8"))
                }
            }
        }
        _ => Err(r#"expected a string or { env = "NAME" }"#.into()),
    }
}

/// A `variables` table: names of `[A-Za-z0-9_.-]`, each value read.
pub(super) fn read(raw: &BTreeMap<String, toml::Value>) -> Result<Vec<(String, Value)>, String> {
    raw.iter()
        .map(|(name, raw)| {
            let plain = !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !plain {
                return Err(format!(
                    "variable name {name:?} is invalid: use 1-128 characters from A-Z a-z 0-9 _ - ."
                ));
            }
            let value = read_value(raw).map_err(|e| format!("variable '{name}': {e}"))?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// A middleware's variables: the route's, with its own laid over them.
pub(super) fn merge(route: &[(String, Value)], own: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut merged: BTreeMap<String, Value> = route.iter().cloned().collect();
    merged.extend(own.iter().cloned());
    merged.into_iter().collect()
}
