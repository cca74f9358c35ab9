#!/usr/bin/env bash
# Build Switchyard's container image and run it, with podman or docker,
# on machines with a registry or without one.
#
#   deploy/image.sh build [--full|--redis] [--tag TAG]   build the image
#       (default target `runtime`: target/release/switchyard and
#       build/handlers/ of this checkout, which must be built; --full: the
#       whole multi-stage build from source; --redis: deploy/redis/'s
#       Debian redis-server, tagged switchyard-redis:local)
#   deploy/image.sh run [--tag TAG] [ARG...]      run it as k8s/deployment.yaml
#       does (read-only root, uid 10001, no capabilities, the config mounted
#       from deploy/switchyard.toml, host network); ARGs replace the image's
#   deploy/image.sh base                          make sure the base exists
#   deploy/image.sh engine                        print the engine's command line
#       (first line, words separated by spaces) and the CONTAINERS_CONF it
#       needs (second line, empty if none), for scripts and tests
#
# The base images (debian:bookworm-slim, and for --full rust:1.95-bookworm and
# node:20-bookworm-slim) are pulled when a registry serves them. When none
# does, the runtime base is made with debootstrap from Debian's packages,
# cached as a tarball in $SWITCHYARD_IMAGES (~/.cache/switchyard/images) and
# imported as localhost/switchyard-base:bookworm. (--full needs Rust and node
# bases too, which debootstrap does not make: pass BUILD_BASE=, NODE_BASE= in
# the environment to use local ones.)
#
# Podman on some machines needs settings it lacks by default; each is tried
# only when a trial container fails without it, and said when applied:
#   - [containers] default_ulimits = [] (setting rlimits is not permitted);
#   - [engine] cgroup_manager = "cgroupfs" (no systemd);
#   - --runtime /usr/bin/runc (crun refuses hybrid cgroups).
# They go into $SWITCHYARD_IMAGES/containers.conf (CONTAINERS_CONF), never
# into /etc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

SWITCHYARD_IMAGES=${SWITCHYARD_IMAGES:-$HOME/.cache/switchyard/images}
TAG=switchyard:local
REDIS_TAG=switchyard-redis:local
LOCAL_BASE=localhost/switchyard-base:bookworm
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "image.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The engine: podman or docker, whichever answers `info`.
engine=()
find_engine() {
  local candidate
  for candidate in podman docker; do
    if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
      engine=("$candidate")
      return 0
    fi
  done
  die "no container engine can run here: install podman (\`sudo apt-get install podman runc\`) or docker"
}

# base: the runtime base image's name, pulling or making it.
base() {
  if [ -n "${RUNTIME_BASE:-}" ]; then echo "$RUNTIME_BASE"; return 0; fi
  if "${engine[@]}" image exists "$LOCAL_BASE" 2>/dev/null \
    || "${engine[@]}" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    echo "$LOCAL_BASE"; return 0
  fi
  if "${engine[@]}" pull -q debian:bookworm-slim >/dev/null 2>&1; then
    echo debian:bookworm-slim; return 0
  fi
  local tarball="$SWITCHYARD_IMAGES/debian-$DEBIAN_SUITE-minbase.tar"
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null \
      || die "debian:bookworm-slim cannot be pulled and debootstrap is missing: \`sudo apt-get install debootstrap\`"
    say "debian:bookworm-slim cannot be pulled: making a Debian $DEBIAN_SUITE base with debootstrap (once per machine)"
    local rootfs
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-rootfs.XXXXXX")
    debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >&2 \
      || { rm -rf "$rootfs"; die "debootstrap failed"; }
    # A machine whose egress goes through a proxy with its own certificate
    # authority (installed in /usr/local/share/ca-certificates) passes it on,
    # so builds on this base reach crates.io, PyPI and npm as the host does.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      say "adding this machine's own certificate authorities to the base: $(cd /usr/local/share/ca-certificates && echo *.crt)"
      cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
      chroot "$rootfs" update-ca-certificates >/dev/null || { rm -rf "$rootfs"; die "update-ca-certificates failed in the base"; }
    fi
    # What an image does not need: package lists and caches, docs.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    mkdir -p "$SWITCHYARD_IMAGES"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  "${engine[@]}" import "$tarball" "$LOCAL_BASE" >/dev/null || die "could not import $tarball"
  echo "$LOCAL_BASE"
}

