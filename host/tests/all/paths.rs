//! Routing on the canonical path: with `/private/...` behind `auth` and a
//! broader `/...` route beside it, every other spelling of a private path
//! (`/x/../private/a`, `//private/a`, `/./private/a`, `/%70rivate/a`) gets
//! the private route's 401, or a 400, never the broader route; the guest
//! and the upstream receive the canonical path with the query as sent.
//! Raw sockets, since HTTP clients tidy dot segments away before sending.

use crate::common::upstream::Upstream;
use crate::common::*;
use proptest::prelude::*;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;

const TOKEN: &str = "paths-token";

/// The default config's shape: `auth` in front of `/private/...` (echo, so
/// the guest's URL shows) and of `/vault/...` (an upstream), and `/...` on
/// hello for everything else.
fn config(upstream: &str) -> String {
    format!(
        "[[middleware]]\nname = \"auth\"\ncomponent = \"{auth}\"\n\n\
         [[route]]\npath = \"/private/...\"\nname = \"private\"\nmiddleware = [\"auth\"]\n\
         component = \"{echo}\"\nenv = {{ AUTH_TOKEN = \"{TOKEN}\" }}\n\n\
         [[route]]\npath = \"/vault/...\"\nname = \"vault\"\nmiddleware = [\"auth\"]\n\
         upstream = \"{upstream}\"\nenv = {{ AUTH_TOKEN = \"{TOKEN}\" }}\n\n\
         [[route]]\npath = \"/...\"\nname = \"everything\"\ncomponent = \"{hello}\"\n",
        auth = component("auth").display(),
        echo = component("echo").display(),
        hello = component("hello").display(),
    )
}

