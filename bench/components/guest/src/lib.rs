//! What the two no_std benchmark components share, written once: the
//! bindings for `bench:components/proxy-handler` (generated from the
//! repository's `wit/` plus this workspace's `wit/`), `dlmalloc` as the global
//! allocator, the `cabi_realloc` export the host allocates through, and a
//! panic handler that traps.
//!
//! This is deliberately not `handlers/rust/sdk`: no `std`, no helpers, no
//! `wasi:cli` (so no stderr either), only the calls a component written from
//! the WASI specification alone would make. A component implements [`Guest`]
//! and calls [`export!`].

#![no_std]

extern crate alloc;

pub mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "bench:components/proxy-handler",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "::guest::bindings",
        runtime_path: "::guest::bindings::wit_bindgen_rt",
    });

    /// The `wit-bindgen` runtime, re-exported so that what [`export!`]
    /// expands to resolves in a component crate without its own dependency.
    #[doc(hidden)]
    pub use wit_bindgen::rt as wit_bindgen_rt;
}

// `::guest::...` paths in the generated code must also resolve in this crate.
extern crate self as guest;

pub use bindings::export;
pub use bindings::exports::wasi::http::incoming_handler::Guest;
pub use bindings::wasi;

/// The allocator the bindings' `cabi_realloc` (strings and lists the host
/// hands over) and `alloc` use: no libc malloc in a no_std component.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The Canonical ABI's allocation entry point: the host calls it to place
/// the strings and lists it hands over (a request's path, header values, a
/// body piece) in guest memory. On wasm32-wasip2 wit-bindgen's runtime leaves
/// it to wasi-libc, which a no_std component does not link.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc, Layout};
    if new_len == 0 {
        // Nothing to hold: any non-null, aligned pointer will do.
        return align as *mut u8;
    }
    // SAFETY: the Canonical ABI passes a power-of-two `align` and, for a
    // reallocation, the `old_len` and `align` of the block `old_ptr` came from.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable();
    }
    ptr
}

/// A panic is a trap: no unwinding (`panic = "abort"`), no message, since
/// this world has no stderr to print one on.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
