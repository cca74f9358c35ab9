//! Property tests of the two pure parts of the host: the router and the
//! config parser. They take arbitrary input, so they cover what the
//! sentence-named unit tests in `routing/router.rs`, `config/pattern.rs` and
//! `config/tests.rs` cannot list:
//!
//! - `Pattern::parse`, `Router::route` and `Config::parse` never panic,
//!   whatever text they are given;
//! - the router picks exactly the route a simple reference model picks
//!   (exact match first, else the longest wildcard prefix the path is under),
//!   so a path never reaches an exact route other than itself, nor a
//!   wildcard it is not under.
//!
//! Case counts are kept moderate so the whole file runs in a few seconds.
//! Failures are not persisted to a regressions file: proptest prints the
//! minimal failing input, which belongs in a unit test in `routing/router.rs`
//! or `config/tests.rs`.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use std::collections::HashSet;
use std::path::Path;
use switchyard::Config;
use switchyard::{Pattern, Router};

fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Router

/// A route as the generator builds it: segments plus "is it a wildcard".
/// `["api", "v1"], false` is `/api/v1`; `["api"], true` is `/api/...`;
/// `[], true` is `/...`.
#[derive(Clone, Debug)]
struct RouteSpec {
    segments: Vec<String>,
    wildcard: bool,
}

impl RouteSpec {
    /// The pattern as a user writes it in `switchyard.toml`.
    fn text(&self) -> String {
        let path: String = self.segments.iter().map(|s| format!("/{s}")).collect();
        match (self.wildcard, path.is_empty()) {
            (true, _) => format!("{path}/..."),
            (false, true) => "/".to_string(),
            (false, false) => path,
        }
    }

    /// The path an exact route matches, or the prefix a wildcard covers
    /// (no trailing slash; empty for `/...`).
    fn base(&self) -> String {
        if self.wildcard {
            self.segments.iter().map(|s| format!("/{s}")).collect()
        } else {
            self.text()
        }
    }
}

/// Names routes and paths share, so they overlap often (`a` / `ab`).
const NAMES: [&str; 5] = ["a", "ab", "b", "api", "v1"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(&NAMES[..]).prop_map(str::to_string)
}

/// Segments from a small alphabet, so generated routes and paths overlap
/// often: shared prefixes (`a` / `ab`), empty segments (`//`), dots.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => name(),
        1 => Just("".to_string()),
        1 => Just(".".to_string()),
        1 => Just("..".to_string()),
        1 => "[a-c%.~-]{1,3}",
    ]
    // `...` as a whole segment would be a (misplaced) wildcard, not a name.
    .prop_filter("not a wildcard", |s| !s.contains("..."))
}

/// Route segments: the same names, but only what a canonical pattern may
/// hold (no empty, `.` or `..` segment, no `%`), since `Pattern::parse`
/// refuses a pattern no canonical request path could match.
fn route_segment() -> impl Strategy<Value = String> {
    prop_oneof![5 => name(), 1 => "[a-c.~-]{1,3}"]
        .prop_filter("a name, not a dot segment", |s| s.chars().any(|c| c != '.'))
}

fn route_spec() -> impl Strategy<Value = RouteSpec> {
    (prop::collection::vec(route_segment(), 0..4), any::<bool>())
        .prop_map(|(segments, wildcard)| RouteSpec { segments, wildcard })
}

/// Request paths: mostly built from the same segments (with an optional
/// trailing slash), sometimes anything at all.
fn request_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::collection::vec(segment(), 0..5), any::<bool>()).prop_map(|(segments, slash)| {
            let mut path: String = segments.iter().map(|s| format!("/{s}")).collect();
            if slash || path.is_empty() {
                path.push('/');
            }
            path
        }),
        1 => any::<String>(),
        1 => "[/a.b]{0,8}",
    ]
}

