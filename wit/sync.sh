#!/usr/bin/env bash
# Copy the WASI WIT packages out of the wasmtime-wasi-http crate the host links
# into wit/deps/, so that host and guests always agree on wasi:http.
#
#   wit/sync.sh          write wit/deps/ from the linked crate
#   wit/sync.sh --check  exit 1 if wit/deps/ differs from the linked crate
#
# The crate is located with `cargo metadata`, never by a hard-coded path or
# version: bumping wasmtime-wasi-http in host/Cargo.toml moves the WIT with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

manifest=$(cd "$root" && cargo metadata --format-version 1 2>/dev/null \
  | python3 -c '
import json, sys
meta = json.load(sys.stdin)
hits = [p for p in meta["packages"] if p["name"] == "wasmtime-wasi-http"]
if len(hits) != 1:
    sys.exit("expected exactly one wasmtime-wasi-http in the dependency graph, found %d" % len(hits))
print(hits[0]["manifest_path"])
') || { echo "wit/sync.sh: could not locate wasmtime-wasi-http with cargo metadata" >&2; exit 1; }
src="$(dirname "$manifest")/wit/deps"
[ -d "$src" ] || { echo "wit/sync.sh: $src does not exist" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$src" "$here/deps" >/dev/null 2>&1; then
    echo "wit/sync.sh: wit/deps/ has drifted from $src; run wit/sync.sh" >&2
    diff -r "$src" "$here/deps" | head -20 >&2 || true
    exit 1
  fi
  echo "wit/deps/ matches $(basename "$(dirname "$manifest")")"
  exit 0
fi

rm -rf "$here/deps"
mkdir -p "$here/deps"
cp "$src"/*.wit "$here/deps/"
echo "wit/deps/ synced from $(basename "$(dirname "$manifest")")"
