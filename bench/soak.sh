#!/usr/bin/env bash
# A bounded soak: sustained load on a real switchyard process, failing on any
# error or on memory that keeps growing.
#
# Starts the switchyard binary (target/release/switchyard if built, else a
# debug build) on 127.0.0.1:0 with a temporary config routing /hello, /echo
# and /stream to build/handlers/*.wasm, warms up, records the server's VmRSS,
# then drives at least SOAK_REQUESTS requests over SOAK_CONNECTIONS keep-alive
# connections with wrk, rotating GET /hello, POST /echo (small body) and
# GET /stream?bytes=4096. It prints total requests, errors (non-2xx
# responses + socket errors), req/s, and RSS after warm-up vs after the run.
#
# Exit status: 0 pass; 1 if any request failed, the server died, or RSS grew
# by more than SOAK_MAX_GROWTH_PCT; 2 if it could not run (no wrk, no build).
#
# Loopback only. Bounded: wrk runs in rounds of SOAK_ROUND_SECONDS until the
# request target is met or SOAK_MAX_SECONDS have passed (then it fails, since
# the target was not met). The server is stopped on exit, whatever happens.
#
# Settings (environment): SWITCHYARD_BIN, SOAK_REQUESTS (100000),
# SOAK_CONNECTIONS (64), SOAK_THREADS (2), SOAK_WARMUP_SECONDS (5),
# SOAK_ROUND_SECONDS (10), SOAK_MAX_SECONDS (240), SOAK_MAX_GROWTH_PCT (10),
# RUST_LOG (the server's log filter; its log goes to a temporary file).
set -euo pipefail
# No admin listener: several servers run at once here, and its default port
# (127.0.0.1:9091) would collide.
export SWITCHYARD_ADMIN_LISTEN=none

REQUESTS=${SOAK_REQUESTS:-100000}
CONNECTIONS=${SOAK_CONNECTIONS:-64}
THREADS=${SOAK_THREADS:-2}
WARMUP_SECONDS=${SOAK_WARMUP_SECONDS:-5}
ROUND_SECONDS=${SOAK_ROUND_SECONDS:-10}
MAX_SECONDS=${SOAK_MAX_SECONDS:-240}
MAX_GROWTH_PCT=${SOAK_MAX_GROWTH_PCT:-10}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! command -v wrk >/dev/null; then
    echo "soak: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)" >&2
    exit 2
fi
for handler in hello echo stream; do
    if [[ ! -f build/handlers/$handler.wasm ]]; then
        echo "soak: build/handlers/$handler.wasm is missing: run ./build-handlers.sh $handler" >&2
        exit 2
    fi
done

if [[ -n ${SWITCHYARD_BIN:-} ]]; then
    bin=$SWITCHYARD_BIN
elif [[ -x target/release/switchyard ]]; then
    bin=target/release/switchyard
else
    echo "soak: no release build; building debug (cargo build -p switchyard)" >&2
    cargo build --quiet -p switchyard --bin switchyard || exit 2
    bin=target/debug/switchyard
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-soak.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$work/switchyard.toml" <<EOF
[[route]]
path = "/hello"
component = "$root/build/handlers/hello.wasm"

[[route]]
path = "/echo"
component = "$root/build/handlers/echo.wasm"

[[route]]
path = "/stream"
component = "$root/build/handlers/stream.wasm"
EOF

# One request per call, rotating through the three routes; counts non-2xx
# responses per thread and sums them in done(). (wrk's own "Non-2xx or 3xx"
# count lets 3xx through; this does not.)
cat >"$work/soak.lua" <<'EOF'
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    requests = {
        wrk.format("GET", "/hello"),
        wrk.format("POST", "/echo", { ["Content-Type"] = "text/plain" },
            "switchyard soak: a small body echoed back\n"),
        wrk.format("GET", "/stream?bytes=4096"),
    }
    next_request = 0
    non2xx = 0
end

function request()
    next_request = next_request % #requests + 1
    return requests[next_request]
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local non2xx = 0
    for _, thread in ipairs(threads) do
        non2xx = non2xx + thread:get("non2xx")
    end
    local e = summary.errors
    io.write(string.format(
        "SOAK %d %d %d %d %d %d %d %d %d\n",
        summary.requests, summary.duration, non2xx,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
EOF

RUST_LOG=${RUST_LOG:-info} "$bin" serve --config "$work/switchyard.toml" \
    --listen 127.0.0.1:0 --no-watch --shutdown-timeout 1 \
    >"$work/stdout" 2>"$work/server.log" &
server_pid=$!

addr=
for _ in $(seq 1200); do # up to 120 s: a debug build compiles components slowly
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "soak: switchyard exited during start-up:" >&2
        cat "$work/server.log" >&2
        exit 2
    fi
    addr=$(sed -n 's|^listening on http://||p' "$work/stdout" | head -n1)
    [[ -n $addr ]] && break
    sleep 0.1
done
if [[ -z $addr ]]; then
    echo "soak: no 'listening on' line within 120 s" >&2
    exit 2
fi
case $addr in
127.0.0.1:*) ;;
*) echo "soak: refusing to load a non-loopback address $addr" >&2; exit 2 ;;
esac

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"
}

