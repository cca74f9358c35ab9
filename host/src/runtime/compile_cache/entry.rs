//! The on-disk form of one compile-cache entry, and the check a file passes
//! before wasmtime may map it: wasmtime's serialized code followed by a
//! fixed trailer (the layout table is in [`super`]'s docs).

use crate::runtime::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Bytes after the payload.
pub const TRAILER_LEN: usize = 128;
/// Where the engine's compatibility hash sits in the trailer.
pub const COMPAT_HASH_OFFSET: usize = 0;

pub(crate) const SOURCE_OFFSET: usize = 32;
pub(crate) const LENGTH_OFFSET: usize = 64;
pub(crate) const PAYLOAD_HASH_OFFSET: usize = 72;
pub(crate) const VERSION_OFFSET: usize = 116;
pub(crate) const MAGIC_OFFSET: usize = 120;
pub(crate) const MAGIC: [u8; 8] = *b"SYCWASM\0";
/// 2: the payload checksum is over chunks (see [`CHUNK`]); 3: the chunks'
/// hash is xxh3-128 instead of sha256.
pub(crate) const FORMAT_VERSION: u32 = 3;

/// Why a cache entry was not used.
#[derive(Debug, thiserror::Error)]
pub enum BadEntry {
    #[error("cannot read it: {0}")]
    Read(io::Error),
    #[error("truncated: {0} bytes, shorter than its {TRAILER_LEN}-byte trailer")]
    Truncated(u64),
    #[error("no Switchyard trailer at its end: truncated, or not a cache entry")]
    Magic,
    #[error("format version {0}; this build reads version {FORMAT_VERSION}")]
    Version(u32),
    #[error("written by another wasmtime version or engine configuration")]
    Foreign,
    #[error("holds the code of another component (sha256 {0})")]
    OtherComponent(String),
    #[error("payload is {actual} bytes but the trailer says {expected}")]
    Length { expected: u64, actual: u64 },
    #[error("payload checksum mismatch (corrupted)")]
    Checksum,
    #[error("wasmtime rejected it: {0:#}")]
    Rejected(anyhow::Error),
}

/// The trailer of an entry holding `payload`, the code of `digest`.
pub(crate) fn encode_trailer(
    compat: &[u8; 32],
    digest: &Digest,
    payload: &[u8],
) -> [u8; TRAILER_LEN] {
    let mut trailer = [0u8; TRAILER_LEN];
    trailer[COMPAT_HASH_OFFSET..SOURCE_OFFSET].copy_from_slice(compat);
    trailer[SOURCE_OFFSET..LENGTH_OFFSET].copy_from_slice(digest);
    trailer[LENGTH_OFFSET..PAYLOAD_HASH_OFFSET]
        .copy_from_slice(&(payload.len() as u64).to_le_bytes());
    trailer[PAYLOAD_HASH_OFFSET..PAYLOAD_HASH_OFFSET + 32].copy_from_slice(&checksum(payload));
    trailer[VERSION_OFFSET..MAGIC_OFFSET].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    trailer[MAGIC_OFFSET..].copy_from_slice(&MAGIC);
    trailer
}

/// Check that `file` is the code of `digest`, compiled by the engine with
/// `compat`, whole and uncorrupted: its trailer, then the payload's length
/// and checksum.
pub(crate) fn verify(file: &fs::File, compat: &[u8; 32], digest: &Digest) -> Result<(), BadEntry> {
    use std::os::unix::fs::FileExt as _;
    let len = file.metadata().map_err(BadEntry::Read)?.len();
    let Some(payload_len) = len.checked_sub(TRAILER_LEN as u64) else {
        return Err(BadEntry::Truncated(len));
    };
    let mut trailer = [0u8; TRAILER_LEN];
    file.read_exact_at(&mut trailer, payload_len)
        .map_err(BadEntry::Read)?;
    if trailer[MAGIC_OFFSET..] != MAGIC {
        return Err(BadEntry::Magic);
    }
    let version = u32::from_le_bytes(
        trailer[VERSION_OFFSET..MAGIC_OFFSET]
            .try_into()
            .expect("4 bytes"),
    );
    if version != FORMAT_VERSION {
        return Err(BadEntry::Version(version));
    }
    if trailer[COMPAT_HASH_OFFSET..SOURCE_OFFSET] != compat[..] {
        return Err(BadEntry::Foreign);
    }
    if trailer[SOURCE_OFFSET..LENGTH_OFFSET] != digest[..] {
        return Err(BadEntry::OtherComponent(hex::encode(
            &trailer[SOURCE_OFFSET..LENGTH_OFFSET],
        )));
    }
    let expected = u64::from_le_bytes(
        trailer[LENGTH_OFFSET..PAYLOAD_HASH_OFFSET]
            .try_into()
            .expect("8 bytes"),
    );
    if expected != payload_len {
        return Err(BadEntry::Length {
            expected,
            actual: payload_len,
        });
    }
    let checksum = file_checksum(file, payload_len).map_err(BadEntry::Read)?;
    if checksum[..] != trailer[PAYLOAD_HASH_OFFSET..PAYLOAD_HASH_OFFSET + 32] {
        return Err(BadEntry::Checksum);
    }
    Ok(())
}

/// The payload checksum is a sha256 over the xxh3-128 of each `CHUNK`
/// bytes. Chunks, so that checking a hit (35 MB for a Python component, the
/// largest part of loading it) runs on every core instead of one; xxh3,
/// because it guards against accidents (torn writes, flipped bits), not
/// attackers (see "Trust" above), at several times sha256's speed.
pub(crate) const CHUNK: usize = 4 << 20;

/// The checksum of `payload` (see [`CHUNK`]).
pub(crate) fn checksum(payload: &[u8]) -> [u8; 32] {
    let mut outer = Sha256::new();
    for chunk in payload.chunks(CHUNK) {
        outer.update(xxh3_128(chunk).to_le_bytes());
    }
    outer.finalize().into()
}

/// [`checksum`] of the first `len` bytes of `file`, its chunks hashed in
/// parallel, each read through a 1 MiB buffer (never the whole file in memory).
fn file_checksum(file: &fs::File, len: u64) -> io::Result<[u8; 32]> {
    use std::os::unix::fs::FileExt as _;
    let chunks = len.div_ceil(CHUNK as u64) as usize;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, chunks.max(1));
    let mut sums = vec![[0u8; 16]; chunks];
    let per_thread = chunks.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = sums
            .chunks_mut(per_thread)
            .enumerate()
            .map(|(t, part)| {
                scope.spawn(move || -> io::Result<()> {
                    let mut buffer = vec![0u8; 1 << 20];
                    for (i, sum) in part.iter_mut().enumerate() {
                        let start = ((t * per_thread + i) * CHUNK) as u64;
                        let end = (start + CHUNK as u64).min(len);
                        let mut hasher = Xxh3::new();
                        let mut offset = start;
                        while offset < end {
                            let want = buffer.len().min((end - offset) as usize);
                            file.read_exact_at(&mut buffer[..want], offset)?;
                            hasher.update(&buffer[..want]);
                            offset += want as u64;
                        }
                        *sum = hasher.digest128().to_le_bytes();
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("checksum thread panicked"))
    })?;
    let mut outer = Sha256::new();
    for sum in &sums {
        outer.update(sum);
    }
    Ok(outer.finalize().into())
}
