#!/usr/bin/env bash
# Copy the WASI WIT packages out of the crates the host links, so that host
# and guests always agree:
#   wasmtime-wasi-http's wit/deps/        (wasi:http 0.2, p2) -> wit/deps/
#   wasmtime-wasi-http's src/p3/wit/deps/ (wasi:http 0.3, p3) -> wit/p3/deps/
#   wasmtime-wasi-keyvalue's wit/deps/keyvalue/ -> wit/deps/keyvalue/, wit/p3/deps/keyvalue/
#   wasmtime-wasi-config's wit/deps/config/     -> wit/deps/config/, wit/p3/deps/config/
#
#   wit/sync.sh          write both folders from the linked crate
#   wit/sync.sh --check  exit 1 if either folder differs from the linked crate
#
# Crates are located with `cargo metadata`, never by a hard-coded path or
# version: bumping a crate in host/Cargo.toml moves its WIT with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# Where a crate's files are: its folder, located with `cargo metadata`.
metadata=$(cd "$root" && cargo metadata --format-version 1 2>/dev/null) \
  || { echo "wit/sync.sh: cargo metadata failed" >&2; exit 1; }
crate_dir() {
  python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
hits = [p for p in meta["packages"] if p["name"] == sys.argv[1]]
if len(hits) != 1:
    sys.exit("expected exactly one %s in the dependency graph, found %d" % (sys.argv[1], len(hits)))
print(os.path.dirname(hits[0]["manifest_path"]))
' "$1" <<<"$metadata" || { echo "wit/sync.sh: could not locate $1 with cargo metadata" >&2; exit 1; }
}
http=$(crate_dir wasmtime-wasi-http)
keyvalue=$(crate_dir wasmtime-wasi-keyvalue)
config=$(crate_dir wasmtime-wasi-config)
# Pairs of "folder in a crate" and "folder here" that must hold the same
# files. wasi:keyvalue and wasi:config are plain synchronous interfaces, so
# the same packages serve the p2 and the p3 world.
pairs=(
  "$http/wit/deps:deps"
  "$keyvalue/wit/deps/keyvalue:deps/keyvalue"
  "$config/wit/deps/config:deps/config"
  "$http/src/p3/wit/deps:p3/deps"
  "$keyvalue/wit/deps/keyvalue:p3/deps/keyvalue"
  "$config/wit/deps/config:p3/deps/config"
)
for pair in "${pairs[@]}"; do
  src="${pair%%:*}"
  [ -d "$src" ] || { echo "wit/sync.sh: $src does not exist" >&2; exit 1; }
done
# The files of one pair's source folder (not its subfolders).
files_of() { find "$1" -maxdepth 1 -name '*.wit' -printf '%f\n' | sort; }

if [ "${1:-}" = "--check" ]; then
  drifted=0
  for pair in "${pairs[@]}"; do
    src="${pair%%:*}" dst="$here/${pair#*:}"
    same=1
    [ "$(files_of "$src")" = "$(files_of "$dst" 2>/dev/null)" ] || same=0
    for f in $(files_of "$src"); do cmp -s "$src/$f" "$dst/$f" || same=0; done
    if [ "$same" -eq 0 ]; then
      echo "wit/sync.sh: wit/${pair#*:}/ has drifted from $src; run wit/sync.sh" >&2
      diff -r "$src" "$dst" 2>&1 | grep -v '^Only in .*: \(keyvalue\|config\)$' | head -20 >&2 || true
      drifted=1
    fi
  done
  [ "$drifted" -eq 0 ] || exit 1
  echo "wit/deps/ and wit/p3/deps/ match $(basename "$http"), $(basename "$keyvalue") and $(basename "$config")"
  exit 0
fi

for pair in "${pairs[@]}"; do
  src="${pair%%:*}" dst="$here/${pair#*:}"
  mkdir -p "$dst"
  find "$dst" -maxdepth 1 -name '*.wit' -delete
  cp "$src"/*.wit "$dst/"
done
echo "wit/deps/ and wit/p3/deps/ synced from $(basename "$http"), $(basename "$keyvalue") and $(basename "$config")"
