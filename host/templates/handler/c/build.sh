#!/usr/bin/env bash
# Build the handler {{name}} into build/{{name}}.wasm at the project root, a
# wasi:http 0.2 component: `./build.sh` here, or `switchyard build {{name}}`
# (and `switchyard dev`, on every save) from the project root.
#
# Toolchain: Debian's clang-14, lld-14, wasi-libc and wasm32 compiler-rt
# (install them yourself: this never runs apt); wit-bindgen-cli for the C
# bindings of the project's wit/ and wasm-tools plus the WASI proxy adapter to
# make the component, each pinned and installed once per machine under
# $SWITCHYARD_TOOLS by ../tools.sh. Work files go to build/{{name}}/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools.sh
source "$here/../tools.sh"

debian_packages --check --for "the C handler" clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 || exit 1

work="$SWITCHYARD_ROOT/build/{{name}}"
bindings="$work/bindings"
wit_bindgen_c "$bindings" || exit 1

# The generated bindings are compiled once, again only when wit/ changes
# them (wit_bindgen_c then replaces the folder): most of the compile time.
if ! [ "$bindings/handler.o" -nt "$bindings/handler.c" ]; then
  clang-14 --target=wasm32-wasi -O2 -std=c11 -c "$bindings/handler.c" -o "$bindings/handler.o.tmp"
  mv "$bindings/handler.o.tmp" "$bindings/handler.o"
fi

# Every .c file here, plus the bindings. Reactor: no main, the host only calls
# the export. --strip-debug drops the DWARF of Debian's libc.a and keeps the
# name section, so a trap still shows function names.
clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra \
  -I"$bindings" "$here"/*.c "$bindings/handler.o" "$bindings/handler_component_type.o" \
  -Wl,--strip-debug -o "$work/{{name}}.core.wasm"

# proxy_component writes OUT.tmp, checks the export, then renames it.
proxy_component "$work/{{name}}.core.wasm" "$SWITCHYARD_ROOT/build/{{name}}.wasm" || exit 1
echo "built $SWITCHYARD_ROOT/build/{{name}}.wasm" >&2
