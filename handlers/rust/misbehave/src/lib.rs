//! `misbehave`: fails on purpose, one way per `?mode=`, so the host's tests
//! can prove that a broken guest costs one request and never the server.
//!
//! | mode           | what the guest does                                        |
//! |----------------|------------------------------------------------------------|
//! | `trap`         | panics (a wasm trap) before setting any response           |
//! | `loop`         | spins forever without answering                            |
//! | `oom`          | allocates and touches 1 MiB at a time until allocation fails|
//! | `stack`        | recurses without bound until the stack overflows           |
//! | `noresponse`   | returns without ever setting a response                    |
//! | `late-trap`    | sends 200 and three flushed `partial\n` chunks, then traps |
//! | `huge-headers` | tries to answer with 10,000 headers of 1 KiB each          |
//! | `slow-drip`    | sends 200, then one byte per second until the client leaves|
//! | `fields-flood` | keeps making header maps of 64 KiB and holding them, 512 MiB |
//!
//! A missing or unknown mode gets 400 with this list.

use std::hint::black_box;

use sdk::{Fields, IncomingRequest, ResponseOutparam};

const MODES: [&str; 9] = [
    "trap",
    "loop",
    "oom",
    "stack",
    "noresponse",
    "late-trap",
    "huge-headers",
    "slow-drip",
    "fields-flood",
];

struct Misbehave;

impl sdk::Guest for Misbehave {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let mode = sdk::query_value(&target, "mode").unwrap_or_default();
        let result = match mode.as_str() {
            "trap" => panic!("misbehave: trap requested"),
            "loop" => spin(),
            "oom" => exhaust_memory(),
            "stack" => panic!("misbehave: recursion returned {}", recurse(0)),
            "noresponse" => {
                drop(out);
                Ok(())
            }
            "late-trap" => late_trap(out),
            "huge-headers" => huge_headers(out),
            "slow-drip" => slow_drip(out),
            "fields-flood" => fields_flood(out),
            _ => {
                let text = format!(
                    "unknown or missing mode {mode:?}; modes: {}\n",
                    MODES.join(", ")
                );
                sdk::respond_text(out, 400, &text)
            }
        };
        if let Err(e) = result {
            eprintln!("misbehave: {mode}: {e}");
        }
    }
}

/// Burn CPU forever; only the host's deadline (epoch interruption) stops it.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Grow the heap 1 MiB at a time, writing every byte so that the memory is
/// really in use, until the allocator fails (which aborts: a trap).
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let block = vec![0xA5u8; 1 << 20];
        hoard.push(black_box(block));
        black_box(&hoard);
    }
}

/// Recurse forever. The call is not in tail position and each frame keeps a
/// buffer the optimizer cannot see through, so it can be neither turned into
/// a loop nor elided.
#[inline(never)]
#[allow(unconditional_recursion)] // the point of this mode
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth as u8; 256];
    black_box(&mut frame);
    let below = recurse(black_box(depth + 1));
    below.wrapping_add(u64::from(frame[black_box(7)]))
}

fn late_trap(out: ResponseOutparam) -> Result<(), sdk::Error> {
    let body = sdk::respond(out, 200, sdk::fields(&[("content-type", "text/plain")])?)?;
    for _ in 0..3 {
        body.write(b"partial\n")?;
    }
    panic!("misbehave: late trap after the response started");
}

/// Host memory outside linear memory: every `fields` is a header map on the
/// host's heap, and this guest's own memory holds only its 4-byte handle.
/// Make maps of 16 headers of 4 KiB (~66 KiB each, under any per-map limit)
/// and keep every one, until 512 MiB of header values are held; then say
/// so with a 200. A host that charges header maps to a budget traps the
/// guest long before that.
fn fields_flood(out: ResponseOutparam) -> Result<(), sdk::Error> {
    const TOTAL: usize = 512 << 20;
    let value = vec![b'x'; 4096];
    let mut hoard = Vec::new();
    let mut held = 0;
    while held < TOTAL {
        let fields = Fields::new();
        for i in 0..16 {
            if let Err(e) = fields.append(&format!("x-flood-{i}"), &value) {
                panic!("misbehave: host refused a header after {held} bytes ({e:?})");
            }
            held += value.len();
        }
        hoard.push(fields);
    }
    let text = format!("the host held {} header maps, {} MiB\n", hoard.len(), held >> 20);
    sdk::respond_text(out, 200, &text)
}

/// 10,000 headers of 1 KiB is ~10 MiB: far beyond any sane header limit. The
/// host should refuse a header (wasmtime traps the guest past its fields size
/// limit); if it returns an error instead, we trap. If it accepts all of them
/// the response is sent as is and it is the host's job to fail it.
fn huge_headers(out: ResponseOutparam) -> Result<(), sdk::Error> {
    let value = vec![b'x'; 1024];
    let headers = Fields::new();
    for i in 0..10_000 {
        if let Err(e) = headers.append(&format!("x-huge-{i}"), &value) {
            panic!("misbehave: host refused header {i} ({e:?})");
        }
    }
    let body = sdk::respond(out, 200, headers)?;
    body.write(b"the host accepted 10,000 headers of 1 KiB\n")?;
    body.finish()
}

/// Send 200 then one byte per second, forever, until a write fails (the
/// client left) or the host stops the guest.
fn slow_drip(out: ResponseOutparam) -> Result<(), sdk::Error> {
    let body = sdk::respond(out, 200, sdk::fields(&[("content-type", "text/plain")])?)?;
    loop {
        body.write(b".")?;
        sdk::sleep(1000);
    }
}

sdk::export!(Misbehave);
