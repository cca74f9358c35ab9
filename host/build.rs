//! Embeds the repository's `wit/` (our worlds and the WASI packages the host
//! links, as `wit/sync.sh` copies them) in the binary, so `switchyard wit`
//! can write exactly that interface for a project outside this repository.
//! The file list is read from the folder, never written by hand.

use std::path::{Path, PathBuf};

fn main() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut files = Vec::new();
    collect(&wit, &wit, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (relative, absolute) in &files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        out.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("wit_files.rs");
    std::fs::write(dest, out).unwrap();
}

/// Every `.wit` file under `dir`, by its path relative to `root` (with `/`).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "wit") {
            let relative = path.strip_prefix(root).unwrap();
            let relative: Vec<_> = relative.iter().map(|c| c.to_string_lossy()).collect();
            files.push((relative.join("/"), path.canonicalize().unwrap()));
        }
    }
}
