#!/usr/bin/env bash
# Copy the WASI WIT packages out of the wasmtime-wasi-http crate the host links,
# so that host and guests always agree on wasi:http:
#   the crate's wit/deps/        (wasi:http 0.2, p2) -> wit/deps/
#   the crate's src/p3/wit/deps/ (wasi:http 0.3, p3) -> wit/p3/deps/
#
#   wit/sync.sh          write both folders from the linked crate
#   wit/sync.sh --check  exit 1 if either folder differs from the linked crate
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
crate=$(dirname "$manifest")
# Pairs of "folder in the crate" and "folder here" that must hold the same files.
pairs=("wit/deps:deps" "src/p3/wit/deps:p3/deps")
for pair in "${pairs[@]}"; do
  src="$crate/${pair%%:*}"
  [ -d "$src" ] || { echo "wit/sync.sh: $src does not exist" >&2; exit 1; }
done

if [ "${1:-}" = "--check" ]; then
  drifted=0
  for pair in "${pairs[@]}"; do
    src="$crate/${pair%%:*}" dst="$here/${pair#*:}"
    if ! diff -r "$src" "$dst" >/dev/null 2>&1; then
      echo "wit/sync.sh: wit/${pair#*:}/ has drifted from $src; run wit/sync.sh" >&2
      diff -r "$src" "$dst" 2>&1 | head -20 >&2 || true
      drifted=1
    fi
  done
  [ "$drifted" -eq 0 ] || exit 1
  echo "wit/deps/ and wit/p3/deps/ match $(basename "$crate")"
  exit 0
fi

for pair in "${pairs[@]}"; do
  src="$crate/${pair%%:*}" dst="$here/${pair#*:}"
  rm -rf "$dst"
  mkdir -p "$dst"
  cp "$src"/*.wit "$dst/"
done
echo "wit/deps/ and wit/p3/deps/ synced from $(basename "$crate")"
