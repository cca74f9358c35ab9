//! Unit tests of the entry header: every way an entry can be bad is told
//! apart before wasmtime would see it.
use super::*;

const COMPAT: [u8; 32] = [7; 32];
const DIGEST: Digest = [9; 32];

fn entry(payload: &[u8]) -> Vec<u8> {
    let mut entry = encode_header(&COMPAT, &DIGEST, payload).to_vec();
    entry.extend_from_slice(payload);
    entry
}

fn bad(entry: &[u8]) -> String {
    check_entry(entry, &COMPAT, &DIGEST).unwrap_err().to_string()
}

#[test]
fn a_whole_entry_yields_its_payload() {
    let e = entry(b"compiled code");
    assert_eq!(check_entry(&e, &COMPAT, &DIGEST).unwrap(), b"compiled code");
}

#[test]
fn a_truncated_header_is_detected() {
    let e = entry(b"compiled code");
    assert!(bad(&e[..40]).contains("truncated: 40 bytes"), "{}", bad(&e[..40]));
    assert!(bad(b"").contains("truncated: 0 bytes"));
}

#[test]
fn a_truncated_or_extended_payload_is_detected() {
    let e = entry(b"compiled code");
    let message = bad(&e[..e.len() - 1]);
    assert!(message.contains("payload is 12 bytes but the header says 13"), "{message}");
    let mut longer = e.clone();
    longer.push(0);
    assert!(bad(&longer).contains("payload is 14 bytes"));
}

#[test]
fn a_flipped_payload_byte_fails_the_checksum() {
    let mut e = entry(b"compiled code");
    let last = e.len() - 1;
    e[last] ^= 1;
    assert!(bad(&e).contains("checksum mismatch"), "{}", bad(&e));
}

#[test]
fn other_files_and_versions_are_not_entries() {
    let mut e = entry(b"x");
    e[0] = b'X';
    assert!(bad(&e).contains("wrong magic"));
    let mut e = entry(b"x");
    e[8] = 2;
    assert!(bad(&e).contains("format version 2"), "{}", bad(&e));
}

#[test]
fn another_engine_or_component_is_foreign() {
    let mut e = entry(b"x");
    e[COMPAT_HASH_OFFSET] ^= 1;
    assert!(bad(&e).contains("another wasmtime version or engine"));
    let mut e = entry(b"x");
    e[SOURCE_OFFSET..LENGTH_OFFSET].copy_from_slice(&[1; 32]);
    assert!(bad(&e).contains(&format!("another component (sha256 {})", hex::encode([1u8; 32]))));
}

#[test]
fn only_our_own_file_names_are_ever_evicted() {
    let hex64 = "ab".repeat(32);
    assert!(is_entry(Path::new(&format!("/c/0123456789abcdef/{hex64}.cwasm"))));
    assert!(!is_entry(Path::new("/c/0123456789abcdef/notes.cwasm")));
    assert!(!is_entry(Path::new(&format!("/c/x/{hex64}.wasm"))));
    assert!(is_temporary(Path::new(&format!("/c/e/.{hex64}.12.0.tmp"))));
    assert!(!is_temporary(Path::new("/c/e/.probe.12.tmp")));
    assert!(!is_temporary(Path::new("/c/e/important.tmp")));
}

#[test]
fn relative_cache_dirs_follow_the_config_file_and_max_mb_is_bounded() {
    let raw = |text: &str| toml::from_str::<RawCache>(text).unwrap();
    let s = raw("dir = \"cache\"\nmax_mb = 5").resolve(Path::new("/etc/sy")).unwrap();
    assert_eq!(s.dir.as_deref(), Some(Path::new("/etc/sy/cache")));
    assert_eq!(s.max_bytes, 5 << 20);
    assert!(s.enabled);
    let e = raw("max_mb = 0").resolve(Path::new("/")).unwrap_err();
    assert!(e.contains("`max_mb` = 0 is out of range"), "{e}");
    let e = raw("dir = \"\"").resolve(Path::new("/")).unwrap_err();
    assert!(e.contains("`dir` is empty"), "{e}");
}
