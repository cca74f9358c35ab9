//! The one spelling of a request path that routing, middleware, guests and
//! upstreams all agree on.
//!
//! A route's middleware protects the route only if every spelling of a path
//! reaches the route the canonical spelling reaches. Backends decode and
//! resolve paths their own way (a file server turns `/x/../private/a` and
//! `/%70rivate/a` into `/private/a`), so the server routes on the
//! canonical path and sends the guest or upstream *that* path, never the
//! client's. [`canonical`] follows RFC 3986 §6.2.2:
//!
//! - percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are
//!   decoded; every other percent-encoding stays, its hex in upper case;
//! - `.` and `..` segments are resolved (after that decoding, so `%2e%2e`
//!   is `..`); a `..` that climbs above `/` is refused;
//! - empty segments (`//`) collapse; a trailing `/` stays, so `/api` and
//!   `/api/` remain two paths;
//! - an encoded `/` (`%2F`), a backslash (raw or `%5C`), an encoded NUL
//!   (`%00`), a `%` not followed by two hex digits and a path that does not
//!   start with `/` (`*`) are refused: backends disagree on what they mean.
//!
//! The query is not part of the path and is left as the client sent it.

/// Why a request path has no canonical spelling (the client gets a 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error("the path must start with '/'")]
    NotAbsolute,
    #[error("a '..' segment climbs above '/'")]
    AboveRoot,
    #[error("the path contains an encoded '/' (%2F)")]
    EncodedSlash,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains an encoded NUL (%00)")]
    Nul,
    #[error("the path contains a '%' not followed by two hex digits")]
    BadPercent,
}

impl PathRefused {
    /// The client's 400 body: which rule the path broke.
    pub fn public_message(self) -> &'static str {
        match self {
            PathRefused::NotAbsolute => "bad request: the path must start with '/'\n",
            PathRefused::AboveRoot => "bad request: a '..' segment climbs above '/'\n",
            PathRefused::EncodedSlash => "bad request: the path contains an encoded '/' (%2F)\n",
            PathRefused::Backslash => "bad request: the path contains a backslash\n",
            PathRefused::Nul => "bad request: the path contains an encoded NUL (%00)\n",
            PathRefused::BadPercent => {
                "bad request: the path contains a '%' not followed by two hex digits\n"
            }
        }
    }
}

/// The canonical spelling of `path` (the path only, no query), or why it
/// has none. `canonical(canonical(p)?) == canonical(p)`.
pub fn canonical(path: &str) -> Result<String, PathRefused> {
    if !path.starts_with('/') {
        return Err(PathRefused::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // `decoded` starts with '/': every piece after the first split is a segment.
    for segment in decoded[1..].split('/') {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(PathRefused::AboveRoot)?;
            }
            segment => segments.push(segment),
        }
    }
    let mut canonical = String::with_capacity(decoded.len());
    for segment in &segments {
        canonical.push('/');
        canonical.push_str(segment);
    }
    if segments.is_empty() || trailing_slash {
        canonical.push('/');
    }
    Ok(canonical)
}

