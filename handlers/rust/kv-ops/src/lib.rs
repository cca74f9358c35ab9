//! `kv-ops`: each wasi:keyvalue operation (store, atomics, batch) as one
//! HTTP request, so the host's tests and an operator's scripts can drive a
//! store through a route and see exactly what the host answered, errors
//! included. `?op=` names the operation, `?store=` the store (`default`
//! when absent; passed to `store.open` as given otherwise, `""` too), and
//! README.md has the table of the other parameters and the answers.
//!
//! The request is parsed and checked before the store is opened, so a bad
//! request is a 400 whatever the store; then the store is opened and the one
//! operation runs. Any wasi:keyvalue error is a 500 `error: ERR`, ERR in the
//! WIT's words (`no-such-store`, `access-denied`, `other: MESSAGE`).

use std::fmt::Write;

use sdk::wasi::keyvalue::store::{self, Error};
use sdk::wasi::keyvalue::{atomics, batch};
use sdk::{IncomingRequest, ResponseOutparam, StreamError};

/// The operations, by their `?op=` names.
const OPS: &str =
    "open, get, set, delete, exists, list, increment, get-many, set-many, delete-many";

/// One operation with everything it needs, read from the request.
enum Op {
    Open,
    Get(String),
    Set(String, Vec<u8>),
    Delete(String),
    Exists(String),
    List(Option<u64>),
    Increment(String, u64),
    GetMany(Vec<String>),
    SetMany(Vec<(String, Vec<u8>)>),
    DeleteMany(Vec<String>),
}

struct KvOps;

impl sdk::Guest for KvOps {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let params = Params(sdk::query(&request.path_with_query().unwrap_or_default()));
        let store = params.get("store").unwrap_or("default");
        let (status, body) = match parse(&request, &params) {
            Err(why) => (400, format!("kv-ops: {why}\n").into_bytes()),
            Ok(op) => match run(store, op) {
                Ok(answer) => answer,
                Err(e) => (
                    500,
                    format!("error: {}\n", sdk::keyvalue_error_text(&e)).into_bytes(),
                ),
            },
        };
        if let Err(e) = respond(out, status, &body) {
            eprintln!("kv-ops: {e}");
        }
    }
}

/// The query's `key=value` pairs, decoded.
struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, which `op` needs.
    fn required(&self, name: &str, op: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("op={op} needs ?{name}="))
    }

    /// The value of `name` as a number, if given.
    fn number(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| format!("{name} wants a number, not '{value}'"))
            })
            .transpose()
    }

    /// The comma-separated `keys` (an empty value is no keys).
    fn keys(&self, op: &str) -> Result<Vec<String>, String> {
        let keys = self.required("keys", op)?;
        Ok(match keys {
            "" => Vec::new(),
            keys => keys.split(',').map(str::to_owned).collect(),
        })
    }
}

/// The operation the request asks for, or why it is a bad request.
fn parse(request: &IncomingRequest, params: &Params) -> Result<Op, String> {
    let op = params
        .get("op")
        .ok_or_else(|| format!("no op given (known: {OPS})"))?;
    let key = || params.required("key", op).map(str::to_owned);
    Ok(match op {
        "open" => Op::Open,
        "get" => Op::Get(key()?),
        "set" => Op::Set(key()?, read_body(request)?),
        "delete" => Op::Delete(key()?),
        "exists" => Op::Exists(key()?),
        "list" => Op::List(params.number("cursor")?),
        "increment" => Op::Increment(key()?, params.number("delta")?.unwrap_or(1)),
        "get-many" => Op::GetMany(params.keys(op)?),
        "set-many" => Op::SetMany(key_values(&read_body(request)?)?),
        "delete-many" => Op::DeleteMany(params.keys(op)?),
        other => return Err(format!("unknown op '{other}' (known: {OPS})")),
    })
}

/// Open the store `name` and run `op` on it: the status and body to answer.
fn run(name: &str, op: Op) -> Result<(u16, Vec<u8>), Error> {
    let bucket = store::open(name)?;
    let ok = || (200, b"ok\n".to_vec());
    let line = |value: &dyn std::fmt::Display| (200, format!("{value}\n").into_bytes());
    Ok(match op {
        Op::Open => ok(),
        Op::Get(key) => match bucket.get(&key)? {
            Some(value) => (200, value),
            None => (404, b"none\n".to_vec()),
        },
        Op::Set(key, value) => {
            bucket.set(&key, &value)?;
            ok()
        }
        Op::Delete(key) => {
            bucket.delete(&key)?;
            ok()
        }
        Op::Exists(key) => line(&bucket.exists(&key)?),
        Op::List(cursor) => {
            let page = bucket.list_keys(cursor)?;
            let mut text = String::new();
            for key in &page.keys {
                let _ = writeln!(text, "{key}");
            }
            let _ = match page.cursor {
                Some(cursor) => writeln!(text, "cursor={cursor}"),
                None => writeln!(text, "cursor=none"),
            };
            (200, text.into_bytes())
        }
        Op::Increment(key, delta) => line(&atomics::increment(&bucket, &key, delta)?),
        Op::GetMany(keys) => {
            let found = batch::get_many(&bucket, &keys)?;
            let mut text = String::new();
            for (asked, found) in keys.iter().zip(found) {
                let _ = match found {
                    Some((key, value)) => {
                        writeln!(text, "{key}={}", String::from_utf8_lossy(&value))
                    }
                    None => writeln!(text, "{asked}: none"),
                };
            }
            (200, text.into_bytes())
        }
        Op::SetMany(key_values) => {
            batch::set_many(&bucket, &key_values)?;
            ok()
        }
        Op::DeleteMany(keys) => {
            batch::delete_many(&bucket, &keys)?;
            ok()
        }
    })
}

/// The `key=value` lines of a `set-many` body (blank lines skipped; the
/// value is everything after the first `=`).
fn key_values(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the set-many body is not UTF-8")?;
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((key, value)) => Ok((key.to_owned(), value.as_bytes().to_vec())),
            None => Err(format!("set-many line '{line}' is not key=value")),
        })
        .collect()
}

/// The whole request body.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request
        .consume()
        .map_err(|()| "the request body was already taken")?;
    let stream = body
        .stream()
        .map_err(|()| "the request body stream was already taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(sdk::PIECE as u64) {
            Ok(piece) => bytes.extend_from_slice(&piece),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the body: {}", e.to_debug_string()))
            }
        }
    }
    // The stream is a child of the body: it goes first.
    drop(stream);
    drop(body);
    Ok(bytes)
}

/// Answer `status` with `body` as `text/plain`.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) -> Result<(), sdk::Error> {
    let headers = sdk::fields(&[("content-type", "text/plain")])?;
    let response = sdk::respond(out, status, headers)?;
    response.write(body)?;
    response.finish()
}

sdk::export!(KvOps);
