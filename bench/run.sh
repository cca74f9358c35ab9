#!/usr/bin/env bash
# bench/run.sh: Switchyard measured in one run beside `wasmtime serve` (the
# reference host, same wasmtime version, same hello.wasm) and hyper-hello (a
# raw hyper server answering the same bytes: the physical limit), then
# BENCHMARKS.md regenerated from the figures. See bench/README.md.
#
#   bench/run.sh            build, install what is missing, measure, write BENCHMARKS.md
#
# Knobs (environment): ROUNDS (3), DURATION (5, seconds per wrk run),
# CONNECTIONS ("32 128"), WRK_THREADS (2), STREAM_BYTES (1 GiB), STREAM_RUNS (3),
# COLD_RUNS (5), COLD_CACHE_RUNS (3), RELOAD_RUNS (5), BENCH_OUT (BENCHMARKS.md; another file for
# experiments), SWITCHYARD_BIN (measure a prebuilt binary, skip building it),
# WASMTIME_BIN (use this wasmtime, install nothing; a missing file skips it),
# BENCH_WASMTIME_WAIT (seconds to wait for the wasmtime-cli install, 1800),
# BENCH_TIME_LIMIT (seconds for the measuring part, 900), REUSE_COUNT (128: the
# instance_reuse of the reuse comparison, and wasmtime serve's
# --max-instance-reuse-count).
#
# Loopback only: every server listens on 127.0.0.1 and every client talks to it.
set -euo pipefail
# No admin listener: several servers run at once here, and its default port
# (127.0.0.1:9091) would collide.
export SWITCHYARD_ADMIN_LISTEN=none

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-"32 128"}
WRK_THREADS=${WRK_THREADS:-2}
STREAM_BYTES=${STREAM_BYTES:-1073741824}
STREAM_CHUNK=65536
STREAM_RUNS=${STREAM_RUNS:-3}
COLD_RUNS=${COLD_RUNS:-5}
RELOAD_RUNS=${RELOAD_RUNS:-5}
COLD_CACHE_RUNS=${COLD_CACHE_RUNS:-3}
BENCH_OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
BENCH_WASMTIME_WAIT=${BENCH_WASMTIME_WAIT:-1800}
BENCH_TIME_LIMIT=${BENCH_TIME_LIMIT:-900}
REUSE_COUNT=${REUSE_COUNT:-128}

