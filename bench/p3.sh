#!/usr/bin/env bash
# bench/p3.sh: wasi:http 0.3 components, Switchyard beside `wasmtime serve`
# (the same wasmtime version, the same hello-p3.wasm / echo-p3.wasm), in one
# alternating run. See bench/README.md and BENCHMARKS.md ("wasi:http 0.3").
#
#   bench/p3.sh
#
# It measures:
#   1. fresh instance per request: Switchyard's default for 0.3 against
#      `wasmtime serve --max-instance-reuse-count=1`: req/s, p99, server CPU
#      µs per request;
#   2. concurrent reuse: `instance_reuse = 128`, `instance_concurrency = 16`
#      against wasmtime serve's 0.3 default (which reuses 128, 16 at once);
#   3. an I/O-bound handler (counter-p3 awaiting a 5 ms sleep) at 256
#      connections: concurrent reuse against fresh, req/s and the instances
#      alive (switchyard_pooled_instances, sampled mid-run);
#   4. 1 GiB streamed through echo-p3: MB/s and server RSS growth.
#
# Knobs (environment): ROUNDS (3, at least 3), DURATION (5 s per wrk run),
# CONNECTIONS (32), IO_CONNECTIONS (256), WRK_THREADS (2), STREAM_BYTES (1 GiB),
# SWITCHYARD_BIN (a prebuilt binary; else cargo builds it), WASMTIME_BIN (else
# the wasmtime-cli bench/run.sh installs under ~/.cache/switchyard/tools;
# without one the wasmtime serve rows are skipped, loudly). Loopback only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
IO_CONNECTIONS=${IO_CONNECTIONS:-256}
STREAM_BYTES=${STREAM_BYTES:-$((1 << 30))}

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
for h in hello-p3 echo-p3 counter-p3; do
  [ -f "$handlers/$h.wasm" ] || ./build-handlers.sh "$h"
done
version=$(locked_version wasmtime)
wasmtime_bin=${WASMTIME_BIN:-$HOME/.cache/switchyard/tools/wasmtime-cli-$version/bin/wasmtime}
have_wasmtime=1
if ! [ -x "$wasmtime_bin" ]; then
  have_wasmtime=0
  printf '\n!!! SKIPPING wasmtime serve: no wasmtime at %s (bench/run.sh installs it)\n' "$wasmtime_bin" >&2
fi

bench_setup p3-bench

cat >"$work/switchyard.toml" <<TOML
[server]
max_concurrent_requests = 512

[[route]]
path = "/fresh"
component = "$handlers/hello-p3.wasm"

[[route]]
path = "/reuse"
name = "reuse"
component = "$handlers/hello-p3.wasm"
instance_reuse = 128
instance_concurrency = 16

[[route]]
path = "/io-fresh"
name = "io-fresh"
component = "$handlers/counter-p3.wasm"
max_concurrency = 512

[[route]]
path = "/io-concurrent"
name = "io-concurrent"
component = "$handlers/counter-p3.wasm"
instance_reuse = 128
instance_concurrency = 16
max_concurrency = 512

[[route]]
path = "/echo"
component = "$handlers/echo-p3.wasm"
timeout_ms = 600000
max_request_body_bytes = $((STREAM_BYTES * 2))
TOML

say "starting the servers"
start switchyard "$work/switchyard.log" env RUST_LOG=warn "$switchyard_bin" serve \
  --config "$work/switchyard.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 || die "switchyard did not start"
