#!/usr/bin/env bash
# bench/middleware.sh: what a middleware chain costs. One release server
# serves hello alone, behind one middleware and behind two (add-header, which
# passes every request on to `next` in-process); wrk measures each in
# alternating rounds and the script prints medians and their ratio to hello
# alone. See bench/README.md.
#
#   bench/middleware.sh
#
# Knobs (environment): ROUNDS (3, at least 3), DURATION (5, seconds per wrk
# run), CONNECTIONS (32), WRK_THREADS (2), SWITCHYARD_BIN (measure a prebuilt
# binary, skip building it). Loopback only.
set -euo pipefail
# No admin listener: several servers run at once here, and its default port
# (127.0.0.1:9091) would collide.
export SWITCHYARD_ADMIN_LISTEN=none

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}

[ "$ROUNDS" -ge 3 ] || die "ROUNDS must be at least 3 (medians of fewer say little)"
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is needed"

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  switchyard_bin=$SWITCHYARD_BIN
else
  say "building switchyard (release)"
  nice -n 10 cargo build --release --locked -p switchyard
  switchyard_bin="$root/target/release/switchyard"
fi
handlers="$root/build/handlers"
if [ ! -f "$handlers/hello.wasm" ] || [ ! -f "$handlers/add-header.wasm" ]; then
  say "building the hello and add-header handlers"
  ./build-handlers.sh hello add-header
fi

bench_setup mw-bench

cat >"$work/switchyard.toml" <<TOML
[[middleware]]
name = "first"
component = "$handlers/add-header.wasm"

[[middleware]]
name = "second"
component = "$handlers/add-header.wasm"

[[route]]
path = "/hello"
component = "$handlers/hello.wasm"

[[route]]
path = "/one"
name = "one"
middleware = ["first"]
component = "$handlers/hello.wasm"

[[route]]
path = "/two"
name = "two"
middleware = ["first", "second"]
component = "$handlers/hello.wasm"
TOML

say "starting switchyard"
start switchyard "$work/server.log" env RUST_LOG=warn "$switchyard_bin" serve \
  --config "$work/switchyard.toml" --listen 127.0.0.1:0 || die "switchyard did not start"
addr=$started_addr

paths=(/hello /one /two)
declare -A label=([/hello]="hello alone" [/one]="1 middleware" [/two]="2 middleware")
# Each answers hello's greeting; the chained ones carry one x-middleware per middleware.
for p in "${paths[@]}"; do
  got=$(curl -s --max-time 5 -D "$work/head" "http://$addr$p")
  [ "$got" = "Hello from Switchyard! GET $p" ] || die "$p answered unexpectedly: $got"
done
[ "$(grep -ci '^x-middleware:' "$work/head")" = 2 ] || die "/two did not pass two middleware"

declare -A rps p50 p99
say "$ROUNDS rounds of ${DURATION}s at $CONNECTIONS connections, alternating ${paths[*]}"
for p in "${paths[@]}"; do run_wrk "http://$addr$p" "$CONNECTIONS" 1 >/dev/null; done # warm-up
for r in $(seq 1 "$ROUNDS"); do
  for p in "${paths[@]}"; do
    line=$(run_wrk "http://$addr$p" "$CONNECTIONS" "$DURATION")
    echo "  round $r ${label[$p]}: $line" >&2
    [ "$(field errors <<<"$line")" = 0 ] || die "${label[$p]}: wrk saw errors: $line"
    rps[$p]+="$(field rps <<<"$line") "
    p50[$p]+="$(field p50_us <<<"$line") "
    p99[$p]+="$(field p99_us <<<"$line") "
  done
done

base_rps=$(med "${rps[/hello]}")
base_p50=$(med "${p50[/hello]}")
printf '\n%-14s %10s %10s %10s %12s %12s\n' "" "req/s" "p50 µs" "p99 µs" "req/s ratio" "p50 ratio"
for p in "${paths[@]}"; do
  r=$(med "${rps[$p]}"); l=$(med "${p50[$p]}"); t=$(med "${p99[$p]}")
  printf '%-14s %10.0f %10.0f %10.0f %12.2f %12.2f\n' "${label[$p]}" "$r" "$l" "$t" \
    "$(awk -v a="$r" -v b="$base_rps" 'BEGIN { print a / b }')" \
    "$(awk -v a="$l" -v b="$base_p50" 'BEGIN { print a / b }')"
done
printf '\n(medians of %d rounds; %d connections, %d wrk threads, %ss each; load before: %s)\n' \
  "$ROUNDS" "$CONNECTIONS" "$WRK_THREADS" "$DURATION" "$(cut -d' ' -f1-3 /proc/loadavg)"
