#!/usr/bin/env bash
# bench/dev.sh: the developer loop's speed. For each language's template, a
# project made by `switchyard new` runs under `switchyard dev`; each round
# edits the handler's greeting and times edit -> first response carrying
# the new text (watch + debounce + build + swap). In the same round the same
# edit is made to a second copy of the project and its bare build command
# (`./build.sh`) is timed, so the loop's own overhead shows beside the build.
# Prints medians per language. See bench/README.md.
#
#   bench/dev.sh [LANG...]        default: rust python js c zig
#
# Knobs (environment): ROUNDS (5, at least 3), SWITCHYARD_BIN (measure a
# prebuilt binary, skip building it). Loopback only.
set -euo pipefail
export SWITCHYARD_ADMIN_LISTEN=none

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh

ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -ge 3 ] || die "ROUNDS must be at least 3 (medians of fewer say little)"
command -v curl >/dev/null || die "curl is needed"
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(rust python js c zig)

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  switchyard_bin=$SWITCHYARD_BIN
else
  say "building switchyard (release)"
  nice -n 10 cargo build --release --locked -p switchyard
  switchyard_bin="$root/target/release/switchyard"
fi
bench_setup dev

now_ms() { date +%s%3N; }

# greeting_file DIR: the source file of the handler in DIR holding its greeting.
greeting_file() {
  grep -rl --exclude=README.md --exclude=build.sh --exclude-dir=target --exclude-dir=node_modules \
    'Hello from' "$1" | head -n1
}

# project LANG COPY: a project with the handler `bench-LANG` in $work/LANG-COPY.
project() {
  local dir="$work/$1-$2"
  "$switchyard_bin" new app "$dir" >/dev/null
  (cd "$dir" && "$switchyard_bin" new handler "$1" "bench-$1" >/dev/null)
  (cd "$dir" && "$switchyard_bin" build >"$dir/first-build.log" 2>&1) \
    || { cat "$dir/first-build.log" >&2; die "the first build of the $1 template failed"; }
  echo "$dir"
}

printf '\n%-10s %14s %14s %14s %s\n' language "loop (ms)" "build (ms)" "overhead (ms)" "rounds: loop/build ms"
for lang in "${languages[@]}"; do
  say "$lang: two projects, first builds"
  served=$(project "$lang" dev)
  bare=$(project "$lang" bare)
  name="bench-$lang"
  port=$(free_port)
  log="$work/$lang-dev.log"
  (cd "$served" && exec "$switchyard_bin" dev --listen "127.0.0.1:$port") >"$log" 2>&1 &
  dev_pid=$!
  pids+=("$dev_pid")
  for _ in $(seq 1 3000); do
    grep -q '^listening on' "$log" && break
    kill -0 "$dev_pid" 2>/dev/null || { cat "$log" >&2; die "switchyard dev exited"; }
    sleep 0.1
  done
  grep -q '^listening on' "$log" || { cat "$log" >&2; die "switchyard dev did not listen within 300 s"; }
  served_file=$(greeting_file "$served/handlers/$name")
  bare_file=$(greeting_file "$bare/handlers/$name")
  loops=() builds=() detail=
  previous="Hello from"
  for round in $(seq 1 "$ROUNDS"); do
    text="Round $round from"
    # The loop: edit, then poll until the new text is served.
    start_ms=$(now_ms)
    sed -i "s/$previous/$text/" "$served_file"
    until curl -sf "http://127.0.0.1:$port/$name" | grep -q "^$text"; do
      kill -0 "$dev_pid" 2>/dev/null || { cat "$log" >&2; die "switchyard dev exited"; }
      [ $(( $(now_ms) - start_ms )) -lt 300000 ] || { cat "$log" >&2; die "round $round not served within 300 s"; }
      sleep 0.005
    done
    loop_ms=$(( $(now_ms) - start_ms ))
    # The bare build of the same edit, in the other copy.
    sed -i "s/$previous/$text/" "$bare_file"
    start_ms=$(now_ms)
    (cd "$bare/handlers/$name" && ./build.sh >/dev/null 2>&1) || die "the bare $lang build failed"
    build_ms=$(( $(now_ms) - start_ms ))
    loops+=("$loop_ms") builds+=("$build_ms")
    detail+=" $loop_ms/$build_ms"
    previous=$text
  done
  stop "$dev_pid"
  loop=$(med "${loops[*]}") build=$(med "${builds[*]}")
  printf '%-10s %14s %14s %14s %s\n' "$lang" "$loop" "$build" "$(awk -v a="$loop" -v b="$build" 'BEGIN { print a - b }')" "$detail"
  grep -o "route '$name': rebuilt in [0-9.]* s, serving generation [0-9]*" "$log" | sed 's/^/    /' >&2 || true
done
