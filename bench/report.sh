# bench/report.sh: the generated top of BENCHMARKS.md, from the figures
# bench/run.sh gathered (its arrays, keyed by server key and component, and
# its settings). Kept apart so run.sh reads as the measuring it does. Every
# table that compares hosts gives the ratio per component. Sourced by
# bench/run.sh, then: write_report FILE.
# shellcheck shell=bash
# It reads run.sh's variables: SC2154 cannot see them assigned.
# shellcheck disable=SC2154

report_marker='<!-- Everything below this line is kept by bench/run.sh; everything above it is regenerated. -->'

ms() { awk -v u="$1" 'BEGIN { if (u == "nan") print "n/a"; else printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f×", a / b }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f", v }'; }
has_key() { [ -n "${url[$1]:-}" ]; }
mib() { awk -v b="$1" 'BEGIN { printf "%g MiB", b / 1048576 }'; }

# throughput_table PREFIX WT_PREFIX: a row per connection count, component
# and server, raw hyper last.
throughput_table() {
  local conns c k
  echo "| connections | component | server | req/s | p50 ms | p99 ms | errors | server CPU µs/request | preemptions/request |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for conns in $CONNECTIONS; do
    for k in $(for c in "${hellos[@]}"; do echo "$1:$c $2:$c"; done) hyper; do
      has_key "$k" || continue
      echo "| $conns | $([ "$k" = hyper ] && echo "(hello's bytes)" || echo "${k#*:}") | ${label[$k]} | $(num "$(med "${rps[$k,$conns]}")") | $(ms "$(med "${p50[$k,$conns]}")") | $(ms "$(med "${p99[$k,$conns]}")") | $(num "$(med "${errs[$k,$conns]}")") | $(med "${cpu_us[$k,$conns]}") | $(med "${preempt[$k,$conns]}") |"
    done
  done
}
# ratio_table PREFIX WT_PREFIX [FRESH_PREFIX]: Switchyard against wasmtime
# serve and raw hyper per component (and against fresh, for reuse).
ratio_table() {
  local conns c sy wt extra extra_head=''
  [ -z "${3:-}" ] || extra_head=" Switchyard reuse / fresh req/s |"
  echo "| connections | component | Switchyard / wasmtime serve req/s | p99 Switchyard / wasmtime serve | CPU µs/request Switchyard / wasmtime serve | Switchyard / raw hyper req/s |$extra_head"
  echo "|---|---|---|---|---|---|${extra_head:+---|}"
  for conns in $CONNECTIONS; do
    for c in "${hellos[@]}"; do
      sy=$1:$c wt=$2:$c extra=
      [ -z "${3:-}" ] || extra=" $(ratio "$(med "${rps[$sy,$conns]}")" "$(med "${rps[$3:$c,$conns]}")") |"
      echo "| $conns | $c | $(ratio "$(med "${rps[$sy,$conns]}")" "$(med "${rps[$wt,$conns]:-}")") | $(ratio "$(med "${p99[$sy,$conns]}")" "$(med "${p99[$wt,$conns]:-}")") | $(ratio "$(med "${cpu_us[$sy,$conns]}")" "$(med "${cpu_us[$wt,$conns]:-}")") | $(ratio "$(med "${rps[$sy,$conns]}")" "$(med "${rps[hyper,$conns]}")") |$extra"
    done
  done
}
# tracing_table: tracing on (syt) against off (sy) per connection count and
# component, from the same alternating rounds.
tracing_table() {
  local conns c
  echo "| connections | component | req/s off | req/s on | on / off req/s | CPU µs/request off | on | added µs/request | p99 ms off | on |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for conns in $CONNECTIONS; do
    for c in "${hellos[@]}"; do
      has_key "syt:$c" || continue
      echo "| $conns | $c | $(num "$(med "${rps[sy:$c,$conns]}")") | $(num "$(med "${rps[syt:$c,$conns]}")") | $(ratio "$(med "${rps[syt:$c,$conns]}")" "$(med "${rps[sy:$c,$conns]}")") | $(med "${cpu_us[sy:$c,$conns]}") | $(med "${cpu_us[syt:$c,$conns]}") | $(awk -v a="$(med "${cpu_us[syt:$c,$conns]}")" -v b="$(med "${cpu_us[sy:$c,$conns]}")" 'BEGIN { if (a == "nan" || b == "nan") print "n/a"; else printf "%.1f", a - b }') | $(ms "$(med "${p99[sy:$c,$conns]}")") | $(ms "$(med "${p99[syt:$c,$conns]}")") |"
    done
  done
}
# body_table SIZE_KEY... : MB/s and memory per size, component and server,
# with Switchyard / wasmtime serve per size and component.
body_table() {
  local sk c k
  echo "| body | component | server | MB/s | RSS growth MiB | peak RSS (VmHWM) MiB | Switchyard / wasmtime serve MB/s |"
  echo "|---|---|---|---|---|---|---|"
  for sk in "$@"; do
    for k in "${body_keys[@]}"; do
      c=${k#*:}
      [ -n "${mbps[$k,$sk]:-}" ] || continue
      echo "| $(mib "$([ "$sk" = up ] && echo "$ECHO_BYTES" || echo "$sk")") | $c | ${label[$k]} | $(num "$(med "${mbps[$k,$sk]}")") | $(med "${growth[$k,$sk]}") | $(med "${peak[$k,$sk]}") | $([ "${k%%:*}" = sy ] && ratio "$(med "${mbps[$k,$sk]}")" "$(med "${mbps[wt:$c,$sk]:-}")") |"
    done
  done
}
# The processes that ran (several keys share a Switchyard) and their RSS.
rss_line() {
  local k seen=" "
  for k in "${throughput_keys[@]}" "${body_keys[@]}"; do
    [[ "$seen" == *" ${pid_of[$k]} "* ]] && continue
    seen+="${pid_of[$k]} "
    case ${k%%:*} in
      wt | wtr) printf '%s (%s) %s MiB; ' "${label[$k]}" "${k#*:}" "${rss_end[$k]}" ;;
      *) printf '%s %s MiB; ' "${label[$k]}" "${rss_end[$k]}" ;;
    esac
  done
}