say() { printf '\n==> %s\n' "$*" >&2; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

# The version of a package in the root Cargo.lock.
locked_version() {
  awk -v name="$1" '$1 == "name" && $3 == "\"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock
}

wasmtime_version=$(locked_version wasmtime)
[ -n "$wasmtime_version" ] || die "cannot read wasmtime's version from Cargo.lock"
tools=${SWITCHYARD_TOOLS:-$HOME/.cache/switchyard/tools}
wasmtime_root="$tools/wasmtime-cli-$wasmtime_version"
wasmtime_bin="$wasmtime_root/bin/wasmtime"
wasmtime_log="$tools/wasmtime-cli-$wasmtime_version.install.log"

# --- 1. wasmtime-cli, started first: it compiles for many minutes ------------
install_pid=
if [ -n "${WASMTIME_BIN:-}" ]; then
  wasmtime_bin=$WASMTIME_BIN
  say "wasmtime: using $wasmtime_bin (WASMTIME_BIN), installing nothing"
elif [ -x "$wasmtime_bin" ] && "$wasmtime_bin" --version | grep -q " $wasmtime_version"; then
  say "wasmtime-cli $wasmtime_version: $wasmtime_bin"
else
  mkdir -p "$tools"
  say "installing wasmtime-cli $wasmtime_version in the background (log: $wasmtime_log)"
  # flock: a second run waits for the first one's install instead of racing it.
  # setsid + nohup: if this run gives up waiting, the install carries on, so
  # the next run finds it done.
  setsid nohup flock "$tools/wasmtime-cli-$wasmtime_version.lock" \
    nice -n 10 cargo install wasmtime-cli --version "$wasmtime_version" --locked \
    --root "$wasmtime_root" >"$wasmtime_log" 2>&1 </dev/null &
  install_pid=$!
fi

# --- 2. wrk -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  say "installing wrk from Debian"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y wrk >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; } \
    || die "cannot install wrk (apt-get install wrk)"
fi
command -v curl >/dev/null || die "curl is needed"

# --- 3. release binaries and the handlers ---------------------------------------
if [ -n "${SWITCHYARD_BIN:-}" ]; then
  switchyard_bin=$SWITCHYARD_BIN
  say "switchyard: using $switchyard_bin (SWITCHYARD_BIN)"
else
  say "building switchyard (release)"
  nice -n 10 cargo build --release --locked -p switchyard
  switchyard_bin="$root/target/release/switchyard"
fi
say "building the criterion micro-benchmark (bench profile)"
micro_note=
nice -n 10 cargo bench --locked -p switchyard --bench invoke --no-run \
  || micro_note="the criterion micro-benchmark did not build; no in-process figures in this run"
say "building hyper-hello (release)"
nice -n 10 cargo build --release --locked --manifest-path bench/hyper-hello/Cargo.toml \
  --target-dir "$root/target/hyper-hello"
hyper_bin="$root/target/hyper-hello/release/hyper-hello"

handlers="$root/build/handlers"
if [ ! -f "$handlers/hello.wasm" ] || [ ! -f "$handlers/hello-v2.wasm" ] || [ ! -f "$handlers/stream.wasm" ] \
  || [ ! -f "$handlers/echo.wasm" ]; then
  say "building the hello, stream and echo handlers"
  ./build-handlers.sh hello stream echo
fi

# --- 4. wait (bounded) for wasmtime-cli ---------------------------------------
have_wasmtime=1
if [ -n "$install_pid" ]; then
  say "waiting up to ${BENCH_WASMTIME_WAIT}s for the wasmtime-cli install"
  waited=0
  while kill -0 "$install_pid" 2>/dev/null && [ "$waited" -lt "$BENCH_WASMTIME_WAIT" ]; do
    sleep 5; waited=$((waited + 5))
  done
fi
if ! [ -x "$wasmtime_bin" ]; then
  have_wasmtime=0
  if [ -n "$install_pid" ] && kill -0 "$install_pid" 2>/dev/null; then
    loud "SKIPPING wasmtime serve: wasmtime-cli $wasmtime_version is still installing (log: $wasmtime_log); re-run when it is done. No ratios against wasmtime serve in this run."
  else
    loud "SKIPPING wasmtime serve: no wasmtime at $wasmtime_bin (install log, if any: $wasmtime_log). No ratios against wasmtime serve in this run."
  fi
fi

# --- from here on, every step is bounded ----------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-bench.XXXXXX")
pids=()
watchdog=
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'loud "bench/run.sh: over its ${BENCH_TIME_LIMIT}s time limit, stopping"; exit 124' USR1
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep "$BENCH_TIME_LIMIT" & nap=$!
  wait "$nap" && kill -USR1 $$
) 2>/dev/null &
watchdog=$!

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# A free loopback port (bash's /dev/tcp fails to connect to a closed one),
# below the kernel's ephemeral range, so no client connection holds it.
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local port
  while :; do
    port=$((10000 + RANDOM % (ephemeral_low - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# start NAME LOGFILE CMD...: start a server and wait (10 s at most) for its
# startup line. Sets $started_pid and $started_addr (never call it in $(...):
# the server must be this shell's child, so cleanup can stop it).
start() {
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  started_addr=
  for _ in $(seq 1 1000); do
    started_addr=$(sed -n -E 's#.*(listening on|Serving HTTP on) http://([0-9.:]+)/?.*#\2#p' "$log" | head -n1)
    [ -z "$started_addr" ] || return 0
    kill -0 "$started_pid" 2>/dev/null || { echo "$name exited at startup:" >&2; cat "$log" >&2; return 1; }
    sleep 0.01
  done
  echo "$name did not start within 10 s:" >&2; cat "$log" >&2; return 1
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# The routes Switchyard serves here. The stream route needs a deadline beyond
# the 30 s default for 1 GiB; an older host that rejects the key gets the
# config without it (and the run says so).
switchyard_config() { # FILE HELLO_WASM WITH_LIMITS
  {
    echo "[[route]]"; echo "path = \"/hello\""; echo "component = \"$2\""
    echo "[[route]]"; echo "path = \"/stream\""; echo "component = \"$handlers/stream.wasm\""
    [ "$3" = 1 ] && echo "timeout_ms = 600000"
    # A 1 GiB request body, echoed back (beyond the default 100 MiB limit).
    echo "[[route]]"; echo "path = \"/echo\""; echo "component = \"$handlers/echo.wasm\""
    [ "$3" = 1 ] && echo "timeout_ms = 600000" && echo "max_request_body_bytes = $((STREAM_BYTES * 2))"
    true
  } >"$1"
}
config_note=
start_switchyard() { # LOG CONFIG HELLO_WASM: like start
  local log=$1 config=$2 hello=$3
  switchyard_config "$config" "$hello" 1
  start switchyard "$log" env RUST_LOG=warn "$switchyard_bin" serve --config "$config" --listen 127.0.0.1:0 \
    2>/dev/null && return 0
  grep -q "timeout_ms" "$log" || { cat "$log" >&2; return 1; }
  config_note="this switchyard does not know the per-route \`timeout_ms\` key; the stream route ran with the default deadline"
  switchyard_config "$config" "$hello" 0
  start switchyard "$log" env RUST_LOG=warn "$switchyard_bin" serve --config "$config" --listen 127.0.0.1:0
}

say "starting the servers"
start_switchyard "$work/switchyard.log" "$work/switchyard.toml" "$handlers/hello.wasm" || die "switchyard did not start"
sy_addr=$started_addr sy_pid=$started_pid
start hyper-hello "$work/hyper-hello.log" "$hyper_bin" --listen 127.0.0.1:0 || die "hyper-hello did not start"
hh_addr=$started_addr hh_pid=$started_pid
servers=(switchyard hyper)
declare -A addr=([switchyard]=$sy_addr [hyper]=$hh_addr)
declare -A pid_of=([switchyard]=$sy_pid [hyper]=$hh_pid)
# Instance reuse: the same hello.wasm with `instance_reuse` on its route.
reuse_note=
{
  echo "[[route]]"; echo "path = \"/hello\""; echo "component = \"$handlers/hello.wasm\""
  echo "instance_reuse = $REUSE_COUNT"
} >"$work/reuse.toml"
if start "switchyard (reuse)" "$work/reuse.log" env RUST_LOG=warn "$switchyard_bin" serve \
  --config "$work/reuse.toml" --listen 127.0.0.1:0 2>/dev/null; then
  servers=(switchyard reuse hyper)
  addr[reuse]=$started_addr; pid_of[reuse]=$started_pid
else
  reuse_note="this switchyard does not know \`instance_reuse\`; no reuse comparison in this run"
  loud "$reuse_note"
fi
# -Scli: hello is Rust std, which imports wasi:cli/* beyond the proxy world;
# without it `wasmtime serve` links only wasi:http/proxy and refuses it.
wasmtime_cmd=("$wasmtime_bin" serve -Scli)
if [ "$have_wasmtime" = 1 ]; then
  start "wasmtime serve" "$work/wasmtime.log" "${wasmtime_cmd[@]}" --addr 127.0.0.1:0 "$handlers/hello.wasm" \
    || die "wasmtime serve did not start"
  wt_addr=$started_addr wt_pid=$started_pid
  # A second one for streaming: wasmtime serve serves one component.
  start "wasmtime serve (stream)" "$work/wasmtime-stream.log" "${wasmtime_cmd[@]}" --addr 127.0.0.1:0 "$handlers/stream.wasm" \
    || die "wasmtime serve (stream) did not start"
  ws_addr=$started_addr ws_pid=$started_pid
  start "wasmtime serve (echo)" "$work/wasmtime-echo.log" "${wasmtime_cmd[@]}" --addr 127.0.0.1:0 "$handlers/echo.wasm" \
    || die "wasmtime serve (echo) did not start"
  we_addr=$started_addr we_pid=$started_pid
  addr[wasmtime]=$wt_addr; pid_of[wasmtime]=$wt_pid
  start "wasmtime serve (reuse)" "$work/wasmtime-reuse.log" "${wasmtime_cmd[@]}" \
    --max-instance-reuse-count "$REUSE_COUNT" --addr 127.0.0.1:0 "$handlers/hello.wasm" \
    || die "wasmtime serve (reuse) did not start"
  addr[wasmtime_reuse]=$started_addr; pid_of[wasmtime_reuse]=$started_pid
  if [ -n "${addr[reuse]:-}" ]; then
    servers=(switchyard wasmtime reuse wasmtime_reuse hyper)
  else
    servers=(switchyard wasmtime hyper)
  fi
fi
declare -A label=([switchyard]="Switchyard" [wasmtime]="wasmtime serve" [hyper]="raw hyper"
  [reuse]="Switchyard, instance_reuse = $REUSE_COUNT"
  [wasmtime_reuse]="wasmtime serve --max-instance-reuse-count $REUSE_COUNT")
has_server() { [[ " ${servers[*]} " == *" $1 "* ]]; }

# Same bytes from all three: status, content type and body.
expected="Hello from Switchyard! GET /hello"
for s in "${servers[@]}"; do
  got=$(curl -s --max-time 5 -w '|%{http_code}|%{content_type}' "http://${addr[$s]}/hello")
  [ "$got" = "$expected"$'\n''|200|text/plain' ] || die "${label[$s]} answered unexpectedly: $got"
done

# --- 5. throughput: wrk, rounds alternating between the servers ---------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n -E "s/.* $1=([0-9.]+).*/\1/p"; }

declare -A rps p50 p99 errs
run_wrk() { # SERVER CONNECTIONS SECONDS
  local threads=$WRK_THREADS
  [ "$threads" -le "$2" ] || threads=$2
  timeout $(( $3 + 30 )) wrk -t "$threads" -c "$2" -d "${3}s" --timeout 5s -s bench/wrk-report.lua \
    "http://${addr[$1]}/hello" | grep '^RESULT'
}
# What the server process spent during a run, per request: CPU (user +
# system, from /proc/PID/stat) and involuntary context switches of all its
# threads (the scheduler preempting it, mostly for the load generator it
# shares the cores with). They say where a server's req/s ceiling comes from.
clock_ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
preemptions() { cat "/proc/$1"/task/*/status 2>/dev/null | awk '$1 == "nonvoluntary_ctxt_switches:" { n += $2 } END { print n + 0 }'; }
declare -A cpu_us preempt
for c in $CONNECTIONS; do
  say "throughput at $c connections: $ROUNDS rounds of ${DURATION}s, alternating ${servers[*]}"
  for s in "${servers[@]}"; do run_wrk "$s" "$c" 1 >/dev/null; done # warm-up
  for r in $(seq 1 "$ROUNDS"); do
    for s in "${servers[@]}"; do
      t0=$(cpu_ticks "${pid_of[$s]}"); n0=$(preemptions "${pid_of[$s]}")
      line=$(run_wrk "$s" "$c" "$DURATION")
      t1=$(cpu_ticks "${pid_of[$s]}"); n1=$(preemptions "${pid_of[$s]}")
      requests=$(field requests <<<"$line")
      cpu_us[$s,$c]+="$(awk -v t=$((t1 - t0)) -v hz="$clock_ticks" -v n="$requests" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "nan" }') "
      preempt[$s,$c]+="$(awk -v d=$((n1 - n0)) -v n="$requests" 'BEGIN { if (n > 0) printf "%.3f", d / n; else print "nan" }') "
      echo "  round $r ${label[$s]}: $line" >&2
      rps[$s,$c]+="$(field rps <<<"$line") "
      p50[$s,$c]+="$(field p50_us <<<"$line") "
      p99[$s,$c]+="$(field p99_us <<<"$line") "
      errs[$s,$c]+="$(field errors <<<"$line") "
    done
  done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }

# --- 6. streaming 1 GiB -----------------------------------------------------------
# MB/s (10^6 bytes) from curl; the server's RSS growth is its peak (VmHWM,
# reset before each run through /proc/PID/clear_refs) minus its RSS just
# before the run.
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
declare -A mbps growth peak
# body_run_start PID: remember the server's RSS and reset its peak;
# body_run_end KEY PID SECS: record one run of STREAM_BYTES (MB/s, growth, peak).
body_run_start() {
  rss_before=$(kib "$1" VmRSS)
  echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true
}
body_run_end() {
  local after
  after=$(kib "$2" VmHWM)
  mbps[$1]+="$(awk -v b="$STREAM_BYTES" -v s="$3" 'BEGIN { printf "%.1f", b / s / 1e6 }') "
  growth[$1]+="$(awk -v a="$after" -v b="$rss_before" 'BEGIN { printf "%.1f", (a - b) / 1024 }') "
  peak[$1]+="$(awk -v a="$after" 'BEGIN { printf "%.1f", a / 1024 }') "
}
stream_once() { # SERVER_KEY PID URL
  local out code size secs
  body_run_start "$2"
  out=$(curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_download} %{time_total}' "$3")
  read -r code size secs <<<"$out"
  [ "$code" = 200 ] && [ "$size" = "$STREAM_BYTES" ] || die "$1: streaming answered $code with $size bytes"
  body_run_end "$1" "$2" "$secs"
}
stream_query="bytes=$STREAM_BYTES&chunk=$STREAM_CHUNK"
say "streaming $STREAM_BYTES bytes, $STREAM_RUNS runs each"
curl -s -o /dev/null --max-time 10 "http://$sy_addr/stream?bytes=1048576" # warm-up
[ "$have_wasmtime" = 0 ] || curl -s -o /dev/null --max-time 10 "http://$ws_addr/stream?bytes=1048576"
for r in $(seq 1 "$STREAM_RUNS"); do
  stream_once switchyard "$sy_pid" "http://$sy_addr/stream?$stream_query"
  [ "$have_wasmtime" = 0 ] || stream_once wasmtime "$ws_pid" "http://$ws_addr/stream?$stream_query"
done
echo "  Switchyard MB/s: ${mbps[switchyard]} growth MiB: ${growth[switchyard]}" >&2
[ "$have_wasmtime" = 0 ] || echo "  wasmtime serve MB/s: ${mbps[wasmtime]} growth MiB: ${growth[wasmtime]}" >&2

# The same size as a request body: curl uploads it from a pipe (never held
# whole) and the echo guest streams it back; MB/s counts the upload.
upload_once() { # SERVER_KEY PID URL
  local out code up down secs
  body_run_start "$2"
  out=$(head -c "$STREAM_BYTES" /dev/zero | curl -s -X POST -T - -H 'Expect:' -H 'content-type: application/octet-stream' \
    -o /dev/null --max-time 300 -w '%{http_code} %{size_upload} %{size_download} %{time_total}' "$3")
  read -r code up down secs <<<"$out"
  # (curl's upload size counts the chunked framing too.)
  [ "$code" = 200 ] && [ "$up" -ge "$STREAM_BYTES" ] && [ "$down" = "$STREAM_BYTES" ] \
    || die "$1: echoing the upload answered $code, $up bytes up, $down down"
  body_run_end "up_$1" "$2" "$secs"
}
say "request body: $STREAM_BYTES bytes through echo, $STREAM_RUNS runs each"
for r in $(seq 1 "$STREAM_RUNS"); do
  upload_once switchyard "$sy_pid" "http://$sy_addr/echo"
  [ "$have_wasmtime" = 0 ] || upload_once wasmtime "$we_pid" "http://$we_addr/"
done
echo "  upload, Switchyard MB/s: ${mbps[up_switchyard]} growth MiB: ${growth[up_switchyard]}" >&2
[ "$have_wasmtime" = 0 ] || echo "  upload, wasmtime serve MB/s: ${mbps[up_wasmtime]} growth MiB: ${growth[up_wasmtime]}" >&2

declare -A rss_end
for s in "${servers[@]}"; do rss_end[$s]=$(awk '{ printf "%.1f", $1 / 1024 }' <<<"$(kib "${pid_of[$s]}" VmRSS)"); done

# Stop the long-running servers: cold start and reload want a quiet machine.
for s in "${servers[@]}"; do stop "${pid_of[$s]}"; done
[ "$have_wasmtime" = 0 ] || { stop "$ws_pid"; stop "$we_pid"; }

# --- 7. cold start: spawn -> first 200 on /hello (warm compilation cache) ----------
now_ns() { date +%s%N; }
cold_once() { # CMD...: sets $elapsed_ms, spawn -> first 200 on /hello
  local port t0 t1
  for _ in 1 2 3; do
    port=$(free_port)
    t0=$(now_ns)
    "${@//PORT/$port}" >"$work/cold.log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
    for _ in $(seq 1 2000); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
        && [ "$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$port/hello")" = 200 ]; then
        t1=$(now_ns)
        stop "$started_pid"
        elapsed_ms=$(( (t1 - t0) / 1000000 ))
        return 0
      fi
      kill -0 "$started_pid" 2>/dev/null || break
      sleep 0.002
    done
    stop "$started_pid"
    # Someone took the port between the check and the bind: another one.
    grep -qi "address already in use" "$work/cold.log" || break
  done
  cat "$work/cold.log" >&2
  die "cold start: no 200 from: $*"
}
{
  echo "[[route]]"; echo "path = \"/hello\""; echo "component = \"$handlers/hello.wasm\""
} >"$work/cold.toml"
declare -A cold
# Both read through the nameref `cmd` below.
# shellcheck disable=SC2034
cold_cmd_switchyard=(env RUST_LOG=warn "$switchyard_bin" serve --config "$work/cold.toml" --listen 127.0.0.1:PORT)
# shellcheck disable=SC2034
cold_cmd_wasmtime=("$wasmtime_bin" serve -Scli --addr 127.0.0.1:PORT "$handlers/hello.wasm")
say "cold start: $COLD_RUNS runs each, after one untimed run to warm the caches"
cold_servers=(switchyard); [ "$have_wasmtime" = 0 ] || cold_servers+=(wasmtime)
for s in "${cold_servers[@]}"; do
  declare -n cmd="cold_cmd_$s"
  cold_once "${cmd[@]}"
  unset -n cmd
done
for r in $(seq 1 "$COLD_RUNS"); do
  for s in "${cold_servers[@]}"; do
    declare -n cmd="cold_cmd_$s"
    cold_once "${cmd[@]}"
    cold[$s]+="$elapsed_ms "
    unset -n cmd
  done
done
echo "  cold start ms: Switchyard ${cold[switchyard]}${cold[wasmtime]:+ / wasmtime serve ${cold[wasmtime]}}" >&2

# --- 8. reload: new bytes over the routed file -> first response from them --------
# Each swap writes bytes never seen before (hello or hello-v2 plus a unique
# custom section), so every reload really compiles, as after a rebuild.
unique_copy() { # SRC DST N: SRC plus a 10-byte-named custom section
  cat "$1" >"$2.tmp"
  printf '\x00\x0b\x0a%s' "$(printf 'bench-%04d' "$3")" >>"$2.tmp"
  mv -f "$2.tmp" "$2"
}
mkdir -p "$work/reload"
routed="$work/reload/hello.wasm"
unique_copy "$handlers/hello.wasm" "$routed" 0
start_switchyard "$work/reload.log" "$work/reload.toml" "$routed" || die "switchyard (reload) did not start"
re_addr=$started_addr re_pid=$started_pid
wait_for() { # TEXT: until /hello answers with TEXT (30 s at most)
  for _ in $(seq 1 3000); do
    curl -s --max-time 5 "http://$re_addr/hello" | grep -q "$1" && return 0
    sleep 0.005
  done
  die "reload: no answer containing '$1' after 30 s"
}
say "reload: $RELOAD_RUNS swaps to new bytes"
declare -a reloads=()
for r in $(seq 1 "$RELOAD_RUNS"); do
  t0=$(now_ns)
  unique_copy "$handlers/hello-v2.wasm" "$routed" $((2 * r - 1))
  wait_for "(v2)"
  t1=$(now_ns)
  reloads+=($(( (t1 - t0) / 1000000 )))
  unique_copy "$handlers/hello.wasm" "$routed" $((2 * r))
  wait_for "Hello from Switchyard!"
done
stop "$re_pid"
echo "  reload ms: ${reloads[*]}" >&2

# --- 8b. cold start with an empty and a warm compile cache ------------------------
# bench/languages.sh measures it (each empty-cache start gets a new cache
# folder, so it compiles; the warm starts load what the last one wrote), for
# the Rust hello and the largest polyglot handler built.
polyglot=$(for n in items greet sha256 primes; do
  [ -f "$handlers/$n.wasm" ] && echo "$(stat -c %s "$handlers/$n.wasm") $n"
done | sort -n | tail -n1 | cut -d' ' -f2)
cache_handlers="hello${polyglot:+ $polyglot}"
[ -n "$polyglot" ] || loud "no polyglot handler in $handlers (./build-handlers.sh): cold start with an empty cache for hello only"
say "cold start, empty and warm compile cache: $cache_handlers ($COLD_CACHE_RUNS runs each)"
cache_table=$(COLD_RUNS=$COLD_CACHE_RUNS WARM_REQUESTS=50 HANDLERS="$cache_handlers" \
  bench/languages.sh "$switchyard_bin") || die "bench/languages.sh failed"

# --- 8c. in-process: the criterion micro-benchmark ---------------------------------
# One GET /hello through the real Service, a fresh instance, no sockets
# (host/benches/invoke.rs), beside the same harness without WebAssembly.
declare -A micro=([hello]=nan [baseline]=nan)
if [ -z "$micro_note" ]; then
  say "criterion: in-process instantiate + handle of one GET /hello"
  if cargo bench --locked -p switchyard --bench invoke -- --noplot >"$work/criterion.log" 2>&1; then
    for b in hello baseline; do
      # `request/hello  time:   [low mid high]`: the middle figure, in µs.
      micro[$b]=$(awk -v name="request/$b" '$1 == name && $2 == "time:" {
        v = $5; u = $6; sub(/\]/, "", u)
        if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "s") v *= 1e6
        printf "%.1f", v; exit }' "$work/criterion.log")
      [ -n "${micro[$b]}" ] || micro[$b]=nan
    done
  else
    micro_note="the criterion micro-benchmark failed (see cargo bench -p switchyard --bench invoke)"
  fi
fi
[ -z "$micro_note" ] || loud "$micro_note"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 9. BENCHMARKS.md ------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { if (u == "nan") print "n/a"; else printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2f×", a / b }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f", v }'; }

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- host 2>/dev/null || git_rev="$git_rev + uncommitted changes in host/"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
wrk_version=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')
wasmtime_line="\`wasmtime serve -Scli\` $wasmtime_version ($wasmtime_bin)"
[ "$have_wasmtime" = 1 ] || wasmtime_line="**skipped** (wasmtime-cli $wasmtime_version not installed yet: see the log at $wasmtime_log)"

# throughput_table SERVER...: a row per connection count and server.
throughput_table() {
  local c s
  echo "| connections | server | req/s | p50 ms | p99 ms | errors | server CPU µs/request | preemptions/request |"
  echo "|---|---|---|---|---|---|---|---|"
  for c in $CONNECTIONS; do
    for s in "$@"; do
      has_server "$s" || continue
      echo "| $c | ${label[$s]} | $(num "$(med "${rps[$s,$c]}")") | $(ms "$(med "${p50[$s,$c]}")") | $(ms "$(med "${p99[$s,$c]}")") | $(num "$(med "${errs[$s,$c]}")") | $(med "${cpu_us[$s,$c]}") | $(med "${preempt[$s,$c]}") |"
    done
  done
}
# body_table KEY_PREFIX MBPS_HEADING: the 1 GiB body runs ("" response, up_ request).
body_table() {
  local s k
  echo "| server | $2 | RSS growth MiB | peak RSS (VmHWM) MiB |"
  echo "|---|---|---|---|"
  for s in switchyard wasmtime; do
    k=$1$s
    [ -n "${mbps[$k]:-}" ] || continue
    echo "| ${label[$s]} | $(num "$(med "${mbps[$k]}")") | $(med "${growth[$k]}") | $(med "${peak[$k]}") |"
  done
  if [ "$have_wasmtime" = 1 ]; then
    echo
    echo "Switchyard / wasmtime serve MB/s: $(ratio "$(med "${mbps[${1}switchyard]}")" "$(med "${mbps[${1}wasmtime]}")")."
  fi
}

marker='<!-- Everything below this line is kept by bench/run.sh; everything above it is regenerated. -->'
kept=
[ -f "$BENCH_OUT" ] && kept=$(awk -v m="$marker" 'found { print } $0 == m { found = 1 }' "$BENCH_OUT")

{
  echo "# Benchmarks"
  echo
  echo "Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); see [bench/README.md](bench/README.md) for what each number means."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| machine | $cpu, \`nproc\` = $(nproc), $mem, Linux $(uname -r) |"
  echo "| load average (1/5/15 min) | before $load_before, after $load_after (the machine is shared; compare ratios, not absolutes) |"
  echo "| Switchyard | $git_rev, wasmtime $wasmtime_version, $(rustc --version) |"
  echo "| reference | $wasmtime_line |"
  echo "| baseline | bench/hyper-hello, hyper $(locked_version hyper) |"
  echo "| client | wrk $wrk_version, $WRK_THREADS threads, ${DURATION}s per run, $ROUNDS rounds per server alternating ${servers[*]}, medians shown |"
  [ -z "$config_note" ] || echo "| note | $config_note |"
  [ -z "$reuse_note" ] || echo "| note | $reuse_note |"
  echo
  echo "## Fresh instance per request: \`GET /hello\`"
  echo
  throughput_table switchyard wasmtime hyper
  echo
  echo "| connections | Switchyard / wasmtime serve req/s | p99 Switchyard / wasmtime serve | Switchyard / raw hyper req/s |"
  echo "|---|---|---|---|"
  for c in $CONNECTIONS; do
    sy=$(med "${rps[switchyard,$c]}"); hy=$(med "${rps[hyper,$c]}")
    wt=nan; wt99=nan
    [ "$have_wasmtime" = 0 ] || { wt=$(med "${rps[wasmtime,$c]}"); wt99=$(med "${p99[wasmtime,$c]}"); }
    echo "| $c | $(ratio "$sy" "$wt") | $(ratio "$(med "${p99[switchyard,$c]}")" "$wt99") | $(ratio "$sy" "$hy") |"
  done
  if has_server reuse; then
    echo
    echo "## Instance reuse: \`GET /hello\`, one instance serving up to $REUSE_COUNT requests"
    echo
    echo "Same rounds as above (the five servers alternate). State survives between requests on these servers; see README.md, \`instance_reuse\`."
    echo
    throughput_table reuse wasmtime_reuse hyper
    echo
    echo "| connections | reuse: Switchyard / wasmtime serve req/s | p99 Switchyard / wasmtime serve | reuse: Switchyard / raw hyper req/s | Switchyard reuse / fresh req/s |"
    echo "|---|---|---|---|---|"
    for c in $CONNECTIONS; do
      sy=$(med "${rps[reuse,$c]}"); hy=$(med "${rps[hyper,$c]}"); fr=$(med "${rps[switchyard,$c]}")
      wt=nan; wt99=nan
      has_server wasmtime_reuse && { wt=$(med "${rps[wasmtime_reuse,$c]}"); wt99=$(med "${p99[wasmtime_reuse,$c]}"); }
      echo "| $c | $(ratio "$sy" "$wt") | $(ratio "$(med "${p99[reuse,$c]}")" "$wt99") | $(ratio "$sy" "$hy") | $(ratio "$sy" "$fr") |"
    done
  fi
  echo
  echo "## Streaming $((STREAM_BYTES >> 20)) MiB: \`GET /stream?$stream_query\`"
  echo
  body_table "" MB/s
  echo
  echo "## Request body $((STREAM_BYTES >> 20)) MiB: \`POST /echo\`, uploaded from a pipe and echoed back"
  echo
  body_table up_ "MB/s (upload)"
  echo
  echo "## Cold start and reload"
  echo
  echo "| measure | Switchyard | wasmtime serve |"
  echo "|---|---|---|"
  echo "| cold start: spawn → first 200 on /hello, warm caches, median of $COLD_RUNS (ms) | $(med "${cold[switchyard]}") | $( [ "$have_wasmtime" = 1 ] && med "${cold[wasmtime]}" || echo skipped) |"
  echo "| reload: new bytes over the routed file → first response from them, median of $RELOAD_RUNS (ms) | $(printf '%s\n' "${reloads[@]}" | median) | (no reload) |"
  echo
  echo "## In-process: one \`GET /hello\`, a fresh instance, no sockets (criterion)"
  echo
  if [ -n "$micro_note" ]; then
    echo "Skipped: $micro_note."
  else
    echo "| benchmark | µs per request |"
    echo "|---|---|"
    echo "| \`request/hello\`: the real \`Service\`, a fresh instance of hello.wasm | ${micro[hello]} |"
    echo "| \`request/baseline\`: the same harness, a plain hyper service | ${micro[baseline]} |"
    echo
    echo "What Switchyard and wasmtime add per request: $(awk -v a="${micro[hello]}" -v b="${micro[baseline]}" 'BEGIN { if (a == "nan" || b == "nan") print "n/a"; else printf "%.1f µs", a - b }')."
  fi
  echo
  echo "### Cold start with an empty and with a warm compile cache (Switchyard)"
  echo
  echo "Spawn → first 200 from the handler's route, one route per server, median of $COLD_CACHE_RUNS; an empty cache compiles, a warm one loads the compiled component (\`bench/languages.sh\`)."
  echo
  echo "$cache_table"
  echo
  echo "RSS at the end of the throughput and streaming runs: $(for s in "${servers[@]}"; do printf '%s %s MiB; ' "${label[$s]}" "${rss_end[$s]}"; done)"
  echo
  echo "Raw samples (req/s per round): $(for c in $CONNECTIONS; do for s in "${servers[@]}"; do printf '%s@%s: %s; ' "$s" "$c" "${rps[$s,$c]% }"; done; done)"
  echo
  echo "$marker"
  if [ -n "$kept" ]; then printf '%s\n' "$kept"; fi
} >"$BENCH_OUT.tmp"
mv -f "$BENCH_OUT.tmp" "$BENCH_OUT"

say "results written to $BENCH_OUT"
awk -v m="$marker" '$0 == m { exit } { print }' "$BENCH_OUT"
[ "$have_wasmtime" = 1 ] || loud "wasmtime serve was SKIPPED in this run: no ratios against it (see above)."
