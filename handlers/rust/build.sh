#!/usr/bin/env bash
# Build Switchyard's Rust handlers into WebAssembly components.
#
#   handlers/rust/build.sh OUT_DIR [NAME...]
#
# Builds the named handlers (every handler crate in this workspace when none
# is named) in release for wasm32-wasip2 and writes OUT_DIR/<name>.wasm.
# Building `hello` also writes OUT_DIR/hello-v2.wasm (hello built with the
# `v2` feature), the hot-reload test fixture; building `hello-p3` likewise
# writes OUT_DIR/hello-p3-v2.wasm. A handler crate is a folder here
# whose Cargo.toml declares a cdylib; `sdk` is the shared library, not a
# handler. Any failure exits non-zero.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools.sh
source "$here/../tools.sh"

[ $# -ge 1 ] || die "usage: build.sh OUT_DIR [NAME...]"
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift

target=wasm32-wasip2
need_cargo "building the Rust handlers" || exit 1
rust_target "$target" || exit 1

handlers=()
for manifest in "$here"/*/Cargo.toml; do
  grep -q 'crate-type *= *\["cdylib"\]' "$manifest" && handlers+=("$(basename "$(dirname "$manifest")")")
done

if [ $# -eq 0 ]; then
  names=("${handlers[@]}")
else
  names=("$@")
  for name in "${names[@]}"; do
    [[ " ${handlers[*]} " == *" $name "* ]] || die "no Rust handler named '$name' (have: ${handlers[*]})"
  done
fi

cd "$here"
target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
artifacts="$target_dir/$target/release"

# copy_component NAME DEST: copy the freshly built NAME.wasm (cargo writes
# add-header as add_header.wasm), checking that it is a component (preamble:
# \0asm, version 0x0d, layer 1) and not a core module.
copy_component() {
  local built="$artifacts/${1//-/_}.wasm"
  [ -f "$built" ] || die "cargo built no $built"
  [ "$(head -c 8 "$built" | od -An -tx1 | tr -d ' \n')" = 0061736d0d000100 ] \
    || die "$built is not a WebAssembly component"
  cp "$built" "$2"
}

packages=()
for name in "${names[@]}"; do packages+=(-p "$name"); done
cargo build --release --locked --target "$target" "${packages[@]}"
for name in "${names[@]}"; do
  copy_component "$name" "$out/$name.wasm"
done

# NAME-v2 overwrites NAME's artifact in target/, so it is built after NAME
# has been copied out.
for name in hello hello-p3; do
  if [[ " ${names[*]} " == *" $name "* ]]; then
    cargo build --release --locked --target "$target" -p "$name" --features v2
    copy_component "$name" "$out/$name-v2.wasm"
  fi
done
