//! `fetch`: `GET /fetch?url=U` makes an outgoing `GET U` through
//! `wasi:http/outgoing-handler`, then answers with the upstream status and
//! `content-type` and streams the upstream body back piece by piece.
//!
//! When the host refuses or fails the outgoing request it answers 502
//! `text/plain` with the `wasi:http` `error-code` case name exactly as written
//! in the WIT (`HTTP-request-denied`, `connection-refused`, `DNS-error`, ...),
//! optionally followed by `: details`. Tests use it to check the host's
//! outbound policy. A missing or unusable `url` gets 400. With
//! `&traceparent=V` the outgoing request carries `traceparent: V`, as a
//! guest that traces its own calls sets it.

use sdk::wasi::http::outgoing_handler;
use sdk::wasi::http::types::{ErrorCode, FieldSizePayload, OutgoingRequest, Scheme};
use sdk::{Fields, IncomingRequest, Method, ResponseOutparam};

struct Fetch;

impl sdk::Guest for Fetch {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let result = match sdk::query_value(&target, "url").as_deref().map(Url::parse) {
            None => sdk::respond_text(out, 400, "missing url parameter: /fetch?url=http://...\n"),
            Some(Err(why)) => sdk::respond_text(out, 400, &format!("invalid url: {why}\n")),
            Some(Ok(url)) => {
                let traceparent = sdk::query_value(&target, "traceparent");
                fetch(&url, traceparent.as_deref(), out)
            }
        };
        if let Err(e) = result {
            eprintln!("fetch: {e}");
        }
    }
}

/// The parts of an absolute `http`/`https` URL an outgoing request needs.
#[derive(Debug, PartialEq)]
struct Url<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Result<Url<'a>, &'static str> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err("it must start with http:// or https://");
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(split);
        if authority.is_empty() {
            return Err("it has no host");
        }
        if authority.contains('@') {
            return Err("user info is not supported");
        }
        let path_with_query = if path_with_query.is_empty() {
            "/"
        } else {
            path_with_query
        };
        Ok(Url {
            https,
            authority,
            path_with_query,
        })
    }
}

fn fetch(url: &Url, traceparent: Option<&str>, out: ResponseOutparam) -> Result<(), sdk::Error> {
    let upstream = match send(url, traceparent) {
        Ok(upstream) => upstream,
        Err(code) => return sdk::respond_text(out, 502, &format!("{}\n", error_name(&code))),
    };

    let headers = Fields::new();
    for value in upstream.headers().get("content-type") {
        headers.append("content-type", &value)?;
    }
    let body = sdk::respond(out, upstream.status(), headers)?;
    let incoming = upstream
        .consume()
        .map_err(|()| sdk::Error::Taken("upstream body"))?;
    let input = incoming
        .stream()
        .map_err(|()| sdk::Error::Taken("upstream body stream"))?;
    // If the upstream body fails midway, `?` drops `body` unfinished so the
    // client sees a truncated response rather than a short "complete" one.
    body.copy_from(&input)?;
    drop(input);
    drop(incoming);
    body.finish()
}

/// Send `GET url` and wait for the response head.
fn send(
    url: &Url,
    traceparent: Option<&str>,
) -> Result<sdk::wasi::http::types::IncomingResponse, ErrorCode> {
    let invalid = |what: &str| ErrorCode::InternalError(Some(format!("invalid {what}")));
    let headers = Fields::new();
    if let Some(value) = traceparent {
        headers
            .append("traceparent", value.as_bytes())
            .map_err(|_| invalid("traceparent"))?;
    }
    let request = OutgoingRequest::new(headers);
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(url.authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(url.path_with_query))
        .map_err(|()| invalid("path"))?;

    let pending = outgoing_handler::handle(request, None)?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(result)) => result,
        Some(Err(())) => Err(ErrorCode::InternalError(Some(
            "response already taken".into(),
        ))),
        None => Err(ErrorCode::InternalError(Some(
            "response not ready after block".into(),
        ))),
    }
}

