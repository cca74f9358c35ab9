#!/usr/bin/env bash
# bench/run.sh: Switchyard measured in one run beside `wasmtime serve` (the
# reference host, same wasmtime version, each component with the fewest flags
# it needs) and hyper-hello (a raw hyper server: the physical limit), for each
# component: ours (handlers/rust: hello, stream, echo) and the no_std ones a
# new user would write (bench/components: hello-nostd, stream64k). Then
# BENCHMARKS.md is regenerated from the figures (bench/report.sh). See
# bench/README.md.
#
#   bench/run.sh            build, install what is missing, measure, write BENCHMARKS.md
#
# Knobs (environment): ROUNDS (3), DURATION (5, seconds per wrk run),
# CONNECTIONS ("32 128"), WRK_THREADS (2), STREAM_SIZES ("104857600
# 1073741824": the streamed bodies), ECHO_BYTES (1 GiB: the uploaded one),
# STREAM_RUNS (3), COLD_RUNS (5), COLD_CACHE_RUNS (3), RELOAD_RUNS (5),
# BENCH_OUT (BENCHMARKS.md; another file for experiments), SWITCHYARD_BIN
# (measure a prebuilt binary, skip building it), WASMTIME_BIN (use this
# wasmtime, install nothing; a missing file skips it), BENCH_WASMTIME_WAIT
# (seconds to wait for the wasmtime-cli install, 1800), BENCH_TIME_LIMIT
# (seconds for the measuring part, 900), REUSE_COUNT (128: the instance_reuse
# of the reuse comparison, and wasmtime serve's --max-instance-reuse-count),
# BENCH_MICRO (1; 0 skips the criterion micro-benchmark and its host build).
#
# Loopback only: every server listens on 127.0.0.1 and every client talks to it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-"32 128"}
STREAM_SIZES=${STREAM_SIZES:-"104857600 1073741824"}
ECHO_BYTES=${ECHO_BYTES:-1073741824}
STREAM_RUNS=${STREAM_RUNS:-3}
COLD_RUNS=${COLD_RUNS:-5}
RELOAD_RUNS=${RELOAD_RUNS:-5}
COLD_CACHE_RUNS=${COLD_CACHE_RUNS:-3}
BENCH_OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
BENCH_WASMTIME_WAIT=${BENCH_WASMTIME_WAIT:-1800}
BENCH_TIME_LIMIT=${BENCH_TIME_LIMIT:-900}
REUSE_COUNT=${REUSE_COUNT:-128}

# shellcheck source-path=SCRIPTDIR source=setup.sh
source bench/setup.sh

