#!/usr/bin/env bash
# Build this handler: app.py -> $SWITCHYARD_ROOT/build/{{name}}.wasm, with
# componentize-py against the project's wit/ (world switchyard:handler/handler).
# Run as ./build.sh from this folder; `switchyard build {{name}}` does that.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tools.sh
. "$here/../tools.sh"  # sets SWITCHYARD_ROOT, the folder above handlers/

world=switchyard:handler/handler
wit="$SWITCHYARD_ROOT/wit"
out="$SWITCHYARD_ROOT/build/{{name}}.wasm"
work="$SWITCHYARD_ROOT/build/{{name}}"  # this build's own files

# Installed into $SWITCHYARD_TOOLS the first time, reused after that.
componentize_py=$(componentize_py) || exit 1

# A build takes a while (CPython is frozen into it): skip it when nothing it reads has changed.
if up_to_date "$out" "$work/inputs.sha256" "$componentize_py $world" "$here" "$wit"; then
  echo "build/{{name}}.wasm is up to date" >&2
  exit 0
fi

# componentize-py runs app.py at build time and Python leaves __pycache__/
# beside what it imports, so it builds a copy of this folder in $work/src
# (its errors name the file as the guest saw it, /0/app.py, either way). The
# bindings (wit_world, componentize_py_types) go to a temporary folder. An
# app.py that does not import, a syntax error say, fails here with Python's
# own traceback; RUST_LIB_BACKTRACE=0 keeps the tool's Rust stack out of it.
rm -rf "$work/src" && mkdir -p "$work/src"
tar -C "$here" --exclude=__pycache__ -cf - . | tar -C "$work/src" -xf -
RUST_LIB_BACKTRACE=0 "$componentize_py" -d "$wit" -w "$world" componentize app -p "$work/src" -o "$out.tmp" \
  || { rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
built_from "$work/inputs.sha256"
echo "built build/{{name}}.wasm" >&2
