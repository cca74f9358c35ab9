# bench/lib.sh: the helpers every benchmark script here needs, written once:
# messages, the servers it starts (and stops on exit), free ports, medians,
# wrk runs and what a server process spent (CPU, preemptions, memory).
# Sourced, not run, with $root set to the repository:
#   source "$root/bench/lib.sh"; bench_setup NAME
# shellcheck shell=bash

say() { printf '\n==> %s\n' "$*" >&2; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' "$*" >&2; }
die() { printf 'bench/%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# bench_setup NAME: a scratch folder ($work) and an exit trap that stops
# every server started with `start` (and the time limit, if any) and removes
# the folder.
pids=()
watchdog=
bench_setup() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-$1.XXXXXX")
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
  rm -rf "$work"
}

# bench_time_limit SECONDS: past it, say so and exit 124 (through the EXIT
# trap, so the servers stop).
bench_time_limit() {
  trap 'loud "over the ${1}s time limit, stopping"; exit 124' USR1
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$1" & nap=$!
    wait "$nap" && kill -USR1 $$
  ) 2>/dev/null &
  watchdog=$!
}

# The version of a package in the root Cargo.lock.
locked_version() {
  awk -v name="$1" '$1 == "name" && $3 == "\"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' "${root:?}/Cargo.lock"
}

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
# startup line (Switchyard's `listening on`, wasmtime serve's `Serving HTTP
# on`; not Switchyard's `admin listening on`). Sets $started_pid and
# $started_addr; never call it in $(...): the server must be this shell's
# child, so the exit trap can stop it.
start() {
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  started_addr=
  for _ in $(seq 1 1000); do
    started_addr=$(sed -n -E 's#^(listening on|Serving HTTP on) http://([0-9.:]+)/?.*#\2#p' "$log" | head -n1)
    [ -z "$started_addr" ] || return 0
    kill -0 "$started_pid" 2>/dev/null || { echo "$name exited at startup:" >&2; cat "$log" >&2; return 1; }
    sleep 0.01
  done
  echo "$name did not start within 10 s:" >&2; cat "$log" >&2; return 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# median (numbers on stdin, one a line) and med "N N N" (space-separated).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
# field NAME: NAME's value in a `RESULT k=v ...` line (bench/wrk-report.lua).
field() { sed -n -E "s/.* $1=([0-9.]+).*/\1/p"; }

# run_wrk URL CONNECTIONS SECONDS: one wrk run, its RESULT line.
WRK_THREADS=${WRK_THREADS:-2}
run_wrk() {
  local threads=$WRK_THREADS
  [ "$threads" -le "$2" ] || threads=$2
  timeout $(( $3 + 30 )) wrk -t "$threads" -c "$2" -d "${3}s" --timeout 5s -s "$root/bench/wrk-report.lua" "$1" \
    | grep '^RESULT'
}

# What a server process spent: CPU ticks (user + system, /proc/PID/stat),
# involuntary context switches of all its threads, and a /proc/PID/status
# figure in KiB (kib PID VmRSS).
clock_ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
preemptions() { cat "/proc/$1"/task/*/status 2>/dev/null | awk '$1 == "nonvoluntary_ctxt_switches:" { n += $2 } END { print n + 0 }'; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
# per_request TICKS REQUESTS: CPU µs per request.
per_request() { awk -v t="$1" -v hz="$clock_ticks" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "nan" }'; }
