//! Query-string parsing, because `wasi:http` hands a handler only the raw
//! `path-with-query` and every handler that takes parameters needs the same
//! `application/x-www-form-urlencoded` decoding.

/// The `key=value` pairs of the query part of `path_with_query`, in order,
/// percent-decoded (`+` counts as a space). A pair without `=` has an empty
/// value; empty pairs (`a=1&&b=2`) are skipped.
pub fn query(path_with_query: &str) -> Vec<(String, String)> {
    let Some((_, query)) = path_with_query.split_once('?') else {
        return Vec::new();
    };
    // A fragment never reaches a server, but do not let one leak into values.
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// The first value of `key` in the query of `path_with_query`, decoded.
pub fn query_value(path_with_query: &str, key: &str) -> Option<String> {
    query(path_with_query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Decode `%XX` escapes and `+` (as a space). Malformed escapes are kept
/// literally; bytes that do not form UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes.get(i + 1..i + 3).and_then(hex_pair),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, other) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_split_and_decoded_in_order() {
        let pairs = query("/stream?bytes=10&chunk=4&name=a%20b+c&flag");
        let expected = [
            ("bytes", "10"),
            ("chunk", "4"),
            ("name", "a b c"),
            ("flag", ""),
        ];
        assert_eq!(pairs.len(), expected.len());
        for ((k, v), (ek, ev)) in pairs.iter().zip(expected) {
            assert_eq!((k.as_str(), v.as_str()), (ek, ev));
        }
    }

    #[test]
    fn a_path_without_query_has_no_pairs() {
        assert!(query("/hello").is_empty());
    }

    #[test]
    fn first_value_wins() {
        assert_eq!(query_value("/x?a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_value("/x?a=1", "b"), None);
    }

    #[test]
    fn an_encoded_url_survives_as_a_value() {
        let url = query_value("/fetch?url=http%3A%2F%2Fh%3A1%2Fp%3Fq%3D1%26r%3D2", "url");
        assert_eq!(url.as_deref(), Some("http://h:1/p?q=1&r=2"));
    }

    #[test]
    fn malformed_escapes_are_kept_literally() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%62"), "Ab");
    }
}
