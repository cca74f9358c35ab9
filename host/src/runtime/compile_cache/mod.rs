//! Compiled components on disk, so that a restart, or a reload of bytes
//! compiled before, deserializes instead of compiling: a Python or
//! JavaScript component takes seconds to compile and milliseconds to load.
//!
//! # Layout
//!
//! `<dir>/<engine>/<sha256>.cwasm`. `<engine>` is 16 hex digits of a sha256
//! over the engine's `precompile_compatibility_hash` (wasmtime version,
//! target, compiler flags, tunables), so entries that another wasmtime or
//! another engine configuration wrote are never even opened; `<sha256>` is
//! the component's digest. An entry is wasmtime's `Component::serialize`
//! output followed by a fixed trailer (at the end, so that wasmtime can map
//! the file as it is instead of reading and copying it):
//!
//! | offset from the trailer's start | bytes | field |
//! |---|---|---|
//! | 0 | 32 | sha256 of the engine's compatibility hash |
//! | 32 | 32 | sha256 of the component's `.wasm` |
//! | 64 | 8 | payload length, little-endian |
//! | 72 | 32 | checksum of the payload: sha256 over each 4 MiB chunk's xxh3-128 |
//! | 104 | 12 | zero |
//! | 116 | 4 | format version, little-endian |
//! | 120 | 8 | magic `SYCWASM\0` (the file's last bytes) |
//!
//! # Trust
//!
//! Deserializing maps the entry's machine code as executable: it is only as
//! safe as the cache directory is trusted, like the binary itself. The
//! trailer defends against accidents, not attackers: a truncated or
//! corrupted file, an entry from another engine or of another component is
//! detected before wasmtime sees a byte, logged, deleted and recompiled.
//!
//! # Writes and the size bound
//!
//! An entry is written to a temporary file in the same folder and renamed
//! into place, so readers see a whole entry or none; two writers of the same
//! key write equivalent entries and the last rename wins. Entries are never
//! modified in place, only replaced or unlinked, so a server's mapping of
//! an entry stays valid whatever another server does. There is no
//! `fsync`: after a power cut a torn entry fails its checksum and is
//! recompiled. After each write the oldest entries (by modification time;
//! a hit touches its entry) are deleted until the cache fits its bound.
//!
//! # Read-only
//!
//! A folder that exists but cannot be written (a container image's
//! pre-filled cache under `readOnlyRootFilesystem`) is used read-only: its
//! entries load, nothing is written, touched or deleted, and what is not in
//! it compiles at every start. One warning says so.

use super::digest::Digest;
use crate::config::{default_dir, CacheSettings};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::Component;
use wasmtime::Engine;

mod entry;
use entry::*;
pub use entry::{BadEntry, COMPAT_HASH_OFFSET, TRAILER_LEN};

const EXTENSION: &str = "cwasm";
/// A temporary file this old belongs to a writer that died: delete it.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// An open cache directory for one engine.
pub struct CompileCache {
    /// The configured directory: eviction counts every engine's entries.
    root: PathBuf,
    /// `root/<engine>`: this engine's entries.
    dir: PathBuf,
    compat: [u8; 32],
    max_bytes: u64,
    /// False for a folder that can be read but not written (see the module
    /// docs): entries load, nothing is stored, touched or deleted.
    writable: bool,
}

impl CompileCache {
    /// The cache `settings` ask for, for `engine`; `None` when disabled or
    /// unusable (logged once, here: the server then compiles every time).
    pub fn open(settings: &CacheSettings, engine: &Engine) -> Option<CompileCache> {
        if !settings.enabled {
            tracing::info!("compile cache disabled; every start compiles every component");
            return None;
        }
        let Some(root) = settings.dir.clone().or_else(default_dir) else {
            tracing::warn!(
                "no compile cache: neither HOME nor XDG_CACHE_HOME is set (use --cache-dir); \
                 every start compiles every component"
            );
            return None;
        };
        let compat = compat_hash(engine);
        let dir = root.join(hex::encode(&compat[..8]));
        let writable = match probe(&dir) {
            Ok(()) => true,
            Err(error) if fs::read_dir(&dir).is_ok() => {
                tracing::warn!(
                    "compile cache {} is read-only ({error}): components already in it load \
                     without compiling; any other compiles at every start and is not saved",
                    dir.display()
                );
                false
            }
            Err(error) => {
                tracing::warn!(
                    "no compile cache: cannot write to {}: {error}; every start compiles every component",
                    dir.display()
                );
                return None;
            }
        };
        Some(CompileCache {
            root,
            dir,
            compat,
            max_bytes: settings.max_bytes,
            writable,
        })
    }