# settle IMAGE: find the podman settings this machine needs (see the top),
# adding one at a time while a trial container of IMAGE fails.
settle() {
  [ "${engine[0]}" = podman ] || return 0
  local conf="$SWITCHYARD_IMAGES/containers.conf" err settings=""
  err=$(mktemp)
  trial() { "${engine[@]}" run --rm --network host --entrypoint /bin/true "$1" >/dev/null 2>"$err"; }
  apply() {
    settings+=$1
    mkdir -p "$SWITCHYARD_IMAGES"
    printf '%b' "$settings" >"$conf.tmp" && mv "$conf.tmp" "$conf"
    export CONTAINERS_CONF="$conf"
  }
  if ! trial "$1" && grep -q 'rlimit' "$err"; then
    apply '[containers]\ndefault_ulimits = []\n\n'
    say "podman may not set rlimits here: applying [containers] default_ulimits = [] ($conf)"
  fi
  if ! trial "$1" && grep -qi 'cgroup' "$err"; then
    apply '[engine]\ncgroup_manager = "cgroupfs"\n'
    say "applying [engine] cgroup_manager = \"cgroupfs\" ($conf)"
  fi
  if ! trial "$1" && [ -x /usr/bin/runc ] && grep -qi 'crun' "$err"; then
    engine+=(--runtime /usr/bin/runc)
    say "crun cannot run here: applying --runtime /usr/bin/runc"
  fi
  if ! trial "$1"; then
    cat "$err" >&2
    rm -f "$err"
    die "podman cannot run a container here, even with the settings above"
  fi
  rm -f "$err"
}

build() {
  local full="" redis="" tag=$TAG
  while [ $# -gt 0 ]; do
    case $1 in
      --full) full=1; shift ;;
      --redis) redis=1; [ "$tag" != "$TAG" ] || tag=$REDIS_TAG; shift ;;
      --tag) tag=$2; shift 2 ;;
      *) die "build: unknown argument $1" ;;
    esac
  done
  local runtime_base
  runtime_base=$(base)
  settle "$runtime_base"
  local started=$SECONDS args=(--build-arg "RUNTIME_BASE=$runtime_base" -t "$tag")
  [ -z "${BUILD_BASE:-}" ] || args+=(--build-arg "BUILD_BASE=$BUILD_BASE")
  [ -z "${NODE_BASE:-}" ] || args+=(--build-arg "NODE_BASE=$NODE_BASE")
  if [ -n "$redis" ]; then
    "${engine[@]}" build --build-arg "RUNTIME_BASE=$runtime_base" -t "$tag" "$here/redis" >&2 \
      || die "the Redis image build failed"
  elif [ -n "$full" ]; then
    # BuildKit reads Dockerfile.dockerignore by itself; podman is told.
    [ "${engine[0]}" != podman ] || args+=(--ignorefile "$here/Dockerfile.dockerignore")
    "${engine[@]}" build "${args[@]}" -f "$here/Dockerfile" --target full "$root" >&2 || die "the image build failed"
  else
    # A context of just what the runtime target copies: not target/'s gigabytes.
    local binary="${SWITCHYARD_BINARY:-$root/target/release/switchyard}" context
    [ -x "$binary" ] || die "$binary is missing: cargo build --release -p switchyard (or set SWITCHYARD_BINARY)"
    compgen -G "$root/build/handlers/*.wasm" >/dev/null || die "build/handlers/ is empty: ./build-handlers.sh"
    context=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-context.XXXXXX")
    mkdir -p "$context/target/release" "$context/build" "$context/deploy"
    cp "$binary" "$context/target/release/switchyard"
    cp -r "$root/build/handlers" "$context/build/handlers"
    cp "$here/switchyard.toml" "$here/Dockerfile" "$context/deploy/"
    # The context's own copy of the Dockerfile, so the ignore file beside
    # deploy/Dockerfile (which leaves target/ and build/ out of the full
    # build) does not apply to what this build copies.
    "${engine[@]}" build "${args[@]}" -f "$context/deploy/Dockerfile" --target runtime "$context" >&2 \
      || { rm -rf "$context"; die "the image build failed"; }
    rm -rf "$context"
  fi
  say "built $tag in $(( SECONDS - started )) s"
}

# run [--tag TAG] [ARG...]: as k8s/deployment.yaml runs the container.
run() {
  local tag=$TAG
  if [ "${1:-}" = --tag ]; then tag=$2; shift 2; fi
  settle "$tag"
  exec "${engine[@]}" run --rm --network host --read-only --user 10001:10001 --cap-drop ALL \
    -v "$here/switchyard.toml:/etc/switchyard/switchyard.toml:ro" \
    -e "SWITCHYARD_REDIS_URL=${SWITCHYARD_REDIS_URL:-redis://127.0.0.1:6379/0}" \
    "$tag" "$@"
}

command=${1:-}
[ $# -eq 0 ] || shift
find_engine
case $command in
  build) build "$@" ;;
  run) run "$@" ;;
  base) base ;;
  engine)
    settle "$(base)"
    echo "${engine[*]}"
    echo "${CONTAINERS_CONF:-}"
    ;;
  *) die "usage: deploy/image.sh build [--full] [--tag TAG] | run [--tag TAG] [ARG...] | base | engine" ;;
esac
