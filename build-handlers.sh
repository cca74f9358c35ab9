#!/usr/bin/env bash
# Build every handler under handlers/ into build/handlers/<name>.wasm, the
# folder the default switchyard.toml points at.
#
#   ./build-handlers.sh          sync wit/deps, then build every handler
#   ./build-handlers.sh NAME...  build only the named handlers
#
# Each language folder handlers/<lang>/ owns a build.sh with one contract:
#   handlers/<lang>/build.sh OUT_DIR [NAME...]
# It installs its own pinned toolchain when missing (see handlers/tools.sh),
# builds the named handlers (all of them when none are named) and writes
# OUT_DIR/<name>.wasm. A handler that cannot be built is an error, never a skip.
# It also installs redis-server, which the key-value tests run, and podman,
# runc and debootstrap, with which the container tests build and run the image.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
out="$root/build/handlers"
mkdir -p "$out"

languages=(rust python js c zig)

# The WIT every guest builds against comes from the crate the host links.
"$root/wit/sync.sh" >/dev/null

# The state handlers' tests (and README's Redis recipe) run a real
# redis-server, Debian's; the tests start their own on free ports. An image
# build, which runs no test, sets SWITCHYARD_NO_TEST_SERVICES=1.
if [ -z "${SWITCHYARD_NO_TEST_SERVICES:-}" ]; then
  # shellcheck source=handlers/tools.sh
  . "$root/handlers/tools.sh"
  debian_packages redis-server
  # The container tests (host/tests/all/container.rs) build and run the
  # image with podman, on a Debian base debootstrap makes when no registry
  # serves one; they say so and check nothing where no engine can run.
  debian_packages podman runc debootstrap
fi

lang_of() {
  local name=$1 lang
  for lang in "${languages[@]}"; do
    if [ -d "$root/handlers/$lang/$name" ]; then echo "$lang"; return 0; fi
  done
  return 1
}

if [ $# -eq 0 ]; then
  for lang in "${languages[@]}"; do
    [ -x "$root/handlers/$lang/build.sh" ] || continue
    echo "==> building $lang handlers"
    "$root/handlers/$lang/build.sh" "$out"
  done
else
  for name in "$@"; do
    lang=$(lang_of "$name") || { echo "build-handlers.sh: no handler named '$name' under handlers/*/" >&2; exit 2; }
    echo "==> building $name ($lang)"
    "$root/handlers/$lang/build.sh" "$out" "$name"
  done
fi

echo "handlers in $out:"
ls -l "$out"/*.wasm | awk '{printf "  %-28s %8d bytes\n", $NF, $5}' | sed "s#$out/##"
