//! `auth`: middleware that answers `401` (with `www-authenticate: Bearer`)
//! unless the request carries `Authorization: Bearer <AUTH_TOKEN>`, where
//! `AUTH_TOKEN` comes from the route's env; a request with the right token is
//! passed on to the next element of the chain unchanged and its answer
//! relayed as is. Without `AUTH_TOKEN` it refuses everything with `500`
//! (fail closed: a typo in the config must not open the route).

use sdk::{IncomingRequest, ResponseOutparam};

struct Auth;

impl sdk::Guest for Auth {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if let Err(e) = auth(request, out) {
            eprintln!("auth: {e}");
        }
    }
}

fn auth(request: IncomingRequest, out: ResponseOutparam) -> Result<(), sdk::Error> {
    let token = match std::env::var("AUTH_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => {
            eprintln!("auth: AUTH_TOKEN is not set in the route's env; refusing every request");
            return sdk::respond_text(out, 500, "internal server error\n");
        }
    };
    let expected = format!("Bearer {token}");
    let presented = request.headers().get("authorization");
    if !presented
        .iter()
        .any(|value| same(value, expected.as_bytes()))
    {
        let headers = sdk::fields(&[
            ("content-type", "text/plain"),
            ("www-authenticate", "Bearer"),
        ])?;
        let body = sdk::respond(out, 401, headers)?;
        body.write(b"unauthorized\n")?;
        return body.finish();
    }
    let headers = request.headers().clone();
    match sdk::forward(request, headers) {
        Ok(forwarded) => {
            let headers = forwarded.response().headers().clone();
            forwarded.relay(headers, out)
        }
        Err(code) => {
            eprintln!("auth: the next element failed: {code:?}");
            sdk::respond_text(out, 502, "bad gateway\n")
        }
    }
}

/// Compare without stopping at the first difference, so the time taken does
/// not tell an attacker how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_identical_tokens_match() {
        assert!(super::same(b"Bearer abc", b"Bearer abc"));
        assert!(!super::same(b"Bearer abd", b"Bearer abc"));
        assert!(!super::same(b"Bearer ab", b"Bearer abc"));
    }
}

sdk::export!(Auth);