sy=$started_addr; sy_pid=$started_pid
# Printed before `listening on`, so it is there once start returns.
admin=$(sed -n -E 's#^admin listening on http://([0-9.:]+).*#\1#p' "$work/switchyard.log" | head -n1)
[ -n "$admin" ] || die "switchyard printed no admin address"
declare -A url pid_of label
url[sy_fresh]="http://$sy/fresh"; pid_of[sy_fresh]=$sy_pid; label[sy_fresh]="Switchyard, fresh (default)"
url[sy_reuse]="http://$sy/reuse"; pid_of[sy_reuse]=$sy_pid; label[sy_reuse]="Switchyard, reuse 128 × 16"
fresh=(sy_fresh); reuse=(sy_reuse)
if [ "$have_wasmtime" = 1 ]; then
  # -Scli: Rust std on wasm32-wasip2 also imports 0.2 wasi:cli and wasi:io;
  # -Skeyvalue: hello-p3 imports wasi:keyvalue (its ?kv= switch, unused here).
  start "wasmtime serve (fresh)" "$work/wt-fresh.log" "$wasmtime_bin" serve -Scli -Skeyvalue \
    --max-instance-reuse-count=1 --addr 127.0.0.1:0 "$handlers/hello-p3.wasm" || die "wasmtime serve did not start"
  url[wt_fresh]="http://$started_addr/fresh"; pid_of[wt_fresh]=$started_pid
  label[wt_fresh]="wasmtime serve --max-instance-reuse-count=1"
  start "wasmtime serve (p3 default)" "$work/wt-reuse.log" "$wasmtime_bin" serve -Scli -Skeyvalue \
    --addr 127.0.0.1:0 "$handlers/hello-p3.wasm" || die "wasmtime serve did not start"
  url[wt_reuse]="http://$started_addr/reuse"; pid_of[wt_reuse]=$started_pid
  label[wt_reuse]="wasmtime serve (p3 default: reuse 128 × 16)"
  start "wasmtime serve (echo)" "$work/wt-echo.log" "$wasmtime_bin" serve -Scli \
    --addr 127.0.0.1:0 "$handlers/echo-p3.wasm" || die "wasmtime serve did not start"
  wt_echo=$started_addr; wt_echo_pid=$started_pid
  fresh+=(wt_fresh); reuse+=(wt_reuse)
fi
for s in "${fresh[@]}" "${reuse[@]}"; do
  got=$(curl -s --max-time 5 "${url[$s]}")
  [[ "$got" == "Hello from p3! GET /"* ]] || die "${label[$s]} answered unexpectedly: $got"
done

