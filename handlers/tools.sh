# Shared helpers for handlers/<lang>/build.sh: sourced, not run. The same
# file is written into every project `switchyard new` makes, as
# handlers/tools.sh, for the build.sh of each handler from a template; so
# what is said here holds for a project's handlers and the repo's alike.
# shellcheck shell=bash
#
# Tools installed with cargo take minutes to build on 2 cores, so each is
# installed once, pinned, into a per-version folder outside the repository
# (reused by every clone on the machine, CI included) and found there again.
SWITCHYARD_TOOLS=${SWITCHYARD_TOOLS:-$HOME/.cache/switchyard/tools}

# cargo_tool CRATE VERSION BIN FEATURES: print the path of BIN from
# CRATE@VERSION built with only FEATURES (comma-separated; a fraction of the
# default features builds several times faster), installing it with
# `cargo install --locked` first if it is not there yet.
cargo_tool() {
  local crate=$1 version=$2 bin=$3 features=$4
  local dir="$SWITCHYARD_TOOLS/$crate-$version-${features//,/-}"
  if [ ! -x "$dir/bin/$bin" ]; then
    need_cargo "installing $crate $version" || return 1
    echo "installing $crate $version ($features) into $dir (once per machine)" >&2
    cargo install --quiet --locked --root "$dir" "$crate" --version "=$version" \
      --no-default-features --features "$features" >&2 \
      || { echo "could not install $crate $version with cargo" >&2; return 1; }
  fi
  echo "$dir/bin/$bin"
}

# need_cargo WHO: fail with the one line that says how to get Rust when
# there is no cargo (WHO is the subject: "the Rust handler", "installing X").
need_cargo() {
  command -v cargo >/dev/null && return 0
  echo "$(basename "$0"): $1 needs cargo: install Rust with \`curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh\`" >&2
  return 1
}

# rust_target TARGET: make sure the Rust toolchain in use can build for
# TARGET (wasm32-wasip2), adding it with rustup when missing. The machine's
# one toolchain (the host's) builds the guests too.
rust_target() {
  local target=$1
  if command -v rustup >/dev/null; then
    rustup target list --installed | grep -x "$target" >/dev/null && return 0
    echo "adding the Rust target $target" >&2
    rustup target add "$target" >&2 || { echo "could not add the Rust target $target" >&2; return 1; }
  elif ! [ -d "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/$target" ]; then
    echo "$(basename "$0"): the Rust target $target needs rustup: install Rust with \`curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh\`" >&2
    return 1
  fi
}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# --- Shared by the C and Zig handlers: C bindings from wit/, then a core
# --- wasm module turned into a wasi:http/proxy component by the WASI adapter.

# The repository's (or a project's) root, the folder above handlers/, found
# from this file so any build.sh can source it: wit/ and build/ are there.
SWITCHYARD_ROOT=${SWITCHYARD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Pinned to the wasm-tools family the host's wasmtime links (wasmparser and
# wit-parser 0.254 in Cargo.lock), so what we encode is what the host parses.
WASM_TOOLS_VERSION=1.254.2
WIT_BINDGEN_VERSION=0.60.0
# The host's wasmtime: must equal the wasmtime version in the repository's
# Cargo.lock (a host test checks it), because the WASI adapter below comes
# from the same release. Pinned here since a user's project has no Cargo.lock.
WASMTIME_VERSION=48.0.8

# debian_packages [--check] [--for WHO] PKG...: make sure the Debian packages
# PKG are installed. Missing ones are installed with apt-get (non-interactive)
# when we are root or sudo needs no password: what the repository's own
# builds do. With --check (a user's project: its build never runs apt), or
# when installing is impossible, print one line naming WHO ("the C handler")
# and the exact install command, and fail. A no-op when all are present.
debian_packages() {
  local check="" who="this build" pkg missing=()
  while [ $# -gt 0 ]; do
    case $1 in
      --check) check=1; shift ;;
      --for) who=$2; shift 2 ;;
      *) break ;;
    esac
  done
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo="" list line
  list=$(printf '%s, ' "${missing[@]}")
  line="$(basename "$0"): $who needs ${list%, }: install them with \`sudo apt-get install ${missing[*]}\`"
  if [ -n "$check" ] || ! command -v apt-get >/dev/null; then
    echo "$line" >&2; return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || { echo "$line" >&2; return 1; }
    sudo="sudo -n"
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
    || ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    echo "could not install Debian packages: ${missing[*]}" >&2
    return 1
  fi
}

