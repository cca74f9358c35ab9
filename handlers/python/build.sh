#!/usr/bin/env bash
# Build the Python handlers: handlers/python/<name>/app.py -> OUT_DIR/<name>.wasm
#
#   handlers/python/build.sh OUT_DIR [NAME...]
#
# componentize-py (pinned in handlers/tools.sh, COMPONENTIZE_PY_VERSION) is
# installed from PyPI into a virtualenv of its own,
# $SWITCHYARD_TOOLS/componentize-py-VERSION (~/.cache/switchyard/tools by
# default), the first time, and reused after that; bumping the pin makes a
# fresh virtualenv.
# Each handler is a folder holding an `app` module. Its world is the p2
# switchyard:handler/handler (exporting wasi:http/incoming-handler, WIT in the
# root wit/) unless the folder holds a file `world` naming another: one world
# name on its first line that is not a `#` comment. The worlds a file may
# name, and the WIT folder each comes from, are in wit_dir_of below
# (switchyard:handler-p3/handler, the p3 world, is wit/p3/; each package's
# handler-with-state adds wasi:keyvalue and wasi:config, which a Python
# component then imports whether it calls them or not). Bindings are
# generated from that folder at build time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/handlers/tools.sh"

DEFAULT_WORLD=switchyard:handler/handler

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [NAME...]"
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift

# Installed into $SWITCHYARD_TOOLS the first time, reused after that, by
# these handlers and by every project's (see componentize_py in tools.sh).
componentize_py=$(componentize_py) || exit 1

# world_of DIR: the world the handler in DIR is built against.
world_of() {
  local file="$1/world" world
  [ -f "$file" ] || { echo "$DEFAULT_WORLD"; return 0; }
  world=$(grep -v '^[[:space:]]*\(#\|$\)' "$file" | head -n 1 | tr -d '[:space:]')
  [ -n "$world" ] || die "$file names no world"
  echo "$world"
}

# wit_dir_of WORLD: the WIT folder defining WORLD, relative to handlers/python.
wit_dir_of() {
  case $1 in
    switchyard:handler/handler | switchyard:handler/handler-with-state) echo ../../wit ;;
    switchyard:handler-p3/handler | switchyard:handler-p3/handler-with-state) echo ../../wit/p3 ;;
    *) die "unknown world '$1' (known: switchyard:handler/handler, switchyard:handler/handler-with-state, switchyard:handler-p3/handler, switchyard:handler-p3/handler-with-state)" ;;
  esac
}

if [ $# -eq 0 ]; then
  names=()
  for dir in "$here"/*/; do
    [ -f "$dir/app.py" ] && names+=("$(basename "$dir")")
  done
  [ ${#names[@]} -gt 0 ] || die "no handlers (folders with app.py) under $here"
else
  names=("$@")
fi

for name in "${names[@]}"; do
  dir="$here/$name"
  [ -f "$dir/app.py" ] || die "no Python handler named '$name' (expected $dir/app.py)"
  world=$(world_of "$dir")
  wit=$(wit_dir_of "$world")
  stamp="$root/build/python/$name.inputs.sha256"
  if up_to_date "$out/$name.wasm" "$stamp" "$componentize_py $world" "$dir" "$here/$wit"; then
    echo "componentize-py: $name is up to date" >&2
    continue
  fi
  echo "componentize-py: $name ($world) -> $out/$name.wasm" >&2
  # Run from handlers/python so the WIT path is relative (../../wit or
  # ../../wit/p3). The bindings are generated into a temporary folder
  # (componentize-py's default), never into the source tree. An app.py that
  # does not import fails with Python's traceback; RUST_LIB_BACKTRACE=0 keeps
  # the tool's own Rust stack out of it.
  (cd "$here" && RUST_LIB_BACKTRACE=0 "$componentize_py" -d "$wit" -w "$world" \
      componentize app -p "$name" -o "$out/$name.wasm.tmp") \
    || { rm -f "$out/$name.wasm.tmp"; die "componentize-py failed for '$name'"; }
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
  built_from "$stamp"
done
