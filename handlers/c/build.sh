#!/usr/bin/env bash
# Build the C handlers: every folder handlers/c/<name>/ holding .c files
# becomes OUT_DIR/<name>.wasm, a wasi:http/proxy component.
#
#   handlers/c/build.sh OUT_DIR [NAME...]
#
# Toolchain (installed when missing): Debian bookworm's clang 14, lld 14,
# wasi-libc and wasm32 compiler-rt; wit-bindgen c for the bindings of the
# root wit/ world switchyard:handler/handler; wasm-tools and the WASI proxy
# adapter to turn the wasm32-wasi core module into a component (tools.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=handlers/tools.sh
source "$here/../tools.sh"

handler_args "$here" '*.c' "$@"

# The repository's build installs them (as root, or with sudo -n); where it
# cannot, debian_packages says the one command to run.
debian_packages --for "the C handlers" clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 || exit 1

work="$SWITCHYARD_ROOT/build/c"
bindings="$work/bindings"
wit_bindgen_c "$bindings" || die "could not generate C bindings"

for name in "${names[@]}"; do
  sources=("$here/$name"/*.c)
  core="$work/$name.core.wasm"
  # Reactor: no _start, the host only calls our exports. --strip-debug drops
  # the DWARF that Debian's libc.a carries (two thirds of the size) and keeps
  # the name section, so traps still show function names.
  clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 \
    -Wall -Wextra -Werror -I"$bindings" \
    "${sources[@]}" "$bindings/handler.c" "$bindings/handler_component_type.o" \
    -Wl,--strip-debug -o "$core" || die "clang failed for $name"
  proxy_component "$core" "$out/$name.wasm" || die "could not make a component of $name"
  echo "built $out/$name.wasm" >&2
done
