#!/usr/bin/env bash
# Measure each language's handler for README.md's language table: component
# size, start-up (process spawn → first 200 from that route, compile included),
# and the median latency of warm requests. Loopback only, bounded.
#
#   bench/languages.sh [SWITCHYARD_BINARY]   (default: target/release/switchyard)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release/switchyard}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p switchyard" >&2; exit 1; }
out="$root/build/handlers"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
warm=${WARM_REQUESTS:-200}

# name route method url-suffix body
cases=(
  "hello /hello GET /hello -"
  "items /py/items POST /py/items {\"items\":[1,2,3.5]}"
  "greet /js/... GET /js/?name=bench -"
  "sha256 /c/sha256 POST /c/sha256 abc"
  "primes /zig/... GET /zig/primes?limit=1000 -"
)

now_ms() { date +%s%3N; }

printf '| handler | component | spawn → first 200 | warm p50 |\n|---|---|---|---|\n'
for case in "${cases[@]}"; do
  read -r name route method path body <<<"$case"
  wasm="$out/$name.wasm"
  [ -f "$wasm" ] || { echo "missing $wasm: run ./build-handlers.sh" >&2; exit 1; }
  printf '[[route]]\npath = "%s"\ncomponent = "%s"\n' "$route" "$wasm" > "$work/$name.toml"
  args=(-s -o /dev/null -w '%{http_code} %{time_total}\n' -X "$method")
  [ "$body" = - ] || args+=(--data-binary "$body")
  start=$(now_ms)
  RUST_LOG=warn "$bin" serve --no-watch --config "$work/$name.toml" --listen 127.0.0.1:0 > "$work/$name.out" 2>/dev/null &
  pid=$!
  until addr=$(sed -n 's#^listening on http://##p' "$work/$name.out") && [ -n "$addr" ]; do
    kill -0 $pid 2>/dev/null || { echo "server for $name died" >&2; exit 1; }
    sleep 0.005
  done
  until [ "$(curl "${args[@]}" "http://$addr$path" | cut -d' ' -f1)" = 200 ]; do sleep 0.005; done
  first=$(( $(now_ms) - start ))
  p50=$(for _ in $(seq "$warm"); do curl "${args[@]}" "http://$addr$path"; done \
    | awk '$1 == 200 { print $2 * 1000 }' | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }')
  kill $pid; wait $pid 2>/dev/null || true
  printf '| %s | %s KiB | %s ms | %s ms |\n' "$name" "$(( $(stat -c %s "$wasm") / 1024 ))" "$first" "$p50"
done
