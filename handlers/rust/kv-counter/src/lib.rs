//! `kv-counter`: counts requests in a wasi:keyvalue store, so the count
//! outlives the instance (unlike `counter`'s static) and is shared by every
//! instance and every replica that opens the same store. Each request
//! increments one key and answers
//!
//! ```text
//! count=N
//! replica=R
//! ```
//!
//! The store is the route's environment variable `KV_STORE` (`default` when
//! unset or empty), the key is `?key=NAME` (`counter` when absent or empty),
//! and R is the route's wasi:config variable `replica` (`-` when it is not
//! set), so a test behind a load balancer can see which replica counted.
//! A store error answers 503
//! `kv-counter: cannot count 'KEY' in store 'STORE': ERR`.

use sdk::wasi::config::store as config;
use sdk::wasi::keyvalue::{atomics, store};
use sdk::{IncomingRequest, ResponseOutparam};

struct KvCounter;

impl sdk::Guest for KvCounter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let key = non_empty(sdk::query_value(&target, "key")).unwrap_or_else(|| "counter".into());
        let name = non_empty(std::env::var("KV_STORE").ok()).unwrap_or_else(|| "default".into());
        let (status, text) = match count(&name, &key) {
            Ok(count) => (200, format!("count={count}\nreplica={}\n", replica())),
            Err(e) => (
                503,
                format!(
                    "kv-counter: cannot count '{key}' in store '{name}': {}\n",
                    sdk::keyvalue_error_text(&e)
                ),
            ),
        };
        if let Err(e) = sdk::respond_text(out, status, &text) {
            eprintln!("kv-counter: {e}");
        }
    }
}

/// Add 1 to `key` in the store `name` and return the new count.
fn count(name: &str, key: &str) -> Result<u64, store::Error> {
    let bucket = store::open(name)?;
    atomics::increment(&bucket, key, 1)
}

/// The wasi:config variable `replica`, or `-`. A config error also gives
/// `-` (the count is the answer; the replica only labels it) and is logged.
fn replica() -> String {
    match config::get("replica") {
        Ok(Some(replica)) => replica,
        Ok(None) => "-".to_owned(),
        Err(e) => {
            eprintln!(
                "kv-counter: variable 'replica': {}",
                sdk::config_error_text(&e)
            );
            "-".to_owned()
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

sdk::export!(KvCounter);
