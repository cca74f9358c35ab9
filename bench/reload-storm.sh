#!/usr/bin/env bash
# Throughput while a route's component is swapped over and over, against the
# same server at rest, in one run: wrk on /hello for ROUND seconds steady,
# then ROUND seconds while hello.wasm and hello-v2.wasm are written over the
# routed file every INTERVAL seconds; alternating, ROUNDS times each; medians.
# Also the reload latency: write → first response from the new version.
# Loopback only; needs wrk (apt-get install wrk) and a release build.
#
#   bench/reload-storm.sh [SWITCHYARD_BINARY]
set -euo pipefail
# No admin listener: several servers run at once here, and its default port
# (127.0.0.1:9091) would collide.
export SWITCHYARD_ADMIN_LISTEN=none
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release/switchyard}
round=${ROUND:-5} rounds=${ROUNDS:-3} interval=${INTERVAL:-0.2} conns=${CONNS:-32}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p switchyard" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
v1="$root/build/handlers/hello.wasm" v2="$root/build/handlers/hello-v2.wasm"
cp "$v1" "$work/hello.wasm"
printf '[[route]]\npath = "/hello"\ncomponent = "%s"\n' "$work/hello.wasm" > "$work/switchyard.toml"
: > "$work/out"
RUST_LOG=warn,switchyard::reload=info "$bin" serve --config "$work/switchyard.toml" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
until addr=$(sed -n 's#^listening on http://##p' "$work/out") && [ -n "$addr" ]; do sleep 0.01; done
url="http://$addr/hello"

rps() { wrk -t2 -c"$conns" -d"${round}s" "$url" | awk '/Requests\/sec/ { print $2 } /Non-2xx|Socket errors/ { print "ERR " $0 > "/dev/stderr" }'; }
storm() {
  local i=0 end=$((SECONDS + round))
  while [ $SECONDS -lt $end ]; do
    if [ $((i % 2)) -eq 0 ]; then cp "$v2" "$work/hello.wasm"; else cp "$v1" "$work/hello.wasm"; fi
    i=$((i + 1)); sleep "$interval"
  done
  echo "$i" > "$work/writes"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

steady=() stormy=()
for _ in $(seq "$rounds"); do
  steady+=("$(rps)")
  storm & storm_pid=$!
  stormy+=("$(rps)")
  wait "$storm_pid"
done
s=$(printf '%s\n' "${steady[@]}" | median) t=$(printf '%s\n' "${stormy[@]}" | median)
echo "steady:        ${steady[*]} req/s (median $s)"
echo "reload storm:  ${stormy[*]} req/s (median $t), a write every ${interval}s"
awk -v s="$s" -v t="$t" 'BEGIN { printf "storm / steady: %.2f\n", t / s }'

# Reload latency: write → first answer from the new version, median of 5,
# starting from v1 being served.
cp "$v1" "$work/hello.wasm"
until curl -s "$url" | grep -q "^Hello from"; do sleep 0.05; done
lat=()
for i in 1 2 3 4 5; do
  if [ $((i % 2)) -eq 1 ]; then src=$v2 want="Hello again"; else src=$v1 want="Hello from"; fi
  start=$(date +%s%N); cp "$src" "$work/hello.wasm"
  until curl -s "$url" | grep -q "^$want"; do :; done
  lat+=($(( ($(date +%s%N) - start) / 1000000 )))
done
echo "reload latency (write → new version served): ${lat[*]} ms (median $(printf '%s\n' "${lat[@]}" | median) ms)"
echo "swaps logged: $(grep -c 'reloaded: generation' "$work/err" || true); reload errors: $(grep -c 'reload failed' "$work/err" || true)"