    /// Whether new entries can be written (see the module docs, Read-only).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Where the entry for `digest` lives.
    pub fn entry(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}.{EXTENSION}", hex::encode(digest)))
    }

    /// The compiled component for `digest`: `Ok(None)` when there is no
    /// entry, `Err` when the entry is unusable (the caller deletes it).
    pub fn load(&self, engine: &Engine, digest: &Digest) -> Result<Option<Component>, BadEntry> {
        let path = self.entry(digest);
        let started = Instant::now();
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(BadEntry::Read(error)),
        };
        verify(&file, &self.compat, digest)?;
        drop(file);
        let verified = started.elapsed();
        // SAFETY: `Component::deserialize_file` requires a file that
        // wasmtime itself serialized and that stays unchanged while the
        // component lives, because it maps the file's code as executable
        // without validating it. This one is: it sits in the folder of this
        // engine's compatibility hash under this component's digest, and
        // `verify` has just checked that its trailer (written only by
        // `store`, after wasmtime's `serialize`) names this engine and this
        // component and that the payload has exactly the length and checksum
        // recorded when it was written, so a truncated, corrupted, foreign
        // or misplaced file never reaches this call. wasmtime then checks its
        // own version and settings embedded in the payload. Entries are
        // never written in place, only renamed over or unlinked, which
        // leaves an existing mapping intact; a rename between `verify` and
        // this call swaps in another whole entry of the same key. What
        // remains is deliberate tampering with the cache directory, which is
        // trusted like the binary (see the module docs).
        #[allow(
            unsafe_code,
            reason = "the crate's one unsafe call: mapping a verified cache entry (see above)"
        )]
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|error| BadEntry::Rejected(error.into()))?;
        if self.writable {
            touch(&path);
        }
        tracing::debug!(
            verify_ms = verified.as_millis() as u64,
            map_ms = (started.elapsed() - verified).as_millis() as u64,
            "compile cache hit"
        );
        Ok(Some(component))
    }

    /// Delete the entry for `digest` (after [`load`](Self::load) found it bad).
    pub fn discard(&self, digest: &Digest) {
        if !self.writable {
            return;
        }
        let path = self.entry(digest);
        if let Err(error) = fs::remove_file(&path) {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!("cannot delete bad cache entry {}: {error}", path.display());
            }
        }
    }

    /// Write `component` as the entry for `digest`, atomically, then evict
    /// the oldest entries beyond the size bound. Returns the entry's path.
    pub fn store(&self, digest: &Digest, component: &Component) -> io::Result<PathBuf> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::ReadOnlyFilesystem,
                "the compile cache is read-only",
            ));
        }
        let payload = component.serialize().map_err(io::Error::other)?;
        let trailer = encode_trailer(&self.compat, digest, &payload);
        let path = self.entry(digest);
        let temporary = self.dir.join(temporary_name(digest));
        let written = (|| {
            let mut file = fs::File::create_new(&temporary)?;
            file.write_all(&payload)?;
            file.write_all(&trailer)?;
            drop(file);
            fs::rename(&temporary, &path)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        self.evict();
        Ok(path)
    }

    /// Delete the oldest entries (of any engine) until the cache fits its
    /// bound, and temporary files of writers that died. Touches only files
    /// named as this module names them, in folders named as it names them.
    fn evict(&self) {
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for folder in read_dir(&self.root) {
            if !is_engine_folder(&folder) {
                continue;
            }
            for path in read_dir(&folder) {
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if is_temporary(&path) {
                    let age = now.duration_since(modified).unwrap_or_default();
                    if age > STALE_TEMPORARY {
                        let _ = fs::remove_file(&path);
                    }
                } else if is_entry(&path) {
                    entries.push((modified, meta.len(), path));
                }
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        if total <= self.max_bytes {
            return;
        }
        entries.sort();
        let (mut count, mut freed) = (0, 0);
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    total -= len;
                    (count, freed) = (count + 1, freed + len);
                }
                // Another process evicted it first.
                Err(error) if error.kind() == io::ErrorKind::NotFound => total -= len,
                Err(error) => {
                    tracing::warn!("cannot evict cache entry {}: {error}", path.display())
                }
            }
        }
        tracing::info!(
            evicted = count,
            freed_mib = freed >> 20,
            max_mb = self.max_bytes >> 20,
            "compile cache over its size bound: evicted the least recently used entries"
        );
    }
}

/// sha256 over the engine's compatibility hash: stable across processes
/// (unlike `DefaultHasher`, which may change with the Rust release).
fn compat_hash(engine: &Engine) -> [u8; 32] {
    struct Sha256Hasher(Sha256);
    impl std::hash::Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let digest = self.0.clone().finalize();
            u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hasher.0.finalize().into()
}

/// Create `dir` and prove a file can be written in it.
fn probe(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = dir.join(format!(".probe.{}.tmp", std::process::id()));
    fs::write(&path, b"")?;
    fs::remove_file(&path)
}

/// A name no other writer uses: `.<sha256>.<pid>.<n>.tmp`.
fn temporary_name(digest: &Digest) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{}.{}.{}.tmp",
        hex::encode(digest),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Mark an entry as recently used, for eviction.
fn touch(path: &Path) {
    if let Ok(file) = fs::OpenOptions::new().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_engine_folder(path: &Path) -> bool {
    is_hex(file_name(path), 16) && path.is_dir()
}

fn is_entry(path: &Path) -> bool {
    file_name(path)
        .strip_suffix(".cwasm")
        .is_some_and(|stem| is_hex(stem, 64))
}

fn is_temporary(path: &Path) -> bool {
    let name = file_name(path);
    name.starts_with('.')
        && name.ends_with(".tmp")
        && name.get(1..65).is_some_and(|stem| is_hex(stem, 64))
}

#[cfg(test)]
mod tests;
