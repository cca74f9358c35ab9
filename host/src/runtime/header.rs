//! The first eight bytes of a `.wasm` file, read before wasmtime sees it,
//! so that a file that is not a component is named for what it is (empty,
//! not WebAssembly, a core module) instead of failing with a parser error
//! from deep inside wasmtime. Shared by loading and `switchyard check`.

use anyhow::bail;

/// Say plainly what a file is when it is not a component, instead of a
/// parser error from deep inside wasmtime.
pub fn check_component_header(bytes: &[u8]) -> anyhow::Result<()> {
    const MAGIC: &[u8] = b"\0asm";
    const COMPONENT: &[u8] = &[0x0d, 0x00, 0x01, 0x00];
    const CORE_MODULE: &[u8] = &[0x01, 0x00, 0x00, 0x00];
    if bytes.is_empty() {
        bail!("the file is empty");
    }
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        bail!("not a WebAssembly file (no \\0asm header)");
    }
    match &bytes[4..8] {
        v if v == COMPONENT => Ok(()),
        v if v == CORE_MODULE => bail!(
            "this is a core WebAssembly module, not a component; turn it into a wasi:http/proxy component (e.g. `wasm-tools component new` with the proxy adapter)"
        ),
        v => bail!("unsupported WebAssembly version/layer {v:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_what_the_file_is() {
        let e = |b: &[u8]| check_component_header(b).unwrap_err().to_string();
        assert_eq!(e(b""), "the file is empty");
        assert!(e(b"hello world").contains("not a WebAssembly file"));
        assert!(e(b"\0asm\x01\0\0\0").contains("core WebAssembly module"));
        assert!(check_component_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
