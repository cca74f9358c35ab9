#!/usr/bin/env bash
# bench/kv.sh: what keeping state costs. One release server serves hello
# (no store) beside kv-counter on the embedded SQLite `default` store and
# kv-counter on a `redis` store (a redis-server this script starts on a free
# loopback port, no persistence); wrk measures each in alternating rounds,
# and the script prints medians of req/s, p99 and the server's CPU µs per
# request (from /proc; Redis's own CPU is printed apart), with what each
# store adds to hello. See bench/README.md.
#
#   bench/kv.sh
#
# Knobs (environment): ROUNDS (3, at least 3), DURATION (5, seconds per wrk
# run), CONNECTIONS (32), WRK_THREADS (2), SWITCHYARD_BIN (measure a prebuilt
# binary, skip building it). Loopback only.
set -euo pipefail
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
command -v redis-server >/dev/null || die "redis-server is needed (./build-handlers.sh installs it)"

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  switchyard_bin=$SWITCHYARD_BIN
else
  say "building switchyard (release)"
  nice -n 10 cargo build --release --locked -p switchyard
  switchyard_bin="$root/target/release/switchyard"
fi
handlers="$root/build/handlers"
if [ ! -f "$handlers/hello.wasm" ] || [ ! -f "$handlers/kv-counter.wasm" ]; then
  say "building the hello and kv-counter handlers"
  ./build-handlers.sh hello kv-counter
fi

bench_setup kv-bench

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 1 500); do
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
  sleep 0.01
done
[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] || die "redis-server did not start: $(cat "$work/redis.log")"

cat >"$work/switchyard.toml" <<TOML
[server]
data_dir = "$work/data"

[key_value_store.shared]
type = "redis"
url = "redis://127.0.0.1:$redis_port/0"

[[route]]
path = "/hello"
component = "$handlers/hello.wasm"

[[route]]
path = "/sqlite"
name = "kv-sqlite"
component = "$handlers/kv-counter.wasm"
key_value_stores = ["default"]

[[route]]
path = "/redis"
name = "kv-redis"
component = "$handlers/kv-counter.wasm"
key_value_stores = ["shared"]
env = { KV_STORE = "shared" }
TOML

say "starting switchyard"
start switchyard "$work/server.log" env RUST_LOG=warn "$switchyard_bin" serve \
  --config "$work/switchyard.toml" --listen 127.0.0.1:0 || die "switchyard did not start"
addr=$started_addr
sy_pid=$started_pid

paths=(/hello /sqlite /redis)
declare -A label=([/hello]="hello (no store)" [/sqlite]="kv-counter, sqlite" [/redis]="kv-counter, redis")
for p in /sqlite /redis; do
  got=$(curl -s --max-time 5 "http://$addr$p")
  [[ "$got" == count=1* ]] || die "$p answered unexpectedly: $got"
done

declare -A rps p99 cpu rcpu
say "$ROUNDS rounds of ${DURATION}s at $CONNECTIONS connections, alternating ${paths[*]}"
for p in "${paths[@]}"; do run_wrk "http://$addr$p" "$CONNECTIONS" 1 >/dev/null; done # warm-up
for r in $(seq 1 "$ROUNDS"); do
  for p in "${paths[@]}"; do
    t0=$(cpu_ticks "$sy_pid"); r0=$(cpu_ticks "$redis_pid")
    line=$(run_wrk "http://$addr$p" "$CONNECTIONS" "$DURATION")
    t1=$(cpu_ticks "$sy_pid"); r1=$(cpu_ticks "$redis_pid")
    echo "  round $r ${label[$p]}: $line" >&2
    [ "$(field errors <<<"$line")" = 0 ] || die "${label[$p]}: wrk saw errors: $line"
    n=$(field requests <<<"$line")
    rps[$p]+="$(field rps <<<"$line") "
    p99[$p]+="$(field p99_us <<<"$line") "
    cpu[$p]+="$(per_request $((t1 - t0)) "$n") "
    rcpu[$p]+="$(per_request $((r1 - r0)) "$n") "
  done
done
# Every request counted: wrk's non-2xx would have been errors above, and the
# counters hold at least as many increments as requests were sent.
sqlite_count=$(curl -s "http://$addr/sqlite" | sed -n 's/^count=//p')
redis_count=$(curl -s "http://$addr/redis" | sed -n 's/^count=//p')

base_rps=$(med "${rps[/hello]}"); base_cpu=$(med "${cpu[/hello]}")
printf '\n%-20s %10s %10s %14s %14s %12s %14s\n' "" "req/s" "p99 µs" "server CPU µs" "CPU added µs" "req/s ratio" "redis CPU µs"
for p in "${paths[@]}"; do
  r=$(med "${rps[$p]}"); t=$(med "${p99[$p]}"); c=$(med "${cpu[$p]}"); rc=$(med "${rcpu[$p]}")
  printf '%-20s %10.0f %10.0f %14.1f %14.1f %12.2f %14.1f\n' "${label[$p]}" "$r" "$t" "$c" \
    "$(awk -v a="$c" -v b="$base_cpu" 'BEGIN { print a - b }')" \
    "$(awk -v a="$r" -v b="$base_rps" 'BEGIN { print a / b }')" "$rc"
done
printf '\n(medians of %d rounds; %d connections, %d wrk threads, %ss each; final counts: sqlite %s, redis %s; load before: %s)\n' \
  "$ROUNDS" "$CONNECTIONS" "$WRK_THREADS" "$DURATION" "$sqlite_count" "$redis_count" "$(cut -d' ' -f1-3 /proc/loadavg)"