# --- from here on, every step is bounded ----------------------------------------
bench_setup bench
bench_time_limit "$BENCH_TIME_LIMIT"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Servers are named by keys: sy (Switchyard, fresh), syr (Switchyard with
# instance_reuse), wt and wtr (wasmtime serve, fresh and reusing), each
# `:COMPONENT`; and hyper. url[KEY] is the component's URL on that server.
declare -A url pid_of label
trace_env=()
label_of() { # KEY: the server's name in the tables
  case ${1%%:*} in
    sy) echo "Switchyard" ;; wt) echo "wasmtime serve${wt_flags[${1#*:}]:+ ${wt_flags[${1#*:}]}}" ;;
    syr) echo "Switchyard, instance_reuse = $REUSE_COUNT" ;;
    syt) echo "Switchyard, tracing on (sampling 1.0, OTLP to a local receiver)" ;;
    wtr) echo "wasmtime serve${wt_flags[${1#*:}]:+ ${wt_flags[${1#*:}]}} --max-instance-reuse-count $REUSE_COUNT" ;;
    hyper) echo "raw hyper" ;;
  esac
}
# start_switchyard KEY_PREFIX CONFIG COMPONENT...: one Switchyard serving each
# COMPONENT at /COMPONENT, its admin listener on (as a user runs it).
start_switchyard() {
  local prefix=$1 config=$2 c; shift 2
  start "switchyard ($prefix)" "$work/$prefix.log" env RUST_LOG=warn "${trace_env[@]}" "$switchyard_bin" serve \
    --config "$config" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 || die "switchyard ($prefix) did not start"
  for c in "$@"; do url[$prefix:$c]="http://$started_addr/$c"; pid_of[$prefix:$c]=$started_pid; done
}
# start_wasmtime KEY_PREFIX COMPONENT [FLAG...]: a wasmtime serve for COMPONENT (it
# serves one component per process, at every path).
start_wasmtime() {
  local prefix=$1 c=$2; shift 2
  # shellcheck disable=SC2086 # the flags are words, maybe none
  start "wasmtime serve ($prefix:$c)" "$work/$prefix-$c.log" "$wasmtime_bin" serve ${wt_flags[$c]} "$@" \
    --addr 127.0.0.1:0 "${wasm[$c]}" || die "wasmtime serve ($prefix:$c) did not start"
  url[$prefix:$c]="http://$started_addr/$c"; pid_of[$prefix:$c]=$started_pid
}
route() { # PATH COMPONENT_FILE [KEY = VALUE...]: a route table entry
  printf '[[route]]\npath = "%s"\ncomponent = "%s"\n' "$1" "$2"; shift 2
  [ $# = 0 ] || printf '%s\n' "$@"
}

say "starting the servers"
# The body routes need a deadline beyond the 30 s default for 1 GiB; echo a
# request body limit beyond the default 100 MiB.
{
  for c in "${hellos[@]}"; do route "/$c" "${wasm[$c]}"; done
  for c in "${streams[@]}"; do route "/$c" "${wasm[$c]}" "timeout_ms = 600000"; done
  route /echo "${wasm[echo]}" "timeout_ms = 600000" "max_request_body_bytes = $((ECHO_BYTES * 2))"
} >"$work/sy.toml"
start_switchyard sy "$work/sy.toml" "${hellos[@]}" "${streams[@]}" echo
for c in "${hellos[@]}"; do route "/$c" "${wasm[$c]}" "instance_reuse = $REUSE_COUNT"; done >"$work/syr.toml"
start_switchyard syr "$work/syr.toml" "${hellos[@]}"
# The same fresh hellos with every request traced (sampling 1.0) and its
# spans exported to a local OTLP/HTTP receiver (bench/otlp-sink.py) that
# keeps up, so what differs from `sy` is the tracing itself.
for c in "${hellos[@]}"; do route "/$c" "${wasm[$c]}"; done >"$work/syt.toml"
python3 bench/otlp-sink.py "$work/otlp.port" 2>"$work/otlp.log" &
pids+=("$!")
for _ in $(seq 1 500); do [ -s "$work/otlp.port" ] && break; sleep 0.01; done
[ -s "$work/otlp.port" ] || die "bench/otlp-sink.py did not start: $(cat "$work/otlp.log")"
trace_env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$work/otlp.port")" OTEL_TRACES_SAMPLER=always_on)
start_switchyard syt "$work/syt.toml" "${hellos[@]}"
trace_env=()
start hyper-hello "$work/hyper.log" "$hyper_bin" --listen 127.0.0.1:0 || die "hyper-hello did not start"
url[hyper]="http://$started_addr/hello"; pid_of[hyper]=$started_pid
throughput_keys=()
for c in "${hellos[@]}"; do
  throughput_keys+=("sy:$c" "syt:$c")
  [ "$have_wasmtime" = 0 ] || { start_wasmtime wt "$c"; throughput_keys+=("wt:$c"); }
  throughput_keys+=("syr:$c")
  [ "$have_wasmtime" = 0 ] || { start_wasmtime wtr "$c" --max-instance-reuse-count "$REUSE_COUNT"; throughput_keys+=("wtr:$c"); }
done
throughput_keys+=(hyper)
body_keys=()
for c in "${streams[@]}" echo; do
  body_keys+=("sy:$c"); [ "$have_wasmtime" = 0 ] || { start_wasmtime wt "$c"; body_keys+=("wt:$c"); }
done
for k in "${throughput_keys[@]}" "${body_keys[@]}"; do label[$k]=$(label_of "$k"); done

