#!/usr/bin/env bash
# Build the handler {{name}} into build/{{name}}.wasm at the project root, a
# wasi:http 0.3 component: `./build.sh` here, or `switchyard build {{name}}`
# (and `switchyard dev`, on every save) from the project root.
#
# Toolchain: the machine's Rust (cargo) with the wasm32-wasip2 target, added
# with rustup when missing; wit-bindgen 0.63.0 from crates.io (Cargo.toml).
# cargo's work files go to $CARGO_TARGET_DIR when set, else ./target/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools.sh
source "$here/../tools.sh"

target=wasm32-wasip2
need_cargo "the Rust handler" || exit 1
rust_target "$target" || exit 1

target_dir=${CARGO_TARGET_DIR:-$here/target}
[[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
cd "$here"
cargo build --release --target "$target" --target-dir "$target_dir"

# cargo names the library after the crate with `-` as `_`.
built="$target_dir/$target/release/{{name_snake}}.wasm"
out="$SWITCHYARD_ROOT/build/{{name}}.wasm"
mkdir -p "$SWITCHYARD_ROOT/build"
cp "$built" "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out" >&2
