//! The one place where Switchyard's handler world becomes Rust.
//!
//! Every Rust handler depends on this crate instead of running `wit-bindgen`
//! itself, so the (large) `wasi:http` bindings are generated once, from the
//! repository's single `wit/` folder, and every handler exports exactly the
//! same world, `switchyard:handler/handler` (= `wasi:http/proxy@0.2.12`).
//!
//! The bindings are those of `switchyard:handler/handler-with-state`, which
//! adds `wasi:keyvalue` and `wasi:config` imports to that world, so a handler
//! that keeps state reaches them through [`wasi::keyvalue`] and
//! [`wasi::config`]. A Rust component imports only the functions it calls,
//! so a handler that never calls them imports neither and still fits
//! `wasi:http/proxy`.
//!
//! A handler is a `cdylib` crate that implements [`Guest`] and calls
//! [`export!`]:
//!
//! ```ignore
//! struct Hello;
//!
//! impl sdk::Guest for Hello {
//!     fn handle(request: sdk::IncomingRequest, out: sdk::ResponseOutparam) {
//!         let _ = sdk::respond_text(out, 200, "hi\n");
//!     }
//! }
//!
//! sdk::export!(Hello);
//! ```
//!
//! Besides the bindings it offers a few small helpers that every handler would
//! otherwise repeat: [`query`] parsing, [`respond`] / [`respond_text`] to set a
//! response, [`Body`] to write a response body in pieces the host accepts, and
//! [`sleep`], [`forward`] for middleware, and [`keyvalue_error_text`] /
//! [`config_error_text`] to report a store's or a variable's error in its
//! WIT words. Everything else is reachable through [`wasi`].

mod body;
mod forward;
mod query;
mod state;

pub use body::{respond, respond_text, Body, PIECE};
pub use forward::{forward, Forwarded, NEXT};
pub use query::{percent_decode, query, query_value};
pub use state::{config_error_text, keyvalue_error_text};

/// The generated bindings for `switchyard:handler/handler-with-state`
/// (`switchyard:handler/handler` plus wasi:keyvalue and wasi:config).
///
/// `generate_all` makes the imported WASI interfaces part of these bindings
/// (rather than coming from the `wasi` crate), and `pub_export_macro` lets
/// handler crates call [`export!`] from outside this crate.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "switchyard:handler/handler-with-state",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "::sdk::bindings",
        runtime_path: "::sdk::bindings::wit_bindgen_rt",
    });

    /// The `wit-bindgen` runtime support, re-exported so that the code
    /// [`export!`] expands to in a handler crate resolves without that crate
    /// depending on `wit-bindgen` itself.
    #[doc(hidden)]
    pub use wit_bindgen::rt as wit_bindgen_rt;
}

// `::sdk::...` paths in the generated code must also resolve inside this crate.
extern crate self as sdk;

pub use bindings::export;
pub use bindings::exports::wasi::http::incoming_handler::Guest;
pub use bindings::wasi;
pub use bindings::wasi::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingRequest, Method, OutgoingBody,
    OutgoingResponse, ResponseOutparam,
};
pub use bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};

use std::fmt;

/// Why a helper in this crate could not do its job.
///
/// Handlers usually log it to stderr (the host tags guest output with the
/// route and request id) and return: once a response has been set, the only
/// thing left to do about a failure is to stop writing.
#[derive(Debug)]
pub enum Error {
    /// The status code is outside what `wasi:http` accepts (100..=999).
    Status(u16),
    /// The host refused a header (bad syntax, forbidden name, or immutable).
    Header(HeaderError),
    /// Reading or writing a stream failed, or the peer closed it.
    Stream(StreamError),
    /// The host refused to finish an outgoing body (e.g. length mismatch).
    Finish(ErrorCode),
    /// A resource that can be taken only once (a body, a stream) was taken
    /// already: a bug in the handler.
    Taken(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Status(code) => write!(f, "invalid status code {code}"),
            Error::Header(e) => write!(f, "header rejected: {e:?}"),
            Error::Stream(StreamError::Closed) => f.write_str("stream closed"),
            Error::Stream(StreamError::LastOperationFailed(e)) => {
                write!(f, "stream failed: {}", e.to_debug_string())
            }
            Error::Finish(e) => write!(f, "could not finish body: {e:?}"),
            Error::Taken(what) => write!(f, "{what} was already taken"),
        }
    }
}

impl std::error::Error for Error {}

impl From<HeaderError> for Error {
    fn from(e: HeaderError) -> Self {
        Error::Header(e)
    }
}

impl From<StreamError> for Error {
    fn from(e: StreamError) -> Self {
        Error::Stream(e)
    }
}

/// Build a `fields` resource from `(name, value)` pairs, in order.
pub fn fields(pairs: &[(&str, &str)]) -> Result<Fields, Error> {
    let fields = Fields::new();
    for (name, value) in pairs {
        fields.append(name, value.as_bytes())?;
    }
    Ok(fields)
}

/// The method as it appears on the request line (`GET`, `POST`, ...).
pub fn method_name(method: &Method) -> &str {
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

/// Block the guest for `ms` milliseconds on the host's monotonic clock.
///
/// This parks the guest in `wasi:io/poll` instead of spinning, so the host's
/// executor keeps serving other requests meanwhile.
pub fn sleep(ms: u64) {
    let ns = ms.saturating_mul(1_000_000);
    wasi::clocks::monotonic_clock::subscribe_duration(ns).block();
}
