//! `?kv=KEY`: one `atomics.increment` in the route's default store, so a
//! test can see a p3 guest reach wasi:keyvalue (a plain synchronous
//! interface, the same one p2 guests call) next to wasi:http 0.3.

use crate::body;
use crate::wasi::http::types::{Fields, Response};
use crate::wasi::keyvalue::{atomics, store};

/// Add 1 to `key` in the store `""` (the host's name for the route's
/// `default` store): 200 `count=N`, or 503 in kv-counter's words,
/// `hello-p3: cannot count 'KEY' in store '': ERR`.
pub fn count(key: &str, headers: Fields) -> Response {
    match store::open("").and_then(|bucket| atomics::increment(&bucket, key, 1)) {
        Ok(count) => body::text(200, headers, format!("count={count}\n")),
        Err(e) => body::text(
            503,
            headers,
            format!(
                "hello-p3: cannot count '{key}' in store '': {}\n",
                error_text(&e)
            ),
        ),
    }
}

/// The error's WIT case, as the p2 `sdk::keyvalue_error_text` says it
/// (hello-p3 has its own p3 bindings, so it cannot share that one).
fn error_text(error: &store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no-such-store".to_owned(),
        store::Error::AccessDenied => "access-denied".to_owned(),
        store::Error::Other(message) => format!("other: {message}"),
    }
}