# wasi_adapter KIND: print the path of wasi_snapshot_preview1.KIND.wasm (KIND is
# proxy, command or reactor) from the crates.io crate
# wasi-preview1-component-adapter-provider at $WASMTIME_VERSION, so guests
# adapt to the WASI the host runs. In the repository (a Cargo.lock naming
# wasmtime) a different locked wasmtime is an error: bump the pin with it.
# The crate is fetched by cargo through a throwaway manifest and the file
# copied out once per machine.
wasi_adapter() {
  local kind=$1 version=$WASMTIME_VERSION lock="$SWITCHYARD_ROOT/Cargo.lock"
  if [ -f "$lock" ] && grep -qx 'name = "wasmtime"' "$lock"; then
    local locked
    locked=$(awk '/^name = "wasmtime"$/ { getline; print }' "$lock" | sed -n 's/^version = "\(.*\)"$/\1/p')
    [ "$locked" = "$version" ] \
      || { echo "tools.sh pins WASMTIME_VERSION=$version but $lock has wasmtime ${locked//$'\n'/ and }: make them equal" >&2; return 1; }
  fi
  local crate=wasi-preview1-component-adapter-provider
  local dir="$SWITCHYARD_TOOLS/$crate-$version" file="wasi_snapshot_preview1.$kind.wasm"
  if [ ! -f "$dir/$file" ]; then
    need_cargo "fetching the WASI adapter" || return 1
    echo "fetching $crate $version for the WASI $kind adapter (once per machine)" >&2
    local scratch="$SWITCHYARD_ROOT/build/adapter-fetch-$version"
    mkdir -p "$scratch/src" && : > "$scratch/src/lib.rs"
    cat > "$scratch/Cargo.toml" <<TOML
[package]
name = "adapter-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$crate = "=$version"

[workspace]
TOML
    local manifest
    manifest=$(cargo metadata --quiet --format-version 1 --manifest-path "$scratch/Cargo.toml" \
      | python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))' "$crate") \
      || { echo "could not fetch $crate $version with cargo" >&2; return 1; }
    local src
    src="$(dirname "$manifest")/artefacts/$file"
    [ -f "$src" ] || { echo "$crate $version has no artefacts/$file" >&2; return 1; }
    mkdir -p "$dir" && cp "$src" "$dir/$file.tmp" && mv "$dir/$file.tmp" "$dir/$file"
    rm -rf "$scratch"
  fi
  echo "$dir/$file"
}

