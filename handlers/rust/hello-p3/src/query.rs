//! The query switches of `hello-p3`, because `wasi:http` hands a handler only
//! the raw `path-with-query` and the switches are how a test picks a
//! behaviour.

/// The `&`-separated pairs of the query of `path_with_query`, in order:
/// `key` alone gives `(key, "")`, `key=value` gives `(key, value)`. Keys and
/// values stay raw; [`percent_decode`] is for the values that need it.
pub fn pairs(path_with_query: &str) -> Vec<(&str, &str)> {
    let Some((_, query)) = path_with_query.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

/// Decode `%XX` escapes (enough for a URL given as `?fetch=http%3A%2F%2F...`).
/// A malformed escape is kept as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| (bytes.get(at).copied()? as char).to_digit(16);
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{pairs, percent_decode};

    #[test]
    fn bare_keys_and_pairs_come_in_order() {
        assert_eq!(
            pairs("/p3/hello?sleep&fetch=a=b&&big=3"),
            [("sleep", ""), ("fetch", "a=b"), ("big", "3")]
        );
        assert!(pairs("/p3/hello").is_empty());
    }

    #[test]
    fn escapes_are_decoded_and_malformed_ones_kept() {
        assert_eq!(percent_decode("http%3A%2F%2Fnext%2fx"), "http://next/x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz+"), "%zz+");
    }
}