/// `path` with percent-encoded unreserved characters decoded and every
/// other percent-encoding in upper-case hex; refuses what [`canonical`]
/// refuses at the byte level.
fn decode_unreserved(path: &str) -> Result<String, PathRefused> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let (high, low) = match bytes.get(at + 1..at + 3) {
                    Some(&[high, low]) => (hex(high), hex(low)),
                    _ => (None, None),
                };
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(PathRefused::BadPercent);
                };
                match high << 4 | low {
                    b'/' => return Err(PathRefused::EncodedSlash),
                    b'\\' => return Err(PathRefused::Backslash),
                    0 => return Err(PathRefused::Nul),
                    byte if is_unreserved(byte) => out.push(byte),
                    _ => out.extend([
                        b'%',
                        bytes[at + 1].to_ascii_uppercase(),
                        bytes[at + 2].to_ascii_uppercase(),
                    ]),
                }
                at += 3;
            }
            b'\\' => return Err(PathRefused::Backslash),
            0 => return Err(PathRefused::Nul),
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    // Only ASCII sequences were replaced, by ASCII: still UTF-8.
    Ok(String::from_utf8(out).expect("ASCII replaced by ASCII keeps UTF-8 valid"))
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 `unreserved`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(path: &str) -> String {
        canonical(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn canonical_paths_are_left_alone() {
        for path in [
            "/",
            "/hello",
            "/api/",
            "/a/b/c",
            "/a%20b",
            "/%C3%A9t%C3%A9",
            "/é",
        ] {
            assert_eq!(ok(path), path);
        }
    }

    #[test]
    fn dot_segments_resolve() {
        assert_eq!(ok("/x/../private/a"), "/private/a");
        assert_eq!(ok("/./private/a"), "/private/a");
        assert_eq!(ok("/private/./a"), "/private/a");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/."), "/a/");
        assert_eq!(ok("/a/.."), "/");
        // Only whole segments are dots.
        assert_eq!(ok("/a/..b/.c./..."), "/a/..b/.c./...");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for path in [
            "/..",
            "/../private",
            "/a/../..",
            "/./../a",
            "/%2e%2e/a",
            "/.%2E/a",
        ] {
            assert_eq!(canonical(path), Err(PathRefused::AboveRoot), "{path}");
        }
    }

    #[test]
    fn empty_segments_collapse_and_a_trailing_slash_stays() {
        assert_eq!(ok("//private/a"), "/private/a");
        assert_eq!(ok("/private//a"), "/private/a");
        assert_eq!(ok("/private/a//"), "/private/a/");
        assert_eq!(ok("//"), "/");
    }

    #[test]
    fn unreserved_characters_are_decoded_and_other_hex_upper_cased() {
        assert_eq!(ok("/%70rivate/a"), "/private/a");
        assert_eq!(ok("/%7Euser/%2d%5F%2E"), "/~user/-_.");
        assert_eq!(ok("/%2e/private"), "/private");
        assert_eq!(ok("/a%3fb%3Fc"), "/a%3Fb%3Fc");
        assert_eq!(ok("/%c3%a9"), "/%C3%A9");
        // A decoded '%' is not decoded again.
        assert_eq!(ok("/%2570rivate"), "/%2570rivate");
    }

    #[test]
    fn encoded_slash_backslash_and_nul_are_refused() {
        let cases = [
            ("/private%2Fa", PathRefused::EncodedSlash),
            ("/private%2fa", PathRefused::EncodedSlash),
            ("/private%5Ca", PathRefused::Backslash),
            ("/private\\a", PathRefused::Backslash),
            ("/private%00", PathRefused::Nul),
            ("/a%", PathRefused::BadPercent),
            ("/a%2", PathRefused::BadPercent),
            ("/a%zz", PathRefused::BadPercent),
            ("/a%+1", PathRefused::BadPercent),
            ("*", PathRefused::NotAbsolute),
            ("", PathRefused::NotAbsolute),
        ];
        for (path, refused) in cases {
            assert_eq!(canonical(path), Err(refused), "{path}");
        }
    }

    /// A segment of a canonical path: unreserved characters, sub-delims,
    /// and percent-encodings that stay encoded; never `.` or `..`.
    fn segment() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9_~-]",
                Just(".".to_string()),
                Just("%20".to_string()),
                Just("%3F".to_string()),
                Just("%25".to_string()),
                Just("!".to_string()),
            ],
            1..6,
        )
        .prop_map(|parts| parts.concat())
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    fn canonical_path() -> impl Strategy<Value = String> {
        (prop::collection::vec(segment(), 0..5), any::<bool>()).prop_map(|(segments, slash)| {
            let mut path: String = segments.iter().map(|s| format!("/{s}")).collect();
            if path.is_empty() || slash {
                path.push('/');
            }
            path
        })
    }

    /// Another spelling of `path`: each choice inserts `./`, `x/../` or an
    /// extra `/`, percent-encodes a character or lower-cases hex.
    fn respell(path: &str, choices: &[(u8, usize)]) -> String {
        let mut spelled = path.to_string();
        for &(kind, at) in choices {
            // Positions right after a '/', where a segment starts.
            let starts: Vec<usize> = spelled.match_indices('/').map(|(i, _)| i + 1).collect();
            let start = starts[at % starts.len()];
            match kind % 5 {
                0 => spelled.insert_str(start, "./"),
                1 => spelled.insert_str(start, "zz/../"),
                2 => spelled.insert(start, '/'),
                3 => {
                    // Encode the first unreserved character of the segment.
                    if let Some(c) = spelled[start..]
                        .chars()
                        .next()
                        .filter(|c| c.is_ascii() && is_unreserved(*c as u8))
                    {
                        let encoded = match at % 2 {
                            0 => format!("%{:02X}", c as u8),
                            _ => format!("%{:02x}", c as u8),
                        };
                        spelled.replace_range(start..start + 1, &encoded);
                    }
                }
                _ => spelled = spelled.replace("%3F", "%3f"),
            }
        }
        spelled
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_canonical_path_is_that_path(
            path in canonical_path(),
            choices in prop::collection::vec((any::<u8>(), any::<usize>()), 0..8),
        ) {
            prop_assert_eq!(canonical(&path), Ok(path.clone()));
            let spelled = respell(&path, &choices);
            prop_assert_eq!(canonical(&spelled), Ok(path), "spelled {}", spelled);
        }

        #[test]
        fn any_path_is_refused_or_canonical_and_stable(path in "/[a-zA-Z0-9./%~_\\-]{0,24}") {
            if let Ok(once) = canonical(&path) {
                prop_assert_eq!(canonical(&once), Ok(once.clone()));
                prop_assert!(!once.contains("//"), "{}", once);
                for dot in once.split('/') {
                    prop_assert!(dot != "." && dot != "..", "{}", once);
                }
            }
        }
    }
}
