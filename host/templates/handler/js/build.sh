#!/usr/bin/env bash
# Build this handler: index.js -> $SWITCHYARD_ROOT/build/{{name}}.wasm, with
# componentize-js against the project's wit/ (world switchyard:handler/handler).
# Run as ./build.sh from this folder; `switchyard build {{name}}` does that.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tools.sh
. "$here/../tools.sh"  # sets SWITCHYARD_ROOT, the folder above handlers/

wit="$SWITCHYARD_ROOT/wit"
out="$SWITCHYARD_ROOT/build/{{name}}.wasm"
work="$SWITCHYARD_ROOT/build/{{name}}"  # this build's own files

# componentize-js, pinned by package-lock.json, in node_modules/ here: `npm ci`
# runs the first time and again only when the lockfile changes.
node_modules "$here" || exit 1

# A build takes a while (SpiderMonkey is snapshotted into it): skip it when
# nothing it reads has changed.
if up_to_date "$out" "$work/inputs.sha256" "$(node --version)" "$here" "$wit"; then
  echo "build/{{name}}.wasm is up to date" >&2
  exit 0
fi

mkdir -p "$work"
# componentize.mjs writes $out atomically (a .tmp, then a rename); a script
# that does not parse fails it with the parser's errors, one that throws at
# load with the engine's.
node "$here/componentize.mjs" "$here/index.js" "$out" --wit "$wit" --work "$work"
built_from "$work/inputs.sha256"
echo "built build/{{name}}.wasm" >&2
