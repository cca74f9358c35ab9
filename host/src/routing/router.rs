//! Pure path → route matching.
//!
//! The router knows nothing about wasmtime, files or sockets: it maps a
//! request path to a value (in practice, an index into the snapshot's routes).
//! Keeping it pure makes the matching rules easy to state and to test
//! exhaustively:
//!
//! - an exact pattern (`/hello`) matches that path only;
//! - a wildcard pattern (`/api/...`) matches `/api`, `/api/` and everything
//!   below `/api/`, but not `/apix`; `/...` alone matches every path;
//! - the most specific pattern wins: an exact match beats any wildcard, and a
//!   longer wildcard prefix beats a shorter one.

use crate::config::pattern::prefix_matches;
use crate::config::Pattern;
use std::collections::HashMap;

/// Maps request paths to values by the rules in the module doc.
#[derive(Clone, Debug)]
pub struct Router<T> {
    exact: HashMap<String, T>,
    /// Wildcards, longest prefix first, so the first match is the most specific.
    prefixes: Vec<(String, T)>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            exact: HashMap::new(),
            prefixes: Vec::new(),
        }
    }
}

impl<T> Router<T> {
    /// Build a router; patterns must be unique (the config rejects duplicates
    /// with a better message before this is called). A later duplicate
    /// replaces an earlier one.
    pub fn new(entries: impl IntoIterator<Item = (Pattern, T)>) -> Router<T> {
        let mut router = Router::default();
        for (pattern, value) in entries {
            match pattern {
                Pattern::Exact(path) => {
                    router.exact.insert(path, value);
                }
                Pattern::Prefix(prefix) => {
                    router.prefixes.retain(|(p, _)| *p != prefix);
                    router.prefixes.push((prefix, value));
                }
            }
        }
        router
            .prefixes
            .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        router
    }

    /// The value of the most specific pattern matching `path`, if any.
    pub fn route(&self, path: &str) -> Option<&T> {
        if let Some(value) = self.exact.get(path) {
            return Some(value);
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
            .map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(patterns: &[&str]) -> Router<String> {
        Router::new(
            patterns
                .iter()
                .map(|p| (Pattern::parse(p).unwrap(), p.to_string())),
        )
    }

    fn route<'a>(r: &'a Router<String>, path: &str) -> Option<&'a str> {
        r.route(path).map(String::as_str)
    }

    #[test]
    fn exact_route_matches_only_its_path() {
        let r = router(&["/hello"]);
        assert_eq!(route(&r, "/hello"), Some("/hello"));
        assert_eq!(route(&r, "/hello/"), None);
        assert_eq!(route(&r, "/hello/x"), None);
        assert_eq!(route(&r, "/hell"), None);
    }

    #[test]
    fn wildcard_matches_its_prefix_and_below_but_not_siblings() {
        let r = router(&["/api/..."]);
        assert_eq!(route(&r, "/api"), Some("/api/..."));
        assert_eq!(route(&r, "/api/"), Some("/api/..."));
        assert_eq!(route(&r, "/api/v1/items"), Some("/api/..."));
        assert_eq!(route(&r, "/apix"), None);
        assert_eq!(route(&r, "/"), None);
    }

    #[test]
    fn root_wildcard_matches_every_path() {
        let r = router(&["/..."]);
        for path in ["/", "/a", "/a/b/c", ""] {
            assert_eq!(route(&r, path), Some("/..."), "{path}");
        }
    }

    #[test]
    fn exact_route_beats_wildcard() {
        let r = router(&["/api/...", "/api/health"]);
        assert_eq!(route(&r, "/api/health"), Some("/api/health"));
        assert_eq!(route(&r, "/api/other"), Some("/api/..."));
    }

    #[test]
    fn longer_wildcard_beats_shorter_whatever_the_order() {
        let r = router(&["/...", "/api/...", "/api/v2/..."]);
        assert_eq!(route(&r, "/api/v2/x"), Some("/api/v2/..."));
        assert_eq!(route(&r, "/api/v1/x"), Some("/api/..."));
        assert_eq!(route(&r, "/other"), Some("/..."));
        let r = router(&["/api/v2/...", "/api/...", "/..."]);
        assert_eq!(route(&r, "/api/v2/x"), Some("/api/v2/..."));
    }

    #[test]
    fn unmatched_path_has_no_route() {
        let r = router(&["/hello", "/api/..."]);
        assert_eq!(route(&r, "/nope"), None);
    }
}