/// The `error-code` case's name as written in wasi:http's WIT, then any
/// payload. Exhaustive on purpose: a new case must be named here.
fn error_name(code: &ErrorCode) -> String {
    fn field(p: &FieldSizePayload) -> String {
        let name = p.field_name.as_deref().unwrap_or("?");
        match p.field_size {
            Some(size) => format!("{name} ({size} bytes)"),
            None => name.to_owned(),
        }
    }
    fn with<T>(name: &str, detail: Option<T>, show: impl Fn(T) -> String) -> String {
        match detail {
            Some(d) => format!("{name}: {}", show(d)),
            None => name.to_owned(),
        }
    }
    use ErrorCode as E;
    match code {
        E::DnsTimeout => "DNS-timeout".into(),
        E::DnsError(p) => {
            let rcode = p.rcode.as_deref().unwrap_or("?");
            match p.info_code {
                Some(info) => format!("DNS-error: rcode={rcode} info-code={info}"),
                None if p.rcode.is_some() => format!("DNS-error: rcode={rcode}"),
                None => "DNS-error".into(),
            }
        }
        E::DestinationNotFound => "destination-not-found".into(),
        E::DestinationUnavailable => "destination-unavailable".into(),
        E::DestinationIpProhibited => "destination-IP-prohibited".into(),
        E::DestinationIpUnroutable => "destination-IP-unroutable".into(),
        E::ConnectionRefused => "connection-refused".into(),
        E::ConnectionTerminated => "connection-terminated".into(),
        E::ConnectionTimeout => "connection-timeout".into(),
        E::ConnectionReadTimeout => "connection-read-timeout".into(),
        E::ConnectionWriteTimeout => "connection-write-timeout".into(),
        E::ConnectionLimitReached => "connection-limit-reached".into(),
        E::TlsProtocolError => "TLS-protocol-error".into(),
        E::TlsCertificateError => "TLS-certificate-error".into(),
        E::TlsAlertReceived(p) => {
            let id = p.alert_id.map(|id| format!("alert-id={id}"));
            let message = p
                .alert_message
                .as_ref()
                .map(|m| format!("alert-message={m}"));
            let details: Vec<String> = id.into_iter().chain(message).collect();
            with(
                "TLS-alert-received",
                (!details.is_empty()).then_some(details),
                |d| d.join(" "),
            )
        }
        E::HttpRequestDenied => "HTTP-request-denied".into(),
        E::HttpRequestLengthRequired => "HTTP-request-length-required".into(),
        E::HttpRequestBodySize(n) => with("HTTP-request-body-size", *n, |n| n.to_string()),
        E::HttpRequestMethodInvalid => "HTTP-request-method-invalid".into(),
        E::HttpRequestUriInvalid => "HTTP-request-URI-invalid".into(),
        E::HttpRequestUriTooLong => "HTTP-request-URI-too-long".into(),
        E::HttpRequestHeaderSectionSize(n) => {
            with("HTTP-request-header-section-size", *n, |n| n.to_string())
        }
        E::HttpRequestHeaderSize(p) => with("HTTP-request-header-size", p.as_ref(), field),
        E::HttpRequestTrailerSectionSize(n) => {
            with("HTTP-request-trailer-section-size", *n, |n| n.to_string())
        }
        E::HttpRequestTrailerSize(p) => with("HTTP-request-trailer-size", Some(p), field),
        E::HttpResponseIncomplete => "HTTP-response-incomplete".into(),
        E::HttpResponseHeaderSectionSize(n) => {
            with("HTTP-response-header-section-size", *n, |n| n.to_string())
        }
        E::HttpResponseHeaderSize(p) => with("HTTP-response-header-size", Some(p), field),
        E::HttpResponseBodySize(n) => with("HTTP-response-body-size", *n, |n| n.to_string()),
        E::HttpResponseTrailerSectionSize(n) => {
            with("HTTP-response-trailer-section-size", *n, |n| n.to_string())
        }
        E::HttpResponseTrailerSize(p) => with("HTTP-response-trailer-size", Some(p), field),
        E::HttpResponseTransferCoding(s) => {
            with("HTTP-response-transfer-coding", s.as_deref(), str::to_owned)
        }
        E::HttpResponseContentCoding(s) => {
            with("HTTP-response-content-coding", s.as_deref(), str::to_owned)
        }
        E::HttpResponseTimeout => "HTTP-response-timeout".into(),
        E::HttpUpgradeFailed => "HTTP-upgrade-failed".into(),
        E::HttpProtocolError => "HTTP-protocol-error".into(),
        E::LoopDetected => "loop-detected".into(),
        E::ConfigurationError => "configuration-error".into(),
        E::InternalError(s) => with("internal-error", s.as_deref(), str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_is_split() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8080/a/b?c=d#frag"),
            Ok(Url {
                https: false,
                authority: "127.0.0.1:8080",
                path_with_query: "/a/b?c=d"
            })
        );
    }

    #[test]
    fn a_bare_host_gets_the_root_path() {
        assert_eq!(
            Url::parse("https://example.com"),
            Ok(Url {
                https: true,
                authority: "example.com",
                path_with_query: "/"
            })
        );
        assert_eq!(
            Url::parse("http://h?x=1").map(|u| u.path_with_query),
            Ok("?x=1")
        );
    }

    #[test]
    fn unusable_urls_are_rejected() {
        for bad in [
            "",
            "ftp://h/",
            "http://",
            "http:///path",
            "//h/",
            "http://u@h/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_names_match_the_wit() {
        assert_eq!(
            error_name(&ErrorCode::HttpRequestDenied),
            "HTTP-request-denied"
        );
        assert_eq!(
            error_name(&ErrorCode::ConnectionRefused),
            "connection-refused"
        );
        assert_eq!(
            error_name(&ErrorCode::DestinationIpProhibited),
            "destination-IP-prohibited"
        );
        assert_eq!(
            error_name(&ErrorCode::InternalError(Some("x".into()))),
            "internal-error: x"
        );
        assert_eq!(
            error_name(&ErrorCode::HttpResponseBodySize(None)),
            "HTTP-response-body-size"
        );
    }
}

sdk::export!(Fetch);