# wit_bindgen_c OUT_DIR: generate C bindings for the world
# switchyard:handler/handler from the root wit/ into OUT_DIR: handler.h,
# handler.c and handler_component_type.o. When they come out the same as what
# OUT_DIR holds, OUT_DIR is left as it is (and its files keep their times), so
# a build can reuse what it made from them; anything else in OUT_DIR goes
# when the bindings change.
wit_bindgen_c() {
  local out=$1 wit_bindgen
  wit_bindgen=$(cargo_tool wit-bindgen-cli "$WIT_BINDGEN_VERSION" wit-bindgen c) || return 1
  local new="$out.new" file
  rm -rf "$new" && mkdir -p "$new"
  local log  # it names every file it writes: show that only when it fails
  log=$("$wit_bindgen" c --world switchyard:handler/handler --out-dir "$new" "$SWITCHYARD_ROOT/wit" 2>&1) \
    || { echo "$log" >&2; echo "wit-bindgen c failed on $SWITCHYARD_ROOT/wit" >&2; rm -rf "$new"; return 1; }
  for file in "$new"/*; do
    cmp -s "$file" "$out/$(basename "$file")" || { rm -rf "$out" && mv "$new" "$out"; return; }
  done
  rm -rf "$new"
}

# proxy_component CORE OUT: wrap the wasm32-wasip1 core module CORE into the
# component OUT with the WASI proxy adapter, and check that OUT exports
# wasi:http/incoming-handler, so a module that compiled but cannot serve fails here.
proxy_component() {
  local core=$1 out=$2 wasm_tools adapter
  wasm_tools=$(cargo_tool wasm-tools "$WASM_TOOLS_VERSION" wasm-tools component) || return 1
  adapter=$(wasi_adapter proxy) || return 1
  "$wasm_tools" component new "$core" --adapt "wasi_snapshot_preview1=$adapter" -o "$out.tmp" \
    || { echo "wasm-tools component new failed for $core" >&2; rm -f "$out.tmp"; return 1; }
  local world
  world=$("$wasm_tools" component wit "$out.tmp") \
    || { echo "wasm-tools component wit failed for $out.tmp" >&2; rm -f "$out.tmp"; return 1; }
  grep -q '^ *export wasi:http/incoming-handler@0\.2\.[0-9]*;' <<<"$world" \
    || { echo "$out does not export wasi:http/incoming-handler@0.2.x" >&2; rm -f "$out.tmp"; return 1; }
  mv "$out.tmp" "$out"
}

# --- Zig, shared by handlers/zig/build.sh and the Zig handler template.
ZIG_VERSION=0.17.0
# Zig's global cache (the wasi-libc it compiles, the std it caches), one per
# machine and version beside the venv, so a new project does not compile
# wasi-libc again: pass it as --global-cache-dir.
# shellcheck disable=SC2034 # used by the scripts that source this file
ZIG_GLOBAL_CACHE="$SWITCHYARD_TOOLS/ziglang-$ZIG_VERSION-cache"

# zig_tool: print the path of the zig binary of the PyPI package
# ziglang==$ZIG_VERSION, installing it first into the venv
# $SWITCHYARD_TOOLS/ziglang-$ZIG_VERSION (one installer at a time). Without a
# python3 that has venv, print the one line saying what to install and fail.
zig_tool() {
  local dir="$SWITCHYARD_TOOLS/ziglang-$ZIG_VERSION" zig lock
  zig=$(compgen -G "$dir/lib/python3*/site-packages/ziglang/zig" | head -n1)
  if [ -z "$zig" ] || [ "$("$zig" version 2>/dev/null)" != "$ZIG_VERSION" ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || {
      echo "$(basename "$0"): Zig $ZIG_VERSION (from PyPI) needs python3 with venv: install them with \`sudo apt-get install python3 python3-venv\`" >&2
      return 1
    }
    mkdir -p "$SWITCHYARD_TOOLS"
    exec {lock}>"$dir.lock"
    flock "$lock"
    zig=$(compgen -G "$dir/lib/python3*/site-packages/ziglang/zig" | head -n1)
    if [ -z "$zig" ] || [ "$("$zig" version 2>/dev/null)" != "$ZIG_VERSION" ]; then
      echo "installing ziglang $ZIG_VERSION from PyPI into $dir (once per machine)" >&2
      rm -rf "$dir"
      python3 -m venv "$dir" >&2 \
        && "$dir/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" >&2 \
        || { rm -rf "$dir"; exec {lock}>&-; echo "could not install ziglang $ZIG_VERSION from PyPI" >&2; return 1; }
      zig=$(compgen -G "$dir/lib/python3*/site-packages/ziglang/zig" | head -n1)
      [ -n "$zig" ] && [ "$("$zig" version)" = "$ZIG_VERSION" ] \
        || { exec {lock}>&-; echo "the ziglang package in $dir has no zig $ZIG_VERSION" >&2; return 1; }
    fi
    exec {lock}>&-
  fi
  echo "$zig"
}

# handler_args DIR MARKER OUT_DIR [NAME...]: the common arguments of a
# handlers/<lang>/build.sh. Sets $out (OUT_DIR, created, absolute) and $names
# (the named handlers, or every folder of DIR holding a file matching MARKER),
# and dies on a named handler that has no such file.
handler_args() {
  local dir=$1 marker=$2 name
  shift 2
  [ $# -ge 1 ] || die "usage: $(basename "$0") OUT_DIR [NAME...]"
  mkdir -p "$1" && out=$(cd "$1" && pwd)
  shift
  names=("$@")
  if [ ${#names[@]} -eq 0 ]; then
    for name in "$dir"/*/; do
      compgen -G "$name$marker" >/dev/null && names+=("$(basename "$name")")
    done
    [ ${#names[@]} -gt 0 ] || die "no handlers (folders with $marker) under $dir"
  fi
  for name in "${names[@]}"; do
    compgen -G "$dir/$name/$marker" >/dev/null || die "no handler named '$name' under $dir (no $marker)"
  done
}

# --- Shared by the Python and JavaScript handlers, the repository's and those
# --- of a project made by `switchyard new handler`, which gets this file as is.

# componentize-py, which builds every Python handler, pinned here once.
COMPONENTIZE_PY_VERSION=0.25.1

# componentize_py: print the path of componentize-py $COMPONENTIZE_PY_VERSION,
# installing it from PyPI first, when missing, into a virtualenv of its own,
# $SWITCHYARD_TOOLS/componentize-py-VERSION. A virtualenv left half-made by an
# interrupted install is started over; a lock keeps two builds from both
# installing it.
componentize_py() {
  local version=$COMPONENTIZE_PY_VERSION
  local venv="$SWITCHYARD_TOOLS/componentize-py-$version"
  if [ "$(_venv_version "$venv" componentize-py)" != "$version" ]; then
    if ! { command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; }; then
      _needs "the Python handler needs python3 with its venv module" "sudo apt-get install python3 python3-venv"
      return 1
    fi
    mkdir -p "$SWITCHYARD_TOOLS"
    (
      if command -v flock >/dev/null; then flock 9; fi
      [ "$(_venv_version "$venv" componentize-py)" = "$version" ] && exit 0
      echo "installing componentize-py $version into $venv (once per machine)" >&2
      python3 -m venv --clear "$venv" >&2 \
        || { echo "could not create a virtualenv at $venv" >&2; exit 1; }
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "componentize-py==$version" >&2 \
        || { echo "could not install componentize-py $version from PyPI" >&2; exit 1; }
      [ "$(_venv_version "$venv" componentize-py)" = "$version" ] \
        || { echo "componentize-py $version did not install into $venv" >&2; exit 1; }
    ) 9>"$venv.lock" || return 1
  fi
  echo "$venv/bin/componentize-py"
}

# _venv_version VENV PACKAGE: the version of PACKAGE installed in VENV, or nothing.
_venv_version() {
  "$1/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$2" 2>/dev/null || true
}

# _needs WHAT COMMAND: the one line a build prints when the user must install
# something: "build.sh: WHAT: install them with `COMMAND`".
_needs() {
  echo "$(basename "$0"): $1: install them with \`$2\`" >&2
}

# node 20 is the first with import.meta.resolve, which componentize.mjs uses.
NODE_MAJOR_MIN=20

# node_modules DIR: make DIR/node_modules (the JavaScript toolchain, pinned by
# DIR/package-lock.json) current, with `npm ci` only when it was not installed
# from this exact lockfile. Says in one line what to install when node
# ($NODE_MAJOR_MIN or later) or npm is missing.
node_modules() {
  local dir=$1 major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)
  if ! command -v npm >/dev/null || [ "${major:-0}" -lt "$NODE_MAJOR_MIN" ]; then
    local what="the JavaScript handler needs node $NODE_MAJOR_MIN or later and npm" candidate
    candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9][0-9]*\)\..*/\1/p')
    if [ "${candidate:-0}" -ge "$NODE_MAJOR_MIN" ]; then
      _needs "$what" "sudo apt-get install nodejs npm"
    else
      echo "$(basename "$0"): $what${major:+ (found node $major)}: install node $NODE_MAJOR_MIN from https://nodejs.org/en/download${candidate:+ (the nodejs package here is $candidate)}" >&2
    fi
    return 1
  fi
  local stamp="$dir/node_modules/.switchyard-lock.sha256" sum
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) || return 1
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$sum" ]; then
    echo "installing the JavaScript toolchain with npm ci (from $dir/package-lock.json)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) \
      || { echo "npm ci failed in $dir" >&2; return 1; }
    echo "$sum" > "$stamp"
  fi
}

# inputs_sum PATH...: one sha256 over the files under each PATH (a file or a
# folder; node_modules/, __pycache__/ and target/ left out), names and
# contents, so a build can tell that nothing it reads has changed.
inputs_sum() {
  find "$@" \( -name node_modules -o -name __pycache__ -o -name target \) -prune -o -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

# up_to_date OUT STAMP KEY PATH...: true when OUT exists and STAMP records
# the inputs it was built from: KEY (the tool and its settings) and every
# file under each PATH (inputs_sum). Otherwise false, STAMP removed, and
# $inputs set for `built_from STAMP` to record once the build succeeded.
# Python and JavaScript builds take seconds each (an interpreter is frozen
# into every component), so a build of unchanged sources is skipped.
up_to_date() {
  local out=$1 stamp=$2 key=$3
  shift 3
  inputs=$(echo "$key $(inputs_sum "$@")" | sha256sum | cut -d' ' -f1)
  if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$inputs" ]; then
    return 0
  fi
  rm -f "$stamp"
  return 1
}

# built_from STAMP: record $inputs (set by up_to_date) in STAMP.
built_from() { mkdir -p "$(dirname "$1")" && echo "$inputs" > "$1"; }

# --- What a project's handler templates run (host/templates/handler/*/build.sh):
# --- one function per toolchain, shared by the 0.2 and 0.3 variants.

# rust_handler DIR NAME: build the cdylib crate in DIR for wasm32-wasip2 and
# write $SWITCHYARD_ROOT/build/NAME.wasm atomically. cargo's work files go
# to $CARGO_TARGET_DIR when set, else DIR/target.
rust_handler() {
  local dir=$1 name=$2 target=wasm32-wasip2
  need_cargo "the Rust handler" || return 1
  rust_target "$target" || return 1
  local target_dir=${CARGO_TARGET_DIR:-$dir/target}
  [[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
  (cd "$dir" && cargo build --release --target "$target" --target-dir "$target_dir") || return 1
  # cargo names the library after the crate with `-` as `_`.
  local built="$target_dir/$target/release/${name//-/_}.wasm" out="$SWITCHYARD_ROOT/build/$name.wasm"
  mkdir -p "$SWITCHYARD_ROOT/build"
  cp "$built" "$out.tmp" && mv "$out.tmp" "$out" || return 1
  echo "built $out" >&2
}

# python_handler DIR NAME WORLD WIT: componentize DIR's `app` module against
# WORLD in the WIT folder WIT into $SWITCHYARD_ROOT/build/NAME.wasm, unless
# nothing it reads has changed (CPython is frozen into every build).
python_handler() {
  local dir=$1 name=$2 world=$3 wit=$4 componentize_py
  local out="$SWITCHYARD_ROOT/build/$name.wasm" work="$SWITCHYARD_ROOT/build/$name"
  componentize_py=$(componentize_py) || return 1
  if up_to_date "$out" "$work/inputs.sha256" "$componentize_py $world" "$dir" "$wit"; then
    echo "build/$name.wasm is up to date" >&2
    return 0
  fi
  # componentize-py runs app.py at build time and Python leaves __pycache__/
  # beside what it imports, so it builds a copy of DIR in $work/src (its
  # errors name the file as the guest saw it, /0/app.py, either way). The
  # bindings go to a temporary folder. An app.py that does not import (a
  # syntax error, say) fails here with Python's own traceback;
  # RUST_LIB_BACKTRACE=0 keeps the tool's Rust stack out of it.
  rm -rf "$work/src" && mkdir -p "$work/src"
  tar -C "$dir" --exclude=__pycache__ -cf - . | tar -C "$work/src" -xf -
  RUST_LIB_BACKTRACE=0 "$componentize_py" -d "$wit" -w "$world" componentize app -p "$work/src" -o "$out.tmp" \
    || { rm -f "$out.tmp"; return 1; }
  mv "$out.tmp" "$out"
  built_from "$work/inputs.sha256"
  echo "built build/$name.wasm" >&2
}
