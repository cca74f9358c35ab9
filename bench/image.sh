#!/usr/bin/env bash
# bench/image.sh: what the container costs at start. Builds the image's
# `runtime` target (deploy/image.sh; release binary), prints its size, then
# alternates ROUNDS times: container start (as deploy/replicas.sh starts a
# replica: read-only, uid 10001, no capabilities, host network) -> first
# 200 on /hello, and the bare release binary on the same config and the
# same components -> first 200, its compile cache warm too. Medians. A
# Redis for the config's `default` store is started on a free port.
#
#   bench/image.sh
#
# Knobs (environment): ROUNDS (5, at least 3). Loopback only.
set -euo pipefail
export SWITCHYARD_ADMIN_LISTEN=none
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh
ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -ge 3 ] || die "ROUNDS must be at least 3"
command -v redis-server >/dev/null || die "redis-server is needed (./build-handlers.sh installs it)"
bench_setup image

say "building switchyard (release) and the image"
nice -n 10 cargo build --release --locked -p switchyard
deploy/image.sh build --tag switchyard:bench >&2
{ read -r -a engine; read -r conf; } < <(deploy/image.sh engine)
[ -z "$conf" ] || export CONTAINERS_CONF="$conf"
size=$("${engine[@]}" image inspect --format '{{.Size}}' switchyard:bench)

redis_port=$(free_port)
redis-server --port "$redis_port" --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
# The bare binary: the image's config with its handler folder mapped here.
sed "s#/opt/switchyard/handlers/#$root/build/handlers/#" deploy/switchyard.toml >"$work/switchyard.toml"
export SWITCHYARD_REDIS_URL="redis://127.0.0.1:$redis_port/0" XDG_CACHE_HOME="$work/cache" HOSTNAME=bare
"$root/target/release/switchyard" check build/handlers/*.wasm >/dev/null  # warm its cache

now_ms() { date +%s%3N; }
until_200() {
  local start=$1
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/hello")" = 200 ]; do
    [ $(( $(now_ms) - start )) -lt 60000 ] || die "no 200 within 60 s"
    sleep 0.002
  done
  echo $(( $(now_ms) - start ))
}
containers=() bares=()
for _ in $(seq 1 "$ROUNDS"); do
  port=$(free_port)
  start=$(now_ms)
  "${engine[@]}" run -d --name switchyard-bench --network host --read-only --user 10001:10001 --cap-drop ALL \
    -e "SWITCHYARD_REDIS_URL=$SWITCHYARD_REDIS_URL" -e HOSTNAME=container switchyard:bench \
    --config /etc/switchyard/switchyard.toml --listen "127.0.0.1:$port" --admin-listen none --no-watch >/dev/null
  containers+=("$(until_200 "$start" "$port")")
  "${engine[@]}" rm -f -t 5 switchyard-bench >/dev/null
  port=$(free_port)
  start=$(now_ms)
  "$root/target/release/switchyard" serve --config "$work/switchyard.toml" --listen "127.0.0.1:$port" --no-watch >/dev/null 2>&1 &
  bare=$!
  bares+=("$(until_200 "$start" "$port")")
  stop "$bare"
done
printf 'image (runtime target): %s MB\n' "$(( size / 1000000 ))"
printf 'container start -> first 200 on /hello: median %s ms (rounds: %s)\n' "$(med "${containers[*]}")" "${containers[*]}"
printf 'bare binary, warm cache -> first 200:   median %s ms (rounds: %s)\n' "$(med "${bares[*]}")" "${bares[*]}"
