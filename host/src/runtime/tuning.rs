//! The wasmtime engine settings, in one place so they can be measured and
//! tuned against the benchmark (bench/) without touching anything else.
//!
//! Every request runs in a fresh instance, so what an instance costs to
//! create and to throw away *is* the server's throughput. On-demand
//! allocation (wasmtime's default) maps and unmaps every instance's memory,
//! tables and async stack: each request pays `mmap`, page faults, `madvise`
//! and the TLB shootdowns they trigger on every core. The pooling allocator
//! reserves slots once at start-up and reuses them; keeping the pages an
//! instance dirtied resident (reset to their initial contents, found with the
//! `PAGEMAP_SCAN` ioctl) removes the remaining `madvise` and page faults: a
//! `GET /hello` then costs one `writev`, one `recvfrom` and one `ioctl`.
//!
//! Measured with alternating wrk rounds (`GET /hello`, a fresh instance per
//! request, `RUST_LOG=warn`, 3 × 4 s per variant, medians) on the 2-core
//! benchmark machine, every variant beside `wasmtime serve -Scli` 48.0.8
//! (which uses the pooling allocator with its default settings) in the same
//! run; the full table, by run, is in BENCHMARKS.md:
//!
//! | engine setting | req/s, 32 / 128 connections |
//! |---|---|
//! | wasmtime serve, same run as the next two rows | 4,300 / 3,500 |
//! | on-demand allocator (wasmtime's default) | 3,400 / 3,400 |
//! | pooling allocator, default pool settings | 5,200 / 4,900 |
//! | pooling, tables kept resident, `pagemap_scan`, no memory kept (a later run) | 7,600 / 7,900 |
//! | … + 1 / 4 / 16 MiB of memory kept resident (same later run) | 13,900 / 13,200; 14,400 / 13,900; 13,600 / 13,200 |
//! | 16 MiB kept without `pagemap_scan` (`memset` of the low 16 MiB) | 11,200 / 12,400, beside 12,200 / 15,200 with it |
//! | the settings below (2 MiB kept), beside wasmtime serve at 4,600 / 4,600 | 13,400 / 13,900 |
//! | + eager table init, no CoW images, or `decommit_batch_size` 8 | within noise (±5 %) |
//!
//! **Bounds checks, not guard pages, by default.** With guard pages (and
//! signals-based traps) a linear memory's inaccessible tail is what catches
//! an out-of-bounds access, so wasmtime must keep the pages past an
//! instance's *initial* size inaccessible: a guest whose allocator grows its
//! memory on every request (Rust's `dlmalloc` crate does on its first
//! allocation: a `no_std` hello that reads its path) costs an `mprotect`
//! to make the growth accessible and, when its pool slot is next used,
//! another to take it back, which on a multi-threaded server is a TLB
//! shootdown on the other core and a fight over the process's `mmap_lock`.
//! With explicit bounds checks (no guard, no signals-based traps) nothing
//! is unmapped between instances. Measured (bench/, alternating rounds,
//! wrk at 32 connections, server CPU per request; `wasmtime serve` 48.0.8
//! beside, with its defaults):
//!
//! | guest | guard pages | bounds checks | wasmtime serve |
//! |---|---|---|---|
//! | `no_std` hello that allocates once (bench/components) | 16.3k req/s, 94.6 µs | 44.1k req/s, 31.7 µs | 9.3k req/s, 179 µs |
//! | `handlers/rust/hello` (std; grows nothing) | 30.6k req/s, 46.9 µs | 31.4k req/s, 46.5 µs | 8.4k req/s, 204 µs |
//! | compute: sha256 of 200 MB (C), primes to 10⁷ (Zig) | 1.17–1.25 s, 59–63 ms | 1.30–1.36 s, 63–69 ms | |
//!
//! So the per-request cost stops depending on how a guest's allocator
//! behaves, for 5–10 % of compute-bound guest code; `[server] guard_pages =
//! true` takes the other side of that trade.
//!
//! Compiled components are cached on disk by [`super::compile_cache`], not
//! by wasmtime's own cache: see there. (The choice is part of the engine's
//! compatibility hash, so cached code of the other kind is recompiled.)

use crate::config::RESIDENT_PER_POOL_SLOT;
use anyhow::Context as _;
use std::sync::Arc;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The largest linear memory an instance may grow to: the whole 32-bit
/// space, so that any route's `memory_mb` (up to 4096) fits in a pool slot;
/// each route's own limit is enforced by its `ResourceLimiter`; a memory
/// grows in place, never moved. It is address space only: ~8 TiB reserved
/// at start-up out of 128 TiB, no memory. (With guard pages, the 4 GiB
/// reservation is also what lets Cranelift drop bounds checks on 32-bit
/// memories.)
pub const MAX_MEMORY_BYTES: usize = 4 << 30;

