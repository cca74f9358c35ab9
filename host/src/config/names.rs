//! The rules route and middleware names and guest environments follow,
//! shared by `[[route]]`, `[[middleware]]` and the admin API (which checks a
//! name from a URL before any lookup).

use std::collections::BTreeMap;

/// Environment variable names and values the guest can be given.
pub fn validate_env(env: &BTreeMap<String, String>) -> Result<(), String> {
    for key in env.keys() {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(format!(
                "environment variable name {key:?} is invalid (empty, or contains '=' or NUL)"
            ));
        }
    }
    if let Some((key, _)) = env.iter().find(|(_, v)| v.contains('\0')) {
        return Err(format!("environment variable {key} contains a NUL byte"));
    }
    Ok(())
}

/// Route names appear in logs, metrics and URLs, so keep them plain.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "route name {name:?} is invalid: use 1-64 characters from A-Z a-z 0-9 - _ . (not starting with '.')"
        ))
    }
}
