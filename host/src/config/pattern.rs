//! Route path patterns as written in `switchyard.toml`: an exact path
//! (`/hello`) or a trailing wildcard (`/api/...`), validated when the config
//! is read. The [router](crate::routing::router) indexes them. Requests are
//! routed on their canonical path ([`crate::request::path`]), so a pattern
//! must be written canonically too, or it could never match.

use crate::request::path;
use std::fmt;

/// A validated route pattern, as written in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Matches one path exactly.
    Exact(String),
    /// Matches a prefix and every path below it; the prefix has no trailing
    /// slash (`/api/...` is stored as `/api`, `/...` as the empty string).
    Prefix(String),
}

/// Why a pattern from the config was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a route path must start with '/'")]
    NoLeadingSlash,
    #[error("'...' may only appear as the last segment, as in '/api/...'")]
    MisplacedWildcard,
    #[error("a route path matches the path only: remove the query or fragment ('?' or '#')")]
    QueryOrFragment,
    #[error("a route path may not contain whitespace or control characters")]
    BadCharacter,
    #[error(
        "requests are routed on their canonical path, which this pattern can never be; write {0:?}"
    )]
    NotCanonical(String),
    #[error("no request path can match this pattern: {0}")]
    Unmatchable(path::PathRefused),
}

impl Pattern {
    /// Parse a pattern as written in `switchyard.toml`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if !text.starts_with('/') {
            return Err(PatternError::NoLeadingSlash);
        }
        if text.contains(['?', '#']) {
            return Err(PatternError::QueryOrFragment);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::BadCharacter);
        }
        let (path, wildcard) = match text.strip_suffix("/...") {
            Some(prefix) => (if prefix.is_empty() { "/" } else { prefix }, "/..."),
            None => (text, ""),
        };
        match path::canonical(path) {
            Err(refused) => return Err(PatternError::Unmatchable(refused)),
            Ok(canonical) if canonical != path && !path.contains("...") => {
                let canonical = canonical.trim_end_matches('/');
                let canonical = match (canonical, wildcard) {
                    ("", "") => "/".to_string(),
                    (c, w) => format!("{c}{w}"),
                };
                return Err(PatternError::NotCanonical(canonical));
            }
            Ok(_) => {}
        }
        match text.strip_suffix("/...") {
            Some(prefix) if !prefix.contains("...") => Ok(Pattern::Prefix(prefix.to_string())),
            Some(_) => Err(PatternError::MisplacedWildcard),
            None if text.contains("...") => Err(PatternError::MisplacedWildcard),
            None => Ok(Pattern::Exact(text.to_string())),
        }
    }

    /// Whether this pattern matches `path` (the path only, no query).
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(exact) => exact == path,
            Pattern::Prefix(prefix) => prefix_matches(prefix, path),
        }
    }
}

/// `/api/...` (stored as `/api`) matches `/api` and `/api/<anything>`.
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(path) => f.write_str(path),
            Pattern::Prefix(prefix) => write!(f, "{prefix}/..."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_validated() {
        assert_eq!(Pattern::parse("hello"), Err(PatternError::NoLeadingSlash));
        assert_eq!(Pattern::parse(""), Err(PatternError::NoLeadingSlash));
        assert_eq!(
            Pattern::parse("/a/.../b"),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(
            Pattern::parse("/a..."),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(
            Pattern::parse("/a/.../..."),
            Err(PatternError::MisplacedWildcard)
        );
        assert_eq!(Pattern::parse("/a?b=1"), Err(PatternError::QueryOrFragment));
        assert_eq!(Pattern::parse("/a b"), Err(PatternError::BadCharacter));
        let not_canonical = |text: &str, write: &str| {
            assert_eq!(
                Pattern::parse(text),
                Err(PatternError::NotCanonical(write.into())),
                "{text}"
            );
        };
        not_canonical("/a//b", "/a/b");
        not_canonical("/%7Euser", "/~user");
        not_canonical("/x/../api/...", "/api/...");
        not_canonical("/./hello", "/hello");
        assert_eq!(
            Pattern::parse("/a%2Fb"),
            Err(PatternError::Unmatchable(path::PathRefused::EncodedSlash))
        );
        assert_eq!(
            Pattern::parse("/../x/..."),
            Err(PatternError::Unmatchable(path::PathRefused::AboveRoot))
        );
        assert!(Pattern::parse("/caf%C3%A9").is_ok());
        assert!(Pattern::parse("/api/").is_ok());
        assert_eq!(Pattern::parse("/..."), Ok(Pattern::Prefix(String::new())));
        assert_eq!(
            Pattern::parse("/api/..."),
            Ok(Pattern::Prefix("/api".into()))
        );
    }

    #[test]
    fn patterns_display_as_written() {
        for text in ["/hello", "/api/...", "/..."] {
            assert_eq!(Pattern::parse(text).unwrap().to_string(), text);
        }
    }
}
