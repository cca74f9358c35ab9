//! `hello-p3`: the wasi:http 0.3 (p3) hello, and the guest behind the host's
//! p3 tests. By default it answers `Hello from p3! {METHOD} {path-with-query}`,
//! writing the body from a spawned task *after* `handle` has returned, which
//! is the p3 shape (a p2 guest writes before it returns).
//!
//! A query switch picks something else for a test to watch (the first switch
//! in the query decides; README.md has the table): never answering, trapping
//! before or during the body, running on after the response, an outgoing
//! request, a count in the route's key-value store, a large allocation, a
//! large body. Every response carries
//! `x-url: {scheme}://{authority}{path-with-query}` (`-` for a missing part),
//! so a test can see the URL the host handed the guest.
//!
//! Built with the `v2` feature it greets `Hello again from p3 (v2)!` instead:
//! `build.sh` also writes that as `hello-p3-v2.wasm`, the p3 hot-reload fixture.

mod body;
mod fetch;
mod kv;
mod query;

wit_bindgen::generate!({
    path: "../../../wit/p3",
    world: "switchyard:handler-p3/handler-with-state",
    generate_all,
});

use wasi::clocks::monotonic_clock;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};

const GREETING: &str = if cfg!(feature = "v2") {
    "Hello again from p3 (v2)!"
} else {
    "Hello from p3!"
};

/// What a request asks for with its query.
enum Switch<'a> {
    Sleep,
    SleepBody,
    Trap,
    TrapBody,
    PostReturn,
    Fetch(&'a str),
    Kv(&'a str),
    Alloc(&'a str),
    Big(&'a str),
}

impl<'a> Switch<'a> {
    fn parse(key: &str, value: &'a str) -> Option<Switch<'a>> {
        Some(match key {
            "sleep" => Switch::Sleep,
            "sleep-body" => Switch::SleepBody,
            "trap" => Switch::Trap,
            "trap-body" => Switch::TrapBody,
            "post-return" => Switch::PostReturn,
            "fetch" => Switch::Fetch(value),
            "kv" => Switch::Kv(value),
            "alloc" => Switch::Alloc(value),
            "big" => Switch::Big(value),
            _ => return None,
        })
    }
}

struct HelloP3;

export!(HelloP3);

impl exports::wasi::http::handler::Guest for HelloP3 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let target = request.get_path_with_query();
        let url = format!(
            "{}://{}{}",
            request.get_scheme().as_ref().map_or("-", scheme_name),
            request.get_authority().as_deref().unwrap_or("-"),
            target.as_deref().unwrap_or("-"),
        );
        let target = target.unwrap_or_else(|| "-".to_owned());
        let headers = headers(&url);
        let switch = query::pairs(&target)
            .into_iter()
            .find_map(|(key, value)| Switch::parse(key, value));
        Ok(match switch {
            None => {
                let method = request.get_method();
                let method = method_name(&method);
                body::text(200, headers, format!("{GREETING} {method} {target}\n"))
            }
            Some(Switch::Sleep) => forever().await,
            Some(Switch::Trap) => trap(),
            Some(Switch::SleepBody) => partial_then(headers, forever()),
            // A moment after the first bytes, so they reach the client
            // before the trap (hyper sends a head with its first chunk).
            Some(Switch::TrapBody) => partial_then(headers, async {
                monotonic_clock::wait_for(100_000_000).await;
                trap()
            }),
            Some(Switch::PostReturn) => {
                wit_bindgen::spawn_local(async {
                    for _ in 0..10 {
                        wit_bindgen::yield_async().await;
                    }
                    println!("please see me");
                });
                body::empty(200, headers)
            }
            Some(Switch::Fetch(url)) => fetch::fetch(&query::percent_decode(url), headers).await,
            Some(Switch::Kv("")) => body::text(400, headers, "kv wants a key name\n".to_owned()),
            Some(Switch::Kv(key)) => kv::count(&query::percent_decode(key), headers),
            Some(Switch::Alloc(mib)) => match mib.parse::<usize>() {
                Ok(mib) => {
                    allocate(mib);
                    body::text(200, headers, format!("allocated {mib} MiB\n"))
                }
                Err(_) => body::text(
                    400,
                    headers,
                    format!("alloc wants a number of MiB, not {mib:?}\n"),
                ),
            },
            Some(Switch::Big(len)) => match len.parse::<u64>() {
                Ok(len) => big(len, headers),
                Err(_) => body::text(
                    400,
                    headers,
                    format!("big wants a number of bytes, not {len:?}\n"),
                ),
            },
        })
    }
}

/// `content-type: text/plain; charset=utf-8` and `x-url: url`.
fn headers(url: &str) -> Fields {
    let headers = Fields::new();
    let text = b"text/plain; charset=utf-8".to_vec();
    headers
        .append("content-type", &text)
        .expect("a valid header");
    if let Err(e) = headers.append("x-url", url.as_bytes()) {
        eprintln!("hello-p3: x-url {url:?} is not a header value: {e:?}");
    }
    headers
}

/// A wasm `unreachable` trap: no panic message, no unwinding, the instance
/// is done. (Host-target unit tests only need this to compile.)
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!("trap");
}

/// Wait on the monotonic clock for ever: only the host can end this.
async fn forever() -> ! {
    loop {
        monotonic_clock::wait_for(u64::MAX).await;
    }
}

/// A 200 whose body is `partial\n` and then whatever `rest` does (waits or
/// traps; it never returns), so the client sees a head and a cut-off body.
fn partial_then<F: std::future::Future + 'static>(headers: Fields, rest: F) -> Response {
    let (response, mut body) = body::streamed(200, headers);
    wit_bindgen::spawn_local(async move {
        body.write(b"partial\n".to_vec()).await;
        rest.await;
        drop(body);
    });
    response
}

/// Allocate `mib` MiB and write to every page of it, so the memory is really
/// there (a trap if the host's memory limit refuses it, or if it is more than
/// a 32-bit guest can address).
fn allocate(mib: usize) {
    let Some(bytes) = mib.checked_mul(1 << 20) else {
        panic!("hello-p3: {mib} MiB is more than a wasm32 guest can address");
    };
    let mut block = vec![0u8; bytes];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&block);
}

/// A 200 whose body is `len` bytes of `x`, written [`body::CHUNK`] at a time.
fn big(len: u64, headers: Fields) -> Response {
    let (response, mut body) = body::streamed(200, headers);
    wit_bindgen::spawn_local(async move {
        let mut left = len;
        while left > 0 {
            let n = left.min(body::CHUNK as u64) as usize;
            if !body.write(vec![b'x'; n]).await {
                return;
            }
            left -= n as u64;
        }
        body.finish().await;
    });
    response
}

fn scheme_name(scheme: &Scheme) -> &str {
    match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
        Scheme::Other(other) => other,
    }
}

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
