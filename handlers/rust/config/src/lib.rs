//! `config`: answers wasi:config variables, so a test can see what the host
//! hands a guest from its route's `variables` table.
//!
//! `?name=N` (`greeting` when absent or empty) answers 200 with N's value and
//! a newline, or 404 `no variable 'N'`; `?all` answers every variable from
//! `get-all` as `name=value` lines sorted by name (the host promises no
//! order). A wasi:config error is a 500 `error: upstream: M` or
//! `error: io: M`.

use sdk::wasi::config::store;
use sdk::{IncomingRequest, ResponseOutparam};

struct Config;

impl sdk::Guest for Config {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let query = sdk::query(&request.path_with_query().unwrap_or_default());
        let (status, text) = if query.iter().any(|(key, _)| key == "all") {
            all()
        } else {
            let name = query
                .into_iter()
                .find(|(key, value)| key == "name" && !value.is_empty())
                .map_or_else(|| "greeting".to_owned(), |(_, value)| value);
            one(&name)
        };
        if let Err(e) = sdk::respond_text(out, status, &text) {
            eprintln!("config: {e}");
        }
    }
}

/// The variable `name`: its value, or 404.
fn one(name: &str) -> (u16, String) {
    match store::get(name) {
        Ok(Some(value)) => (200, format!("{value}\n")),
        Ok(None) => (404, format!("no variable '{name}'\n")),
        Err(e) => error(&e),
    }
}

/// Every variable, one `name=value` line each, sorted by name.
fn all() -> (u16, String) {
    match store::get_all() {
        Ok(mut variables) => {
            variables.sort_by(|(a, _), (b, _)| a.cmp(b));
            let text = variables
                .iter()
                .map(|(name, value)| format!("{name}={value}\n"))
                .collect();
            (200, text)
        }
        Err(e) => error(&e),
    }
}

fn error(e: &store::Error) -> (u16, String) {
    (500, format!("error: {}\n", sdk::config_error_text(e)))
}

sdk::export!(Config);