declare -A rps p99 cpu
measure() { # CONNECTIONS KEY...: alternating rounds over the keys
  local c=$1; shift
  for s in "$@"; do run_wrk "${url[$s]}" "$c" 1 >/dev/null; done
  for r in $(seq 1 "$ROUNDS"); do
    for s in "$@"; do
      t0=$(cpu_ticks "${pid_of[$s]}")
      line=$(run_wrk "${url[$s]}" "$c" "$DURATION")
      t1=$(cpu_ticks "${pid_of[$s]}")
      echo "  round $r ${label[$s]}: $line" >&2
      n=$(field requests <<<"$line")
      rps[$s]+="$(field rps <<<"$line") "
      p99[$s]+="$(field p99_us <<<"$line") "
      cpu[$s]+="$(per_request $((t1 - t0)) "$n") "
    done
  done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { # KEY [REFERENCE_KEY]
  local r t c
  r=$(med "${rps[$1]}"); t=$(med "${p99[$1]}"); c=$(med "${cpu[$1]}")
  if [ -n "${2:-}" ]; then
    printf '| %s | %.0f | %.0f | %.1f | %s | %s | %s |\n' "${label[$1]}" "$r" "$t" "$c" \
      "$(ratio "$r" "$(med "${rps[$2]}")")" "$(ratio "$t" "$(med "${p99[$2]}")")" "$(ratio "$c" "$(med "${cpu[$2]}")")"
  else
    printf '| %s | %.0f | %.0f | %.1f | | | |\n' "${label[$1]}" "$r" "$t" "$c"
  fi
}

say "1. fresh instance per request, $CONNECTIONS connections"
measure "$CONNECTIONS" "${fresh[@]}"
say "2. concurrent reuse, $CONNECTIONS connections"
measure "$CONNECTIONS" "${reuse[@]}"

say "3. I/O-bound (5 ms await) at $IO_CONNECTIONS connections"
url[io_fresh]="http://$sy/io-fresh?wait=5"; pid_of[io_fresh]=$sy_pid; label[io_fresh]="counter-p3 ?wait=5, fresh"
url[io_conc]="http://$sy/io-concurrent?wait=5"; pid_of[io_conc]=$sy_pid; label[io_conc]="counter-p3 ?wait=5, reuse 128 × 16"
declare -A alive
instances() { # ROUTE: switchyard_pooled_instances{route=ROUTE}
  curl -s --max-time 2 "http://$admin/metrics" \
    | awk -v r="$1" 'index($0, "switchyard_pooled_instances{route=\"" r "\"}") == 1 { print $2 }'
}
for key in io_fresh io_conc; do run_wrk "${url[$key]}" "$IO_CONNECTIONS" 1 >/dev/null; done
for r in $(seq 1 "$ROUNDS"); do
  for key in io_fresh io_conc; do
    route=${key/io_conc/io-concurrent}; route=${route/io_fresh/io-fresh}
    ( sleep $((DURATION / 2)); instances "$route" >"$work/alive" ) &
    sampler=$!
    t0=$(cpu_ticks "$sy_pid")
    line=$(run_wrk "${url[$key]}" "$IO_CONNECTIONS" "$DURATION")
    t1=$(cpu_ticks "$sy_pid")
    wait "$sampler" || true
    echo "  round $r ${label[$key]}: $line alive=$(cat "$work/alive")" >&2
    n=$(field requests <<<"$line")
    rps[$key]+="$(field rps <<<"$line") "
    p99[$key]+="$(field p99_us <<<"$line") "
    cpu[$key]+="$(per_request $((t1 - t0)) "$n") "
    alive[$key]+="$(cat "$work/alive") "
  done
done

say "4. $STREAM_BYTES bytes streamed through echo-p3"
declare -A mbps growth
stream() { # KEY URL PID
  local before after secs
  before=$(kib "$3" VmRSS)
  echo 5 >"/proc/$3/clear_refs" 2>/dev/null || true
  secs=$(head -c "$STREAM_BYTES" /dev/zero | curl -s -o /dev/null --max-time 600 -T - -X POST \
    -w '%{time_total}' "$2")
  after=$(kib "$3" VmHWM)
  mbps[$1]+="$(awk -v b="$STREAM_BYTES" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }') "
  growth[$1]+="$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", (a - b) / 1024 }') "
}
for r in $(seq 1 "$ROUNDS"); do
  stream sy "http://$sy/echo" "$sy_pid"
  [ "$have_wasmtime" = 0 ] || stream wt "http://$wt_echo/" "$wt_echo_pid"
  echo "  round $r: switchyard ${mbps[sy]} MB/s; wasmtime ${mbps[wt]:-} MB/s" >&2
done

echo
echo "| server | req/s | p99 µs | CPU µs/req | req/s ratio | p99 ratio | CPU ratio |"
echo "|---|---|---|---|---|---|---|"
row sy_fresh; [ "$have_wasmtime" = 0 ] || { row wt_fresh; row sy_fresh wt_fresh; }
row sy_reuse; [ "$have_wasmtime" = 0 ] || { row wt_reuse; row sy_reuse wt_reuse; }
echo
echo "| I/O-bound, $IO_CONNECTIONS connections | req/s | p99 µs | CPU µs/req | instances alive (mid-run, median) |"
echo "|---|---|---|---|---|"
for key in io_fresh io_conc; do
  printf '| %s | %.0f | %.0f | %.1f | %s |\n' "${label[$key]}" "$(med "${rps[$key]}")" \
    "$(med "${p99[$key]}")" "$(med "${cpu[$key]}")" "$(med "${alive[$key]}")"
done
echo
echo "| 1 GiB through echo-p3 | MB/s | RSS growth MiB |"
echo "|---|---|---|"
printf '| Switchyard | %s | %s |\n' "$(med "${mbps[sy]}")" "$(med "${growth[sy]}")"
[ "$have_wasmtime" = 0 ] || printf '| wasmtime serve | %s | %s |\n' "$(med "${mbps[wt]}")" "$(med "${growth[wt]}")"
printf '\n(medians of %d rounds, %ss each, %d wrk threads; load before the summary: %s)\n' \
  "$ROUNDS" "$DURATION" "$WRK_THREADS" "$(cut -d' ' -f1-3 /proc/loadavg)"
