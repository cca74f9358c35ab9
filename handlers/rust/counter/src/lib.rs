//! `counter`: answers `count=N`, where N is how many requests *this
//! instance* has served, kept in a static. On a route with a fresh instance
//! per request it always says `count=1`; on an `instance_reuse` route it
//! counts up until the host replaces the instance. That makes instance reuse
//! (and its end: a trap, a deadline, the reuse bound) visible to a test.
//!
//! After counting, before answering: `?trap` panics (a wasm trap), `?loop`
//! spins forever (stopped by the host's epoch deadline) and `?sleep` blocks
//! in a host call forever (stopped by the host dropping the instance), so a
//! test can see each of them end the instance. Every request also prints
//! `counter: count=N` to stdout, so a test can check that the host tags the
//! line with the request that printed it; with `?split` the line goes out in
//! six writes, each through a fresh `wasi:cli/stdout` handle (as language
//! runtimes often do), and must still be logged as one line.

use std::sync::atomic::{AtomicU64, Ordering};

use sdk::{IncomingRequest, ResponseOutparam};

/// Requests served by this instance: survives between requests only when
/// the host reuses the instance.
static COUNT: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl sdk::Guest for Counter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let count = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        let target = request.path_with_query().unwrap_or_default();
        let query = sdk::query(&target);
        let asked = |what: &str| query.iter().any(|(key, _)| key == what);
        match asked("split") {
            true => print_in_pieces(&format!("counter: count={count}\n")),
            false => println!("counter: count={count}"),
        }
        if asked("trap") {
            panic!("counter: trap requested at count={count}");
        }
        if asked("loop") {
            let mut spins = 0u64;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        if asked("sleep") {
            std::thread::sleep(std::time::Duration::from_secs(24 * 3600));
        }
        if let Err(e) = sdk::respond_text(out, 200, &format!("count={count}\n")) {
            eprintln!("counter: {e}");
        }
    }
}

/// Write `line` in six pieces, each through its own stdout handle.
fn print_in_pieces(line: &str) {
    let step = line.len().div_ceil(6);
    for piece in line.as_bytes().chunks(step) {
        let stdout = sdk::wasi::cli::stdout::get_stdout();
        if let Err(e) = stdout.blocking_write_and_flush(piece) {
            eprintln!("counter: stdout: {e}");
        }
    }
}

sdk::export!(Counter);
