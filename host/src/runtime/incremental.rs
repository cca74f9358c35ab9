//! Cranelift's incremental compilation cache, kept in memory for
//! `switchyard dev`: a rebuilt component whose functions are mostly the
//! same as before (a Python or JavaScript handler is a whole interpreter
//! plus a few changed lines of the app) recompiles only the functions
//! that changed, so the new version serves in a fraction of a full
//! compile. Keyed by each function's content and the compiler's settings
//! (Cranelift's own keys), so an entry can never serve the wrong code.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most compiled-function bytes kept; past it new functions are
/// compiled without being remembered.
const MAX_BYTES: usize = 1 << 30;

/// Compiled functions by Cranelift's cache key.
#[derive(Debug, Default)]
pub struct FunctionCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Vec<u8>, Arc<[u8]>>,
    bytes: usize,
}

impl FunctionCache {
    pub fn shared() -> Arc<dyn wasmtime::CacheStore> {
        Arc::new(FunctionCache::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let value = self.lock().by_key.get(key).cloned()?;
        Some(Cow::Owned(value.to_vec()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut entries = self.lock();
        let size = key.len() + value.len();
        if entries.bytes + size > MAX_BYTES {
            return false;
        }
        if let Some(old) = entries.by_key.insert(key.to_vec(), value.into()) {
            entries.bytes -= key.len() + old.len();
        }
        entries.bytes += size;
        true
    }
}