# The bytes each hello answers, the same from every server (and hello-nostd's
# content-length).
declare -A expected=([hello]="Hello from Switchyard! GET /hello" [hello-nostd]="hello world")
for k in "${throughput_keys[@]}"; do
  c=${k#*:}; [ "$k" != hyper ] || c=hello
  got=$(curl -s --max-time 5 -w '|%{http_code}|%{content_type}|%header{content-length}' "${url[$k]}")
  want="${expected[$c]}"$'\n''|200|text/plain|'
  [ "$c" = hello ] && got=${got%|*}'|' || want+=12
  [ "$got" = "$want" ] || die "${label[$k]} ($c) answered unexpectedly: $got"
done

# --- 5. throughput: wrk, rounds alternating between every server and component --
declare -A rps p50 p99 errs cpu_us preempt
for conns in $CONNECTIONS; do
  say "throughput at $conns connections: $ROUNDS rounds of ${DURATION}s, alternating ${throughput_keys[*]}"
  for k in "${throughput_keys[@]}"; do run_wrk "${url[$k]}" "$conns" 1 >/dev/null; done # warm-up
  for r in $(seq 1 "$ROUNDS"); do
    for k in "${throughput_keys[@]}"; do
      t0=$(cpu_ticks "${pid_of[$k]}"); n0=$(preemptions "${pid_of[$k]}")
      line=$(run_wrk "${url[$k]}" "$conns" "$DURATION")
      t1=$(cpu_ticks "${pid_of[$k]}"); n1=$(preemptions "${pid_of[$k]}")
      requests=$(field requests <<<"$line")
      cpu_us[$k,$conns]+="$(per_request $((t1 - t0)) "$requests") "
      preempt[$k,$conns]+="$(awk -v d=$((n1 - n0)) -v n="$requests" 'BEGIN { if (n > 0) printf "%.3f", d / n; else print "nan" }') "
      echo "  round $r ${label[$k]} (${k#*:}): $line" >&2
      rps[$k,$conns]+="$(field rps <<<"$line") "
      p50[$k,$conns]+="$(field p50_us <<<"$line") "
      p99[$k,$conns]+="$(field p99_us <<<"$line") "
      errs[$k,$conns]+="$(field errors <<<"$line") "
    done
  done
done

# --- 6. bodies: streamed responses and an uploaded request ------------------------
# MB/s (10^6 bytes) from curl; the server's RSS growth is its peak (VmHWM,
# reset before each run through /proc/PID/clear_refs) minus its RSS just
# before the run.
declare -A mbps growth peak
body_run() { # KEY SIZE_KEY BYTES CURL_ARGS...: one run, recorded under KEY,SIZE_KEY
  local k=$1 sk=$2 bytes=$3 pid=${pid_of[$1]} before after out code up down secs; shift 3
  before=$(kib "$pid" VmRSS)
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
  out=$(curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_upload} %{size_download} %{time_total}' "$@")
  read -r code up down secs <<<"$out"
  # (An upload's size counts the chunked framing too.)
  if [ "$code" != 200 ] || [ "$down" != "$bytes" ] || { [ "$sk" = up ] && [ "$up" -lt "$bytes" ]; }; then
    die "${label[$k]} (${k#*:}): answered $code, $up bytes up, $down down; wanted $bytes"
  fi
  after=$(kib "$pid" VmHWM)
  mbps[$k,$sk]+="$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }') "
  growth[$k,$sk]+="$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", (a - b) / 1024 }') "
  peak[$k,$sk]+="$(awk -v a="$after" 'BEGIN { printf "%.1f", a / 1024 }') "
}
stream_url() { # KEY BYTES (stream64k ignores `chunk`; ours reads it)
  echo "${url[$1]}?bytes=$2$([ "${1#*:}" = stream ] && echo '&chunk=65536')"
}
# Warm-up, and the first MiB of every stream checked byte by byte.
yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c 1048576 >"$work/pattern" || true
for k in "${body_keys[@]}"; do
  [ "${k#*:}" = echo ] && continue
  curl -s --max-time 10 -o "$work/got" "$(stream_url "$k" 1048576)"
  cmp -s "$work/pattern" "$work/got" || die "${label[$k]} (${k#*:}): the first MiB is not the pattern"
done
say "streaming $STREAM_SIZES bytes, $STREAM_RUNS runs each, alternating ${body_keys[*]/*:echo/}"
for r in $(seq 1 "$STREAM_RUNS"); do
  for size in $STREAM_SIZES; do
    for k in "${body_keys[@]}"; do
      [ "${k#*:}" = echo ] || body_run "$k" "$size" "$size" "$(stream_url "$k" "$size")"
    done
  done
done
# The upload: curl reads it from a pipe (never held whole) and echo streams
# it back; MB/s counts the upload.
say "request body: $ECHO_BYTES bytes through echo, $STREAM_RUNS runs each"
for r in $(seq 1 "$STREAM_RUNS"); do
  for k in "${body_keys[@]}"; do
    [ "${k#*:}" = echo ] || continue
    body_run "$k" up "$ECHO_BYTES" -X POST -T - -H 'Expect:' -H 'content-type: application/octet-stream' \
      "${url[$k]}" < <(head -c "$ECHO_BYTES" /dev/zero)
  done
done
for k in "${body_keys[@]}"; do
  for sk in $STREAM_SIZES up; do
    [ -z "${mbps[$k,$sk]:-}" ] || echo "  ${label[$k]} (${k#*:}, $sk): MB/s ${mbps[$k,$sk]}growth MiB ${growth[$k,$sk]}" >&2
  done
done

declare -A rss_end
for k in "${throughput_keys[@]}" "${body_keys[@]}"; do
  rss_end[$k]=$(awk '{ printf "%.1f", $1 / 1024 }' <<<"$(kib "${pid_of[$k]}" VmRSS)")
done
# Stop the long-running servers: cold start and reload want a quiet machine.
for k in "${throughput_keys[@]}" "${body_keys[@]}"; do stop "${pid_of[$k]}"; done

# --- 7. cold start: spawn -> first 200 (warm compilation cache) -------------------
now_ns() { date +%s%N; }
cold_once() { # CMD...: sets $elapsed_ms, spawn -> first 200 on /hello (PORT: a free port)
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
cold_keys=()
for c in "${hellos[@]}"; do
  cold_keys+=("sy:$c"); [ "$have_wasmtime" = 0 ] || cold_keys+=("wt:$c")
  route /hello "${wasm[$c]}" >"$work/cold-$c.toml"
done
declare -A cold
say "cold start: $COLD_RUNS runs each of ${cold_keys[*]}, after one untimed run to warm the caches"
for r in $(seq 0 "$COLD_RUNS"); do
  for k in "${cold_keys[@]}"; do
    c=${k#*:}
    if [ "${k%%:*}" = sy ]; then
      cmd=(env RUST_LOG=warn "$switchyard_bin" serve --config "$work/cold-$c.toml" --listen 127.0.0.1:PORT
        --admin-listen 127.0.0.1:0)
    else
      # shellcheck disable=SC2206 # the flags are words, maybe none
      cmd=("$wasmtime_bin" serve ${wt_flags[$c]} --addr 127.0.0.1:PORT "${wasm[$c]}")
    fi
    cold_once "${cmd[@]}"
    [ "$r" = 0 ] || cold[$k]+="$elapsed_ms "
  done
done
for k in "${cold_keys[@]}"; do echo "  cold start ms, ${label[$k]} (${k#*:}): ${cold[$k]}" >&2; done

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
route /hello "$routed" >"$work/reload.toml"
start_switchyard re "$work/reload.toml" hello
wait_for() { # TEXT: until /hello answers with TEXT (30 s at most)
  for _ in $(seq 1 3000); do
    curl -s --max-time 5 "${url[re:hello]}" | grep -q "$1" && return 0
    sleep 0.005
  done
  die "reload: no answer containing '$1' after 30 s"
}
say "reload: $RELOAD_RUNS swaps to new bytes"
reloads=()
for r in $(seq 1 "$RELOAD_RUNS"); do
  t0=$(now_ns)
  unique_copy "$handlers/hello-v2.wasm" "$routed" $((2 * r - 1))
  wait_for "(v2)"
  t1=$(now_ns)
  reloads+=($(( (t1 - t0) / 1000000 )))
  unique_copy "$handlers/hello.wasm" "$routed" $((2 * r))
  wait_for "Hello from Switchyard!"
done
stop "${pid_of[re:hello]}"
echo "  reload ms: ${reloads[*]}" >&2

# --- 9. cold start with an empty and a warm compile cache ------------------------
# bench/languages.sh measures it (each empty-cache start gets a new cache
# folder, so it compiles; the warm starts load what the last one wrote), for
# the Rust hello and the largest polyglot handler built.
polyglot=$(for n in items greet sha256 primes; do
  [ ! -f "$handlers/$n.wasm" ] || echo "$(stat -c %s "$handlers/$n.wasm") $n"
done | sort -n | tail -n1 | cut -d' ' -f2)
cache_handlers="hello${polyglot:+ $polyglot}"
[ -n "$polyglot" ] || loud "no polyglot handler in $handlers (./build-handlers.sh): cold start with an empty cache for hello only"
say "cold start, empty and warm compile cache: $cache_handlers ($COLD_CACHE_RUNS runs each)"
cache_table=$(COLD_RUNS=$COLD_CACHE_RUNS WARM_REQUESTS=50 HANDLERS="$cache_handlers" \
  bench/languages.sh "$switchyard_bin") || die "bench/languages.sh failed"

# --- 10. in-process: the criterion micro-benchmark ---------------------------------
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

# --- 11. BENCHMARKS.md ------------------------------------------------------------
# shellcheck source-path=SCRIPTDIR source=report.sh
source bench/report.sh
write_report "$BENCH_OUT"
say "results written to $BENCH_OUT"
awk -v m="$report_marker" '$0 == m { exit } { print }' "$BENCH_OUT"
[ "$have_wasmtime" = 1 ] || loud "wasmtime serve was SKIPPED in this run: no ratios against it (see above)."
