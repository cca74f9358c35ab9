#!/usr/bin/env bash
# Two Switchyard replicas sharing one Redis, as containers on this machine:
# the scale-out of k8s/ (a Deployment of two pods and k8s/redis.yaml)
# without a cluster. Each replica runs as the Deployment runs its container
# (read-only root, uid 10001, no capabilities, deploy/switchyard.toml
# mounted where --config looks, its own HOSTNAME), on the host network with
# ports of its own; their `default` store is the Redis container, so a
# counter incremented through both counts once per request.
#
#   deploy/replicas.sh up     build what is missing (deploy/image.sh), start
#                             switchyard-redis, switchyard-a and switchyard-b,
#                             and wait until both replicas are ready
#   deploy/replicas.sh down   stop and remove them
#
# Ports (environment): REDIS_PORT (6380), A_PORT (8081), A_ADMIN (9191),
# B_PORT (8082), B_ADMIN (9192). Then: curl http://127.0.0.1:8081/kv/counter
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

REDIS_PORT=${REDIS_PORT:-6380}
A_PORT=${A_PORT:-8081} A_ADMIN=${A_ADMIN:-9191}
B_PORT=${B_PORT:-8082} B_ADMIN=${B_ADMIN:-9192}
IMAGE=${IMAGE:-switchyard:local}
REDIS_IMAGE=${REDIS_IMAGE:-switchyard-redis:local}

say() { echo "replicas.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The engine and the settings it needs, as image.sh finds them.
{ read -r -a engine; read -r conf; } < <("$here/image.sh" engine) || die "no container engine"
[ ${#engine[@]} -gt 0 ] || die "no container engine"
[ -z "$conf" ] || export CONTAINERS_CONF="$conf"

exists() { "${engine[@]}" image exists "$1" 2>/dev/null || "${engine[@]}" image inspect "$1" >/dev/null 2>&1; }

down() {
  local name
  for name in switchyard-a switchyard-b switchyard-redis; do
    "${engine[@]}" rm -f -t 25 "$name" >/dev/null 2>&1 || true
  done
}

# replica NAME PORT ADMIN: one Switchyard container, as the Deployment's.
replica() {
  "${engine[@]}" run -d --name "$1" --network host --read-only --user 10001:10001 --cap-drop ALL \
    -v "$here/switchyard.toml:/etc/switchyard/switchyard.toml:ro" \
    -e "SWITCHYARD_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" -e "HOSTNAME=$1" \
    "$IMAGE" --config /etc/switchyard/switchyard.toml --listen "0.0.0.0:$2" \
    --admin-listen "0.0.0.0:$3" --shutdown-timeout 20 --no-watch >/dev/null
}

up() {
  exists "$IMAGE" || "$here/image.sh" build --tag "$IMAGE"
  exists "$REDIS_IMAGE" || "$here/image.sh" build --redis --tag "$REDIS_IMAGE"
  down
  "${engine[@]}" run -d --name switchyard-redis --network host --read-only --cap-drop ALL \
    "$REDIS_IMAGE" --bind 127.0.0.1 --port "$REDIS_PORT" >/dev/null
  replica switchyard-a "$A_PORT" "$A_ADMIN"
  replica switchyard-b "$B_PORT" "$B_ADMIN"
  local admin
  for admin in "$A_ADMIN" "$B_ADMIN"; do
    for _ in $(seq 1 600); do
      curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && continue 2
      sleep 0.1
    done
    "${engine[@]}" logs switchyard-a >&2 || true
    die "a replica was not ready within 60 s (admin port $admin)"
  done
  say "ready: http://127.0.0.1:$A_PORT and http://127.0.0.1:$B_PORT share Redis on 127.0.0.1:$REDIS_PORT"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) die "usage: deploy/replicas.sh up | down" ;;
esac
