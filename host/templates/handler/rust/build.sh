#!/usr/bin/env bash
# Build the handler {{name}} into build/{{name}}.wasm at the project root, a
# wasi:http 0.2 component: `./build.sh` here, or `switchyard build {{name}}`
# (and `switchyard dev`, on every save) from the project root.
#
# Toolchain: the machine's Rust (cargo) with the wasm32-wasip2 target, added
# with rustup when missing; wit-bindgen 0.63.0 from crates.io (Cargo.toml).
# cargo's work files go to $CARGO_TARGET_DIR when set, else ./target/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools.sh
source "$here/../tools.sh"

rust_handler "$here" {{name}}
