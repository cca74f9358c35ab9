# bench/setup.sh: what bench/run.sh needs before it measures, made ready:
# wasmtime-cli at Cargo.lock's wasmtime version (installed in the background
# on the first run, waited for within BENCH_WASMTIME_WAIT), wrk, the release
# switchyard and hyper-hello, the criterion bench, the handlers and
# bench/components, and wasmtime serve's flags for each component. Sourced by
# bench/run.sh after bench/lib.sh; sets the variables the measuring reads
# ($switchyard_bin, $wasmtime_bin, $have_wasmtime, $hyper_bin, $micro_note,
# the component lists, wasm[] and wt_flags[]).
# shellcheck shell=bash
# What it sets is read by run.sh, and $root comes from it: SC2034, SC2154.
# shellcheck disable=SC2034,SC2154

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

# --- 3. release binaries and the components ----------------------------------
if [ -n "${SWITCHYARD_BIN:-}" ]; then
  switchyard_bin=$SWITCHYARD_BIN
  say "switchyard: using $switchyard_bin (SWITCHYARD_BIN)"
else
  say "building switchyard (release)"
  nice -n 10 cargo build --release --locked -p switchyard
  switchyard_bin="$root/target/release/switchyard"
fi
micro_note=
if [ "${BENCH_MICRO:-1}" = 0 ]; then
  micro_note="BENCH_MICRO=0: no criterion micro-benchmark in this run"
else
  say "building the criterion micro-benchmark (bench profile)"
  nice -n 10 cargo bench --locked -p switchyard --bench invoke --no-run \
    || micro_note="the criterion micro-benchmark did not build; no in-process figures in this run"
fi
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
# bench/components (its own workspace), when a .wasm is missing or older than
# a source: its own files or the repository's WIT.
bench_wasm="$root/build/bench"
stale=0
for c in hello-nostd stream64k; do
  [ -f "$bench_wasm/$c.wasm" ] && [ -z "$(find bench/components wit -path bench/components/target -prune \
    -o -type f -newer "$bench_wasm/$c.wasm" -print | head -n1)" ] || stale=1
done
if [ "$stale" = 1 ]; then
  say "building bench/components (hello-nostd, stream64k)"
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  nice -n 10 cargo build --release --locked --target wasm32-wasip2 --manifest-path bench/components/Cargo.toml \
    --target-dir "$root/target/bench-components"
  mkdir -p "$bench_wasm"
  for c in hello-nostd stream64k; do
    cp "$root/target/bench-components/wasm32-wasip2/release/${c//-/_}.wasm" "$bench_wasm/$c.wasm"
  done
fi
hellos=(hello hello-nostd)
streams=(stream stream64k)
declare -A wasm=([hello]="$handlers/hello.wasm" [hello-nostd]="$bench_wasm/hello-nostd.wasm"
  [stream]="$handlers/stream.wasm" [stream64k]="$bench_wasm/stream64k.wasm" [echo]="$handlers/echo.wasm")

# wasmtime serve's flags per component: -Scli (all of WASI 0.2 instead of the
# proxy world's interfaces) only for a component that imports wasi:cli, as
# Rust std does; read from the component, or from this table without wasm-tools.
wasm_tools=$(find "$tools" -maxdepth 3 -path '*/wasm-tools-*/bin/wasm-tools' 2>/dev/null | sort | tail -n1)
declare -A wt_flags
if [ -n "$wasm_tools" ]; then
  flags_from="read from each component's imports (\`wasm-tools component wit FILE\`: -Scli when it imports wasi:cli)"
  for c in "${!wasm[@]}"; do
    world=$("$wasm_tools" component wit "${wasm[$c]}") || die "wasm-tools component wit ${wasm[$c]} failed"
    if grep -q 'import wasi:cli/' <<<"$world"; then wt_flags[$c]=-Scli; else wt_flags[$c]=""; fi
  done
else
  flags_from="from bench/run.sh's table (no wasm-tools in $tools): -Scli for the Rust std handlers"
  loud "no wasm-tools in $tools: wasmtime serve's flags come from a table, not from the components"
  declare -A wt_flags=([hello]=-Scli [stream]=-Scli [echo]=-Scli [hello-nostd]="" [stream64k]="")
fi
for c in "${!wasm[@]}"; do echo "  ${c}: $(stat -c %s "${wasm[$c]}") bytes, wasmtime serve ${wt_flags[$c]:-(no flags)}" >&2; done

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
