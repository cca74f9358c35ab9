#!/usr/bin/env bash
# Build the JavaScript handlers: handlers/js/<name>/index.js -> OUT_DIR/<name>.wasm
#
#   handlers/js/build.sh OUT_DIR [NAME...]
#
# The toolchain is @bytecodealliance/componentize-js, pinned in package.json
# and package-lock.json and installed with `npm ci` into node_modules/
# (git-ignored). `npm ci` runs again only when package-lock.json changes
# (node_modules in tools.sh, shared with the handlers of a project).
# componentize.mjs does the per-handler work, including presenting wit/ at the
# wasi version componentize-js's engine knows (see greet/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/handlers/tools.sh"

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [NAME...]"
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift

# node (NODE_MAJOR_MIN in tools.sh) and npm, then `npm ci` if the lockfile changed.
node_modules "$here" || exit 1

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
  stamp="$root/build/js/$name.inputs.sha256"
  if up_to_date "$out/$name.wasm" "$stamp" "$(node --version)" "$here/$name" "$here/componentize.mjs" \
    "$here/package-lock.json" "$root/wit"; then
    echo "componentize-js: $name is up to date" >&2
    continue
  fi
  echo "componentize-js: $name -> $out/$name.wasm" >&2
  (cd "$here" && node componentize.mjs "$name" "$out/$name.wasm" --wit ../../wit --work ../../build/js-wit) \
    || die "componentize-js failed for '$name'"
  built_from "$stamp"
done
