//! `env`: answers 200 `application/json` with a JSON object of every
//! environment variable the guest sees, so tests can check what the host
//! passes in (and, as important, what it keeps out).
//!
//! Note: reading the environment imports `wasi:cli/environment`, which is not
//! part of `wasi:http/proxy`; the host must link it (wasmtime's does).

use std::collections::BTreeMap;

use sdk::{IncomingRequest, ResponseOutparam};

struct Env;

impl sdk::Guest for Env {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        if let Err(e) = env(out) {
            eprintln!("env: {e}");
        }
    }
}

fn env(out: ResponseOutparam) -> Result<(), sdk::Error> {
    // `vars_os` rather than `vars`: a non-UTF-8 variable must not panic.
    let vars: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let mut json = serde_json::to_vec(&vars).expect("a string map always serializes");
    json.push(b'\n');

    let headers = sdk::fields(&[("content-type", "application/json")])?;
    let body = sdk::respond(out, 200, headers)?;
    body.write(&json)?;
    body.finish()
}

sdk::export!(Env);
