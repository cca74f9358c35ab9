//! `hello`: the smallest useful handler, answering
//! `Hello from Switchyard! <METHOD> <path-with-query>` so a test can see both
//! that the component ran and which request reached it.
//!
//! Built with the `v2` feature it says `Hello again from Switchyard (v2)! ...`
//! instead: `build.sh` always produces that variant as `hello-v2.wasm`, the
//! fixture for hot-reload tests (two builds of one handler that answer
//! differently).

use sdk::{IncomingRequest, ResponseOutparam};

const GREETING: &str = if cfg!(feature = "v2") {
    "Hello again from Switchyard (v2)!"
} else {
    "Hello from Switchyard!"
};

struct Hello;

impl sdk::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = request.method();
        let target = request.path_with_query().unwrap_or_else(|| "/".to_owned());
        let text = format!("{GREETING} {} {target}\n", sdk::method_name(&method));
        if let Err(e) = sdk::respond_text(out, 200, &text) {
            eprintln!("hello: {e}");
        }
    }
}

sdk::export!(Hello);