# run_wrk SECONDS: one wrk run; prints "requests duration_us non2xx connect
# read write timeout p50_us p99_us".
run_wrk() {
    local out
    out=$(timeout $(($1 + 60)) wrk --threads "$THREADS" --connections "$CONNECTIONS" \
        --duration "${1}s" --timeout 10s --script "$work/soak.lua" "http://$addr") || {
        echo "soak: wrk failed or overran its time:" >&2
        echo "$out" >&2
        exit 1
    }
    out=$(sed -n 's/^SOAK //p' <<<"$out")
    if [[ -z $out ]]; then
        echo "soak: wrk printed no summary" >&2
        exit 1
    fi
    echo "$out"
}

echo "switchyard soak: $bin on $addr, $CONNECTIONS connections, $THREADS wrk threads"
echo "routes: GET /hello, POST /echo (42-byte body), GET /stream?bytes=4096, in rotation"

line=$(run_wrk "$WARMUP_SECONDS")
read -r w_requests _ w_non2xx w_connect w_read w_write w_timeout _ _ <<<"$line"
warmup_errors=$((w_non2xx + w_connect + w_read + w_write + w_timeout))
sleep 1
rss_before=$(rss_kib)
echo "warm-up: $w_requests requests in ${WARMUP_SECONDS}s, $warmup_errors errors; RSS $rss_before KiB"

total=0 duration_us=0 non2xx=0 socket_errors=0 round=0
started=$SECONDS
while ((total < REQUESTS)); do
    if ((SECONDS - started + ROUND_SECONDS > MAX_SECONDS)); then
        echo "soak: only $total of $REQUESTS requests within ${MAX_SECONDS}s" >&2
        break
    fi
    round=$((round + 1))
    line=$(run_wrk "$ROUND_SECONDS")
    read -r r_requests r_duration r_non2xx r_connect r_read r_write r_timeout r_p50 r_p99 <<<"$line"
    total=$((total + r_requests))
    duration_us=$((duration_us + r_duration))
    non2xx=$((non2xx + r_non2xx))
    socket_errors=$((socket_errors + r_connect + r_read + r_write + r_timeout))
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "soak: the server died during round $round" >&2
        tail -n 20 "$work/server.log" >&2
        exit 1
    fi
    awk -v round="$round" -v n="$r_requests" -v us="$r_duration" -v p50="$r_p50" -v p99="$r_p99" \
        -v bad="$r_non2xx" -v sock=$((r_connect + r_read + r_write + r_timeout)) -v rss="$(rss_kib)" \
        'BEGIN { printf "round %d: %d requests, %d req/s, p50 %.1f ms, p99 %.1f ms, %d non-2xx, %d socket errors; RSS %d KiB\n",
                 round, n, n * 1e6 / us, p50 / 1000, p99 / 1000, bad, sock, rss }'
done

sleep 1 # let the last connections close
rss_after=$(rss_kib)
errors=$((warmup_errors + non2xx + socket_errors))
rate=$((duration_us > 0 ? total * 1000000 / duration_us : 0))
growth=$(awk -v a="$rss_before" -v b="$rss_after" 'BEGIN { printf "%+.2f", (b - a) * 100 / a }')
too_much=$(awk -v g="$growth" -v max="$MAX_GROWTH_PCT" 'BEGIN { print (g + 0 > max + 0) ? 1 : 0 }')
echo
echo "requests:   $total (target $REQUESTS) in $round rounds"
echo "errors:     $errors ($non2xx non-2xx, $socket_errors socket errors, $warmup_errors during warm-up)"
echo "req/s:      $rate"
echo "RSS:        $rss_before KiB after warm-up, $rss_after KiB after the run ($growth%)"

status=0
if ((total < REQUESTS)); then
    echo "FAIL: fewer than $REQUESTS requests" >&2
    status=1
fi
if ((errors > 0)); then
    echo "FAIL: $errors requests failed; server log tail:" >&2
    grep -v 'switchyard::access' "$work/server.log" | tail -n 10 >&2 || true
    status=1
fi
if ((too_much)); then
    echo "FAIL: RSS grew by $growth% (limit $MAX_GROWTH_PCT%)" >&2
    status=1
fi
((status == 0)) && echo "PASS"
exit $status
