//! `?fetch=URL`: one outgoing `GET` through `wasi:http/client.send`, so a
//! test can see a p3 guest's outbound request pass (or meet) the host's
//! outbound policy.

use crate::body;
use crate::wasi::http::client;
use crate::wasi::http::types::{Fields, Request, Response, Scheme};
use crate::wit_future;

/// `GET url`. Answers 200 `fetched {status}\n` followed by the fetched body
/// (streamed, then the fetched trailers), 502 `fetch failed: {code:?}\n`
/// when `send` returns an error code, 400 for a URL this cannot send.
pub async fn fetch(url: &str, headers: Fields) -> Response {
    let request = match request_for(url) {
        Ok(request) => request,
        Err(why) => return body::text(400, headers, format!("bad fetch URL {url:?}: {why}\n")),
    };
    let fetched = match client::send(request).await {
        Ok(fetched) => fetched,
        Err(code) => return body::text(502, headers, format!("fetch failed: {code:?}\n")),
    };
    let status = fetched.get_status_code();
    let (_, consumed) = wit_future::new(|| Ok(()));
    let (mut source, trailers) = Response::consume_body(fetched, consumed);
    let (response, mut body) = body::streamed(200, headers);
    wit_bindgen::spawn_local(async move {
        if body.write(format!("fetched {status}\n").into_bytes()).await
            && body.copy_from(&mut source).await
        {
            body.finish_with(trailers.await).await;
        }
    });
    response
}

/// A bodiless `GET` request for the absolute URL `url`.
fn request_for(url: &str) -> Result<Request, &'static str> {
    let (scheme, authority, path_with_query) = split_url(url)?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let (_, no_trailers) = wit_future::new(|| Ok(None));
    let (request, _sent) = Request::new(Fields::new(), None, no_trailers, None);
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "invalid scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "invalid authority")?;
    request
        .set_path_with_query(Some(&path_with_query))
        .map_err(|()| "invalid path")?;
    Ok(request)
}

/// `scheme://authority/path?query#fragment` as (scheme, authority,
/// path-with-query), the path defaulting to `/` and the fragment dropped.
fn split_url(url: &str) -> Result<(&str, &str, String), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme://")?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_with_query) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err("no authority");
    }
    let path_with_query = match path_with_query {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Ok((scheme, authority, path_with_query))
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn a_full_url_is_split_and_loses_its_fragment() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/a/b?c=d#frag"),
            Ok(("http", "127.0.0.1:8080", "/a/b?c=d".to_owned()))
        );
    }

    #[test]
    fn a_bare_authority_gets_the_root_path() {
        assert_eq!(
            split_url("https://example.com"),
            Ok(("https", "example.com", "/".to_owned()))
        );
        assert_eq!(
            split_url("http://h?x=1"),
            Ok(("http", "h", "/?x=1".to_owned()))
        );
    }

    #[test]
    fn a_url_without_scheme_or_authority_is_refused() {
        assert!(split_url("example.com/x").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