/// The reference model: the index of the route the rules in `routing/router.rs`'s
/// module doc choose. A later duplicate replaces an earlier one, as
/// `Router::new` documents.
fn model(routes: &[RouteSpec], path: &str) -> Option<usize> {
    let exact = routes
        .iter()
        .enumerate()
        .rev()
        .find(|(_, r)| !r.wildcard && r.base() == path);
    if let Some((i, _)) = exact {
        return Some(i);
    }
    let mut best: Option<(usize, usize)> = None; // (prefix length, index)
    for (i, r) in routes.iter().enumerate().filter(|(_, r)| r.wildcard) {
        let prefix = r.base();
        let under = path == prefix || path.starts_with(&format!("{prefix}/"));
        // `>=`: among equal prefixes (duplicates) the later one wins.
        if under && best.is_none_or(|(len, _)| prefix.len() >= len) {
            best = Some((prefix.len(), i));
        }
    }
    best.map(|(_, i)| i)
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn pattern_parse_never_panics(text in any::<String>()) {
        let _ = Pattern::parse(&text);
    }

    #[test]
    fn pattern_parse_never_panics_on_slashes_and_dots(text in "[/.a?# \t\0]{0,16}") {
        if let Ok(pattern) = Pattern::parse(&text) {
            // What parses displays as text that parses back to the same pattern.
            prop_assert_eq!(Pattern::parse(&pattern.to_string()), Ok(pattern));
        }
    }

    #[test]
    fn route_never_panics(
        patterns in prop::collection::vec(any::<String>(), 0..6),
        path in any::<String>(),
    ) {
        let router = Router::new(
            patterns.iter().filter_map(|p| Pattern::parse(p).ok()).map(|p| (p, ())),
        );
        let _ = router.route(&path);
    }
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn router_agrees_with_the_reference_model(
        routes in prop::collection::vec(route_spec(), 0..8),
        paths in prop::collection::vec(request_path(), 1..8),
    ) {
        let router = Router::new(routes.iter().enumerate().map(|(i, r)| {
            let pattern = Pattern::parse(&r.text())
                .unwrap_or_else(|e| panic!("generated pattern {:?} rejected: {e}", r.text()));
            (pattern, i)
        }));
        for path in &paths {
            let chosen = router.route(path).copied();
            prop_assert_eq!(chosen, model(&routes, path), "path {:?}", path);
            // Stated directly, independent of the model's tie-breaking:
            if let Some(i) = chosen {
                let r = &routes[i];
                let base = r.base();
                if r.wildcard {
                    prop_assert!(
                        *path == base || path.starts_with(&format!("{base}/")),
                        "path {:?} routed to wildcard {:?} it is not under", path, r.text()
                    );
                    prop_assert!(
                        !routes.iter().any(|o| !o.wildcard && o.base() == *path),
                        "path {:?} has an exact route but went to wildcard {:?}", path, r.text()
                    );
                } else {
                    prop_assert_eq!(&base, path, "path routed to another exact route");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Config

fn parse(text: &str) -> Result<Config, switchyard::ConfigError> {
    Config::parse(Path::new("/x/switchyard.toml"), text)
}

/// A value for a TOML key: the right type, the wrong type, or odd content.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        // Plausible strings: paths, patterns, addresses, names.
        prop_oneof![
            Just("/hello"),
            Just("/api/..."),
            Just("/..."),
            Just("hello"),
            Just(""),
            Just("/a/.../b"),
            Just("a.wasm"),
            Just("../x/y.wasm"),
            Just("127.0.0.1:0"),
            Just("[::1]:8080"),
            Just("localhost"),
            Just("A=B"),
            Just("\\u0000"),
        ]
        .prop_map(|s| format!("\"{s}\"")),
        // Arbitrary string content, escaped as a TOML basic string.
        any::<String>().prop_map(|s| toml_string(&s)),
        // Wrong types.
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1.5".to_string()),
        Just("nan".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("[]".to_string()),
        Just("[\"a\", 1]".to_string()),
        Just("{}".to_string()),
        Just("{ A = \"1\", B = \"two\" }".to_string()),
        Just("{ \"\" = \"x\" }".to_string()),
        Just("{ A = 1 }".to_string()),
        Just("{ A = { B = \"c\" } }".to_string()),
        // Not a value at all.
        Just("".to_string()),
        Just("\"unterminated".to_string()),
    ]
}

/// `text` as a TOML basic string, so arbitrary content reaches the validator
/// instead of failing as a TOML syntax error.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("path".to_string()),
        Just("component".to_string()),
        Just("name".to_string()),
        Just("env".to_string()),
        Just("listen".to_string()),
        Just("route".to_string()),
        Just("componnet".to_string()),
        Just("env.A".to_string()),
        Just("\"quoted key\"".to_string()),
        "[a-z_]{1,8}",
    ]
}

/// One line of a TOML-shaped file: a table header, a key, or noise.
fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("[[route]]".to_string()),
        1 => Just("[route]".to_string()),
        1 => Just("[route.env]".to_string()),
        1 => toml_key().prop_map(|k| format!("[{k}]")),
        8 => (toml_key(), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("# comment".to_string()),
        1 => "\\PC{0,12}",
    ]
}

/// A well-formed route, so generated files often get past the TOML layer
/// into route validation (duplicates, names, env).
fn valid_route() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("/a"), Just("/a/..."), Just("/..."), Just("/b")],
        prop_oneof![Just("a.wasm"), Just("x/a.wasm"), Just("b.wasm")],
        prop::option::of(prop_oneof![Just("a"), Just("b"), Just("-x"), Just(".x")]),
    )
        .prop_map(|(path, component, name)| {
            let name = name
                .map(|n| format!("name = \"{n}\"\n"))
                .unwrap_or_default();
            format!("[[route]]\npath = \"{path}\"\ncomponent = \"{component}\"\n{name}")
        })
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn config_parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn config_parse_never_panics_on_toml_shaped_text(
        lines in prop::collection::vec(toml_line(), 0..16),
    ) {
        check_config(&lines.join("\n"))?;
    }

    #[test]
    fn config_parse_never_panics_on_mostly_valid_routes(
        routes in prop::collection::vec(valid_route(), 0..5),
        extra in prop::collection::vec(toml_line(), 0..3),
    ) {
        check_config(&(routes.concat() + &extra.join("\n")))?;
    }
}

/// `Config::parse` returns (no panic), and a config it accepts keeps the
/// invariant the rest of the host relies on: each path is routed once.
fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Ok(config) = parse(text) {
        let mut seen = HashSet::new();
        for route in &config.routes {
            prop_assert!(
                seen.insert(route.pattern.clone()),
                "pattern {} accepted twice in {:?}",
                route.pattern,
                text
            );
        }
    }
    Ok(())
}
