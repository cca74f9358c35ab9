#!/usr/bin/env bash
# Build the handler {{name}} into build/{{name}}.wasm at the project root, a
# wasi:http 0.2 component: `./build.sh` here, or `switchyard build {{name}}`
# (and `switchyard dev`, on every save) from the project root.
#
# Toolchain, each pinned and installed once per machine under $SWITCHYARD_TOOLS
# by ../tools.sh: Zig 0.17.0 from the PyPI package `ziglang` (needs python3
# with venv), whose global cache there holds the wasi-libc it compiles;
# wit-bindgen-cli for the C bindings of the project's wit/, which
# `zig translate-c` turns into the Zig module `wit`; wasm-tools and the WASI
# proxy adapter to make the component. Work files go to build/{{name}}/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools.sh
source "$here/../tools.sh"

zig=$(zig_tool) || exit 1
work="$SWITCHYARD_ROOT/build/{{name}}"
bindings="$work/bindings"
wit_bindgen_c "$bindings" || exit 1
# Translated again only when wit/ changes the bindings.
if ! [ "$bindings/wit.zig" -nt "$bindings/handler.h" ]; then
  "$zig" translate-c -target wasm32-wasi -lc --cache-dir "$work/cache" --global-cache-dir "$ZIG_GLOBAL_CACHE" \
    -I"$bindings" "$bindings/handler.h" > "$bindings/wit.zig.tmp"
  mv "$bindings/wit.zig.tmp" "$bindings/wit.zig"
fi

# Reactor, no entry point: the host only calls the export. ReleaseSafe keeps
# bounds and overflow checks; -fstrip drops the DWARF. Options before each -M
# belong to that module: the C bindings go into the root, main.zig.
"$zig" build-exe -target wasm32-wasi -mexec-model=reactor -O ReleaseSafe -fno-entry -fstrip -lc \
  --cache-dir "$work/cache" --global-cache-dir "$ZIG_GLOBAL_CACHE" \
  -femit-bin="$work/{{name}}.core.wasm" \
  -I"$bindings" "$bindings/handler.c" "$bindings/handler_component_type.o" \
  --dep wit -Mroot="$here/main.zig" \
  -Mwit="$bindings/wit.zig"

# proxy_component writes OUT.tmp, checks the export, then renames it.
proxy_component "$work/{{name}}.core.wasm" "$SWITCHYARD_ROOT/build/{{name}}.wasm" || exit 1
echo "built $SWITCHYARD_ROOT/build/{{name}}.wasm" >&2
