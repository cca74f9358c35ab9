#!/usr/bin/env bash
# Measure each language's handler for README.md's language table: component
# size, cold start (process spawn → first 200 from that route) with an empty
# compile cache (compiling) and with a warm one (loading from the cache),
# medians of COLD_RUNS, and the median latency of warm requests. Loopback
# only, bounded.
#
#   bench/languages.sh [SWITCHYARD_BINARY]   (default: target/release/switchyard)
#
# COLD_RUNS (5), WARM_REQUESTS (200), HANDLERS (all: "hello items greet sha256 primes").
set -euo pipefail
# No admin listener: several servers run at once here, and its default port
# (127.0.0.1:9091) would collide.
export SWITCHYARD_ADMIN_LISTEN=none
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release/switchyard}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p switchyard" >&2; exit 1; }
out="$root/build/handlers"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
warm=${WARM_REQUESTS:-200}
runs=${COLD_RUNS:-5}
only=${HANDLERS:-}

# name route method url-suffix body
cases=(
  "hello /hello GET /hello -"
  "items /py/items POST /py/items {\"items\":[1,2,3.5]}"
  "greet /js/... GET /js/?name=bench -"
  "sha256 /c/sha256 POST /c/sha256 abc"
  "primes /zig/... GET /zig/primes?limit=1000 -"
)

now_ns() { date +%s%N; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# start NAME CACHE_DIR: spawn the server, wait for its first 200; sets
# $elapsed_ms, $addr and $pid (left running).
start() {
  local name=$1 cache=$2 t0 tries=0
  # Never read the previous run's address.
  rm -f "$work/$name.out"
  t0=$(now_ns)
  RUST_LOG=warn "$bin" serve --no-watch --config "$work/$name.toml" --listen 127.0.0.1:0 \
    --cache-dir "$cache" > "$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  until addr=$(sed -n 's#^listening on http://##p' "$work/$name.out" 2>/dev/null) && [ -n "$addr" ]; do
    kill -0 $pid 2>/dev/null || { cat "$work/$name.err" >&2; echo "server for $name died" >&2; exit 1; }
    sleep 0.002
  done
  until [ "$(curl "${args[@]}" "http://$addr$path" | cut -d' ' -f1)" = 200 ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 5000 ] || { echo "no 200 from $name at $addr$path" >&2; exit 1; }
    sleep 0.002
  done
  elapsed_ms=$(( ($(now_ns) - t0) / 1000000 ))
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

printf '| handler | component | spawn → first 200, empty cache | spawn → first 200, warm cache | warm request p50 |\n|---|---|---|---|---|\n'
for case in "${cases[@]}"; do
  read -r name route method path body <<<"$case"
  [ -z "$only" ] || [[ " $only " == *" $name "* ]] || continue
  wasm="$out/$name.wasm"
  [ -f "$wasm" ] || { echo "missing $wasm: run ./build-handlers.sh" >&2; exit 1; }
  printf '[[route]]\npath = "%s"\ncomponent = "%s"\n' "$route" "$wasm" > "$work/$name.toml"
  args=(-s -o /dev/null -w '%{http_code} %{time_total}\n' -X "$method")
  [ "$body" = - ] || args+=(--data-binary "$body")

  empty=() loaded=()
  for r in $(seq "$runs"); do
    # A fresh cache each time: compiles, then writes the entry.
    start "$name" "$work/cache-$name-$r"
    empty+=("$elapsed_ms"); stop "$pid"
  done
  # The last of those left a warm cache.
  for _ in $(seq "$runs"); do
    start "$name" "$work/cache-$name-$runs"
    loaded+=("$elapsed_ms"); stop "$pid"
  done
  echo "  $name: empty cache ${empty[*]} ms; warm cache ${loaded[*]} ms" >&2

  start "$name" "$work/cache-$name-$runs"
  p50=$(for _ in $(seq "$warm"); do curl "${args[@]}" "http://$addr$path"; done \
    | awk '$1 == 200 { print $2 * 1000 }' | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }')
  stop "$pid"
  printf '| %s | %s KiB | %s ms | %s ms | %s ms |\n' "$name" "$(( $(stat -c %s "$wasm") / 1024 ))" \
    "$(echo "${empty[*]}" | median)" "$(echo "${loaded[*]}" | median)" "$p50"
done