write_report() { # FILE
  local kept='' git_rev cpu mem wrk_version wasmtime_line c k
  [ -f "$1" ] && kept=$(awk -v m="$report_marker" 'found { print } $0 == m { found = 1 }' "$1")
  git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- host 2>/dev/null || git_rev="$git_rev + uncommitted changes in host/"
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  wrk_version=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')
  wasmtime_line="\`wasmtime serve\` $wasmtime_version ($wasmtime_bin), flags per component below"
  [ "$have_wasmtime" = 1 ] || wasmtime_line="**skipped** (wasmtime-cli $wasmtime_version not installed yet: see the log at $wasmtime_log)"
  {
    echo "# Benchmarks"
    echo
    echo "Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); see [bench/README.md](bench/README.md) for what each number means."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| machine | $cpu, \`nproc\` = $(nproc), $mem, Linux $(uname -r) |"
    echo "| load average (1/5/15 min) | before $load_before, after $load_after (the machine is shared; compare ratios, not absolutes) |"
    echo "| Switchyard | $git_rev ($switchyard_bin), wasmtime $wasmtime_version, $(rustc --version), \`--admin-listen 127.0.0.1:0\` (admin listener and metrics on) |"
    echo "| reference | $wasmtime_line |"
    echo "| baseline | bench/hyper-hello, hyper $(locked_version hyper) |"
    echo "| client | wrk $wrk_version, $WRK_THREADS threads, ${DURATION}s per run, $ROUNDS rounds alternating every server and component (${throughput_keys[*]}), medians shown |"
    echo
    echo "| component | source | size | \`wasmtime serve\` flags |"
    echo "|---|---|---|---|"
    for c in "${hellos[@]}" "${streams[@]}" echo; do
      echo "| $c | $(case $c in *nostd|stream64k) echo "bench/components/$c (no_std)" ;; *) echo "handlers/rust/$c (std, our SDK)" ;; esac) | $(( $(stat -c %s "${wasm[$c]}") / 1024 )) KiB | $([ -n "${wt_flags[$c]}" ] && echo "\`${wt_flags[$c]}\`" || echo none) |"
    done
    echo
    echo "The flags are $flags_from."
    echo
    echo "## Fresh instance per request: \`GET /hello\`, \`GET /hello-nostd\`"
    echo
    throughput_table sy wt
    echo
    ratio_table sy wt
    echo
    echo "## Tracing on: every request's spans exported over OTLP"
    echo
    echo "The fresh hellos again, on a server with \`OTEL_TRACES_SAMPLER=always_on\` exporting every request's server and handler spans to a local OTLP/HTTP receiver (\`bench/otlp-sink.py\`), in the same alternating rounds as the server with tracing off. Target: at most 10 % fewer req/s."
    echo
    tracing_table
    echo
    echo "## Instance reuse: one instance serving up to $REUSE_COUNT requests"
    echo
    echo "Same rounds as above (every server alternates). State survives between requests on these servers; see README.md, \`instance_reuse\`."
    echo
    throughput_table syr wtr
    echo
    ratio_table syr wtr sy
    echo
    echo "## Streaming: \`GET /stream?bytes=N&chunk=65536\` (ours), \`GET /stream64k?bytes=N\`"
    echo
    echo "$STREAM_RUNS runs per body, component and server, alternating; the first MiB of each checked byte by byte."
    echo
    # shellcheck disable=SC2086 # the sizes are words
    body_table $STREAM_SIZES
    echo
    echo "## Request body: \`POST /echo\`, uploaded from a pipe and echoed back"
    echo
    body_table up
    echo
    echo "## Cold start and reload"
    echo
    echo "| measure | component | Switchyard | wasmtime serve | Switchyard / wasmtime serve |"
    echo "|---|---|---|---|---|"
    for c in "${hellos[@]}"; do
      echo "| cold start: spawn → first 200, warm caches, median of $COLD_RUNS (ms) | $c | $(med "${cold[sy:$c]}") | $( [ "$have_wasmtime" = 1 ] && med "${cold[wt:$c]}" || echo skipped) | $(ratio "$(med "${cold[sy:$c]}")" "$(med "${cold[wt:$c]:-}")") |"
    done
    echo "| reload: new bytes over the routed file → first response from them, median of $RELOAD_RUNS (ms) | hello | $(printf '%s\n' "${reloads[@]}" | median) | (no reload) | |"
    echo
    echo "## In-process: one \`GET /hello\`, a fresh instance, no sockets (criterion, hello only)"
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
    echo "RSS at the end of the throughput and body runs: $(rss_line)"
    echo
    echo "Raw samples (req/s per round): $(for conns in $CONNECTIONS; do for k in "${throughput_keys[@]}"; do printf '%s@%s: %s; ' "$k" "$conns" "${rps[$k,$conns]% }"; done; done)"
    echo
    echo "$report_marker"
    if [ -n "$kept" ]; then printf '%s\n' "$kept"; fi
  } >"$1.tmp"
  mv -f "$1.tmp" "$1"
}
