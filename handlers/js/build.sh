#!/usr/bin/env bash
# Build the JavaScript handlers: handlers/js/<name>/index.js -> OUT_DIR/<name>.wasm
#
#   handlers/js/build.sh OUT_DIR [NAME...]
#
# The toolchain is @bytecodealliance/componentize-js, pinned in package.json
# and package-lock.json and installed with `npm ci` into node_modules/
# (git-ignored). `npm ci` runs again only when package-lock.json changes.
# componentize.mjs does the per-handler work, including presenting wit/ at the
# wasi version componentize-js's engine knows (see greet/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/handlers/tools.sh"

NODE_MAJOR_MIN=20  # import.meta.resolve, used by componentize.mjs, needs node 20

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [NAME...]"
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift

command -v node >/dev/null || die "node (>= $NODE_MAJOR_MIN) is needed to build the JavaScript handlers"
command -v npm >/dev/null || die "npm is needed to install the JavaScript toolchain"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge "$NODE_MAJOR_MIN" ] || die "node $NODE_MAJOR_MIN or later is needed, found $(node --version)"

# node_modules is current when it was installed from this exact lockfile.
stamp="$here/node_modules/.switchyard-lock.sha256"
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sum" ]; then
  echo "installing the JavaScript toolchain with npm ci (from package-lock.json)" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2) \
    || die "npm ci failed in $here"
  echo "$lock_sum" > "$stamp"
fi

if [ $# -eq 0 ]; then
  names=()
  for dir in "$here"/*/; do
    [ -f "$dir/index.js" ] && names+=("$(basename "$dir")")
  done
  [ ${#names[@]} -gt 0 ] || die "no handlers (folders with index.js) under $here"
else
  names=("$@")
fi

for name in "${names[@]}"; do
  [ -f "$here/$name/index.js" ] || die "no JavaScript handler named '$name' (expected $here/$name/index.js)"
  echo "componentize-js: $name -> $out/$name.wasm" >&2
  (cd "$here" && node componentize.mjs "$name" "$out/$name.wasm") \
    || die "componentize-js failed for '$name'"
done