/// An answer read off the socket.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET {target}` exactly as written, over HTTP/1.1 on a fresh connection
/// (blocking: run it in `spawn_blocking` or `block_in_place`).
fn raw_get(addr: SocketAddr, target: &str, token: Option<&str>) -> Answer {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: paths.test\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{target}: no response head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no status in {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Answer {
        status,
        head: head.to_string(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

/// The data of a chunked body (`SIZE\r\nDATA\r\n`… `0\r\n\r\n`).
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        data.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    data
}

async fn get_raw(addr: SocketAddr, target: &str, token: Option<&str>) -> Answer {
    let (target, token) = (target.to_string(), token.map(str::to_string));
    tokio::task::spawn_blocking(move || raw_get(addr, &target, token.as_deref()))
        .await
        .unwrap()
}

/// The auth middleware's refusal, not hello's greeting.
fn assert_private_401(answer: &Answer, target: &str) {
    assert_eq!(
        answer.status, 401,
        "{target}: {}{}",
        answer.head, answer.body
    );
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer"),
        "{target}"
    );
    assert_eq!(answer.body, "unauthorized\n", "{target}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_spellings_of_a_private_path_get_the_private_routes_401() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&config(&upstream.url)).await;
    // The broader route answers what it should.
    let open = get_raw(server.addr, "/public", None).await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(
        open.body.starts_with("Hello from Switchyard!"),
        "{}",
        open.body
    );

    for target in [
        "/private/a",
        "/x/../private/a",
        "//private/a",
        "/./private/a",
        "/%70rivate/a",
        "/%70%72%69%76%61%74%65/a",
        "/private/./a",
        "/x/%2e%2e/private/a",
        "/x/%2E./private/a",
        "/public/../private/a?x=1",
        "/vault/secret",
        "/x/../vault/secret",
        "//vault/secret",
        "/%76ault/secret",
    ] {
        assert_private_401(&get_raw(server.addr, target, None).await, target);
    }
    assert_eq!(upstream.calls(), 0, "the upstream behind auth was reached");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_without_a_canonical_form_get_400() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&config(&upstream.url)).await;
    for (target, reason) in [
        ("/../private/a", "climbs above '/'"),
        ("/x/../../private/a", "climbs above '/'"),
        ("/%2e%2e/private/a", "climbs above '/'"),
        ("/private%2Fa", "encoded '/'"),
        ("/private%2fa", "encoded '/'"),
        ("/x%2F..%2Fprivate/a", "encoded '/'"),
        ("/private%5Ca", "backslash"),
        ("/x/..%5Cprivate/a", "backslash"),
        ("/x/..\\private/a", "backslash"),
        ("/private/a%00", "NUL"),
        ("/private/a%zz", "'%' not followed by two hex digits"),
    ] {
        let answer = get_raw(server.addr, target, None).await;
        assert_eq!(answer.status, 400, "{target}: {}", answer.body);
        assert!(
            answer.body.starts_with("bad request: ") && answer.body.contains(reason),
            "{target}: {}",
            answer.body
        );
    }
    assert_eq!(upstream.calls(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_and_the_upstream_receive_the_canonical_path_and_the_query_as_sent() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&config(&upstream.url)).await;
    let answer = get_raw(
        server.addr,
        "/x/..//%70rivate/./a%2a%7e?q=%2e%2E/../b",
        Some(TOKEN),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("x-echo-url"),
        Some("http://paths.test/private/a%2A~?q=%2e%2E/../b")
    );

    let answer = get_raw(server.addr, "/vault/./k/%2e%2e//secret?v=1", Some(TOKEN)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(upstream.calls(), 1);
    assert_eq!(upstream.last().uri.to_string(), "/vault/secret?v=1");

    // HTTP/2 clients send `//` and encodings as written: the same rules.
    let client = http2();
    let response = client
        .get(server.url("//%70rivate//a"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let url = response.headers()["x-echo-url"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("http://{}/private/a", server.addr));
    let refused = get(&client, server.url("//%70rivate//a")).await;
    assert_eq!(refused.status(), 401, "HTTP/2 reached the broader route");
    server.stop().await;
}

/// Spellings of `/private/{segment}`: each step inserts `./`, `x/../` or an
/// extra `/` before a segment, or percent-encodes a letter.
fn spelling() -> impl Strategy<Value = (String, String)> {
    let segment = "[a-z0-9]{1,6}";
    let steps = prop::collection::vec((0u8..4, any::<prop::sample::Index>()), 0..6);
    (segment, steps).prop_map(|(segment, steps)| {
        let canonical = format!("/private/{segment}");
        let mut spelled = canonical.clone();
        for (kind, at) in steps {
            let starts: Vec<usize> = spelled.match_indices('/').map(|(i, _)| i + 1).collect();
            let start = starts[at.index(starts.len())];
            match kind {
                0 => spelled.insert_str(start, "./"),
                1 => spelled.insert_str(start, "x/../"),
                2 => spelled.insert(start, '/'),
                _ => {
                    let letters: Vec<usize> = spelled
                        .char_indices()
                        .filter(|(_, c)| c.is_ascii_alphanumeric())
                        .map(|(i, _)| i)
                        .collect();
                    if !letters.is_empty() {
                        let i = letters[at.index(letters.len())];
                        let encoded = format!("%{:02x}", spelled.as_bytes()[i]);
                        spelled.replace_range(i..i + 1, &encoded);
                    }
                }
            }
        }
        (canonical, spelled)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_reaches_the_private_route_or_gets_400() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&config(&upstream.url)).await;
    let addr = server.addr;
    tokio::task::block_in_place(|| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        runner
            .run(&spelling(), |(canonical, spelled)| {
                let refused = raw_get(addr, &spelled, None);
                prop_assert!(
                    refused.status == 400 || refused.body == "unauthorized\n",
                    "{} reached another route: {} {}",
                    spelled,
                    refused.status,
                    refused.body
                );
                let served = raw_get(addr, &spelled, Some(TOKEN));
                if served.status != 400 {
                    prop_assert_eq!(served.status, 200);
                    let expected = format!("http://paths.test{canonical}");
                    prop_assert_eq!(served.header("x-echo-url"), Some(expected.as_str()));
                }
                Ok(())
            })
            .unwrap();
    });
    server.stop().await;
}
