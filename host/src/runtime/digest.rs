//! The sha256 that names a component's bytes everywhere: the in-memory and
//! on-disk compile caches, the reload log, `GET /admin/routes`.

use sha2::{Digest as _, Sha256};

/// The sha256 of a component's bytes.
pub type Digest = [u8; 32];

/// The digest of `bytes`.
pub fn digest(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// Hex form of a digest, for logs and headers.
pub fn digest_hex(digest: &Digest) -> String {
    hex::encode(digest)
}