/// Per component instance, what the pool must hold for the handlers we
/// serve: core instances (Rust: 3, componentize-py's Python: 14), linear
/// memories (JavaScript: 2) and tables (Python: 3).
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Stacks per instance slot on the concurrent engine (see `pooled_config`).
const STACKS_PER_CONCURRENT_INSTANCE: u32 = 4;

/// Dirty linear-memory bytes a pool slot keeps resident after its instance
/// is gone, reset to the initial contents instead of being handed back to
/// the kernel. Covers the whole working set of a small handler (`hello`
/// dirties well under 1 MiB); bounds what an idle server keeps per slot after
/// a burst of large guests (Python's image alone is 12 MiB).
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// Likewise for tables: small (`hello`'s are ~100 entries), so reset with a
/// `memset` instead of an `madvise` per table.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

// The server's memory sum (config/memory.rs) counts what a slot keeps.
const _: () = assert!(
    MEMORY_KEEP_RESIDENT * MEMORIES_PER_COMPONENT as usize
        + TABLE_KEEP_RESIDENT * TABLES_PER_COMPONENT as usize
        == RESIDENT_PER_POOL_SLOT
);

/// An engine handlers are compiled and run with: pooled when the OS grants
/// the reservation, on demand otherwise. `concurrent` turns on wasmtime's
/// component-model concurrency (what 0.3 components and `ProxyHandler` need);
/// off, plain calls skip its event loop and per-store state. The
/// pool has slots for `instances` component instances at once.
/// `guard_pages`: guard pages and signals-based traps instead of explicit
/// bounds checks (see above).
/// `functions`: Cranelift's incremental cache (`switchyard dev`), if any.
pub fn engine(
    concurrent: bool,
    instances: u32,
    guard_pages: bool,
    functions: Option<&Arc<dyn wasmtime::CacheStore>>,
) -> anyhow::Result<Engine> {
    let with_functions = |mut config: Config| -> anyhow::Result<Config> {
        if let Some(functions) = functions {
            config.enable_incremental_compilation(functions.clone())?;
        }
        Ok(config)
    };
    match Engine::new(&with_functions(pooled_config(
        concurrent,
        instances,
        guard_pages,
    ))?) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            warn_on_demand(&error.into());
            Engine::new(&with_functions(on_demand_config(concurrent, guard_pages))?)
                .map_err(anyhow::Error::from)
                .context("creating the wasmtime engine")
        }
    }
}

/// What every configuration shares.
fn base_config(concurrent: bool, guard_pages: bool) -> Config {
    let mut config = Config::new();
    if !guard_pages {
        // Every access checked against the memory's size, every trap
        // raised by the code itself: nothing relies on unmapped pages.
        config.signals_based_traps(false);
        config.memory_guard_size(0);
    }
    config.wasm_component_model(true);
    config.concurrency_support(concurrent);
    // wasi:http 0.3 guests (wit-bindgen's and componentize-py's async ABI)
    // need only this of the async features; error contexts, stackful
    // async and threads stay off. Stated, not left to the default.
    config.wasm_component_model_async(concurrent);
    // Deadlines: a background ticker advances the epoch; see runtime/host.rs.
    config.epoch_interruption(true);
    // Linear memories start as copy-on-write mappings of the module's
    // initial image instead of being copied in (the default; stated because
    // the pool's reuse depends on it).
    config.memory_init_cow(true);
    config
}

fn on_demand_config(concurrent: bool, guard_pages: bool) -> Config {
    base_config(concurrent, guard_pages)
}

fn pooled_config(concurrent: bool, instances: u32, guard_pages: bool) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // On the concurrent engine a call suspended in an epoch yield or an
    // async host call keeps its fiber's stack, and one 0.3 instance serving
    // several requests at once can hold several.
    let stacks = if concurrent {
        instances.saturating_mul(STACKS_PER_CONCURRENT_INSTANCE)
    } else {
        instances
    };
    pool.total_component_instances(instances)
        .total_stacks(stacks)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .max_memory_size(MAX_MEMORY_BYTES)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        // Linux ≥ 6.7: reset only the pages an instance actually dirtied.
        // Elsewhere the low MEMORY_KEEP_RESIDENT bytes are reset with a
        // `memset` and the rest is decommitted.
        .pagemap_scan(Enabled::Auto);
    let mut config = base_config(concurrent, guard_pages);
    config.memory_reservation(MAX_MEMORY_BYTES as u64);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

fn warn_on_demand(error: &anyhow::Error) {
    tracing::warn!(
        "the pooling instance allocator is unavailable ({error:#}); allocating \
         every instance on demand, which is several times slower"
    );
}
