//! Unit tests of the entry trailer: every way an entry can be bad is told
//! apart before wasmtime would see it.
use super::*;

const COMPAT: [u8; 32] = [7; 32];
const DIGEST: Digest = [9; 32];
const PAYLOAD: &[u8] = b"compiled code";

fn entry(payload: &[u8]) -> Vec<u8> {
    let mut entry = payload.to_vec();
    entry.extend_from_slice(&encode_trailer(&COMPAT, &DIGEST, payload));
    entry
}

fn check(entry: &[u8]) -> Result<(), BadEntry> {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(entry).unwrap();
    verify(&file, &COMPAT, &DIGEST)
}

fn bad(entry: &[u8]) -> String {
    check(entry).unwrap_err().to_string()
}

#[test]
fn a_whole_entry_passes() {
    check(&entry(PAYLOAD)).unwrap();
    // Several checksum chunks, the last one short.
    let large: Vec<u8> = (0..3 * CHUNK + 7).map(|i| (i * 7 / 3) as u8).collect();
    check(&entry(&large)).unwrap();
    let mut flipped = entry(&large);
    flipped[2 * CHUNK + 5] ^= 1;
    assert!(bad(&flipped).contains("checksum mismatch"));
    // Exactly one chunk, and none.
    check(&entry(&large[..CHUNK])).unwrap();
    check(&entry(b"")).unwrap();
}

#[test]
fn a_truncated_entry_is_detected() {
    let e = entry(PAYLOAD);
    assert!(
        bad(&e[..40]).contains("truncated: 40 bytes"),
        "{}",
        bad(&e[..40])
    );
    assert!(bad(b"").contains("truncated: 0 bytes"));
    // Cut anywhere else, the trailer is gone from the end.
    assert!(bad(&e[..e.len() - 1]).contains("no Switchyard trailer"));
}

#[test]
fn a_wrong_length_is_detected() {
    let mut e = entry(PAYLOAD);
    e.insert(0, b'x');
    let message = bad(&e);
    assert!(
        message.contains("payload is 14 bytes but the trailer says 13"),
        "{message}"
    );
}

#[test]
fn a_flipped_payload_byte_fails_the_checksum() {
    let mut e = entry(PAYLOAD);
    e[3] ^= 1;
    assert!(bad(&e).contains("checksum mismatch"), "{}", bad(&e));
}

#[test]
fn other_files_and_versions_are_not_entries() {
    let mut e = entry(PAYLOAD);
    let last = e.len() - 1;
    e[last] = b'X';
    assert!(bad(&e).contains("no Switchyard trailer"));
    let mut e = entry(PAYLOAD);
    let version = PAYLOAD.len() + VERSION_OFFSET;
    e[version] = 1;
    assert!(bad(&e).contains("format version 1"), "{}", bad(&e));
}

#[test]
fn another_engine_or_component_is_foreign() {
    let mut e = entry(PAYLOAD);
    e[PAYLOAD.len() + COMPAT_HASH_OFFSET] ^= 1;
    assert!(bad(&e).contains("another wasmtime version or engine"));
    let mut e = entry(PAYLOAD);
    let source = PAYLOAD.len() + SOURCE_OFFSET;
    e[source..source + 32].copy_from_slice(&[1; 32]);
    assert!(bad(&e).contains(&format!(
        "another component (sha256 {})",
        hex::encode([1u8; 32])
    )));
}

#[test]
fn only_our_own_file_names_are_ever_evicted() {
    let hex64 = "ab".repeat(32);
    assert!(is_entry(Path::new(&format!(
        "/c/0123456789abcdef/{hex64}.cwasm"
    ))));
    assert!(!is_entry(Path::new("/c/0123456789abcdef/notes.cwasm")));
    assert!(!is_entry(Path::new(&format!("/c/x/{hex64}.wasm"))));
    assert!(is_temporary(Path::new(&format!("/c/e/.{hex64}.12.0.tmp"))));
    assert!(!is_temporary(Path::new("/c/e/.probe.12.tmp")));
    assert!(!is_temporary(Path::new("/c/e/important.tmp")));
}
