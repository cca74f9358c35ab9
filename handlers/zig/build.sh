#!/usr/bin/env bash
# Build the Zig handlers: every folder handlers/zig/<name>/ with a main.zig
# becomes OUT_DIR/<name>.wasm, a wasi:http/proxy component.
#
#   handlers/zig/build.sh OUT_DIR [NAME...]
#
# Toolchain (installed when missing): Zig from the PyPI package `ziglang`,
# pinned, in a venv under $SWITCHYARD_TOOLS with its global cache beside it
# (zig_tool in tools.sh, shared with the Zig handler template); wit-bindgen c
# for the bindings of the root wit/ world switchyard:handler/handler, which
# `zig translate-c` turns into the Zig module `wit` and Zig compiles with its
# own wasi-libc; wasm-tools and the WASI proxy adapter to make the component
# (tools.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=handlers/tools.sh
source "$here/../tools.sh"

handler_args "$here" 'main.zig' "$@"

work="$SWITCHYARD_ROOT/build/zig"
# The repository's build installs python3-venv when it can (the template's
# build only says what to install); zig_tool then installs Zig.
python3 -c 'import venv, ensurepip' 2>/dev/null \
  || debian_packages --for "Zig $ZIG_VERSION (from PyPI)" python3 python3-venv || exit 1
zig_bin=$(zig_tool) || exit 1
zig() { "$zig_bin" "$@"; }

bindings="$work/bindings"
wit_bindgen_c "$bindings" || die "could not generate C bindings"
zig translate-c -target wasm32-wasi -lc \
  --cache-dir "$work/cache" --global-cache-dir "$ZIG_GLOBAL_CACHE" -I"$bindings" "$bindings/handler.h" > "$bindings/wit.zig.tmp" \
  || die "zig translate-c failed on the bindings"
mv "$bindings/wit.zig.tmp" "$bindings/wit.zig"

for name in "${names[@]}"; do
  core="$work/$name.core.wasm"
  # Reactor, no entry point: the host only calls our exports. ReleaseSafe
  # keeps bounds and overflow checks; -fstrip drops 1.4 MB of DWARF. Options
  # before each -M belong to that module: the C bindings go into the root.
  zig build-exe -target wasm32-wasi -mexec-model=reactor -O ReleaseSafe -fno-entry -fstrip -lc \
    --cache-dir "$work/cache" --global-cache-dir "$ZIG_GLOBAL_CACHE" \
    -femit-bin="$core" \
    -I"$bindings" "$bindings/handler.c" "$bindings/handler_component_type.o" \
    --dep wit -Mroot="$here/$name/main.zig" \
    -Mwit="$bindings/wit.zig" \
    || die "zig failed for $name"
  proxy_component "$core" "$out/$name.wasm" || die "could not make a component of $name"
  echo "built $out/$name.wasm" >&2
done
