#!/usr/bin/env bash
# Build the Python handlers: handlers/python/<name>/app.py -> OUT_DIR/<name>.wasm
#
#   handlers/python/build.sh OUT_DIR [NAME...]
#
# componentize-py (pinned below) is installed from PyPI into a virtualenv of its
# own, build/venv/componentize-py-VERSION (git-ignored), the first time, and
# reused after that; bumping the pin makes a fresh virtualenv.
# Each handler is a folder holding an `app` module that exports
# wasi:http/incoming-handler; bindings come from the root wit/ at build time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/handlers/tools.sh"

COMPONENTIZE_PY_VERSION=0.25.1
WORLD=switchyard:handler/handler

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [NAME...]"
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift

venv="$root/build/venv/componentize-py-$COMPONENTIZE_PY_VERSION"
componentize_py="$venv/bin/componentize-py"

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null
}

if [ "$(installed_version || true)" != "$COMPONENTIZE_PY_VERSION" ]; then
  echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv" >&2
  python=$(command -v python3) || die "python3 is needed to create $venv"
  # --clear: a half-made virtualenv from an interrupted install is started over.
  "$python" -m venv --clear "$venv" || die "could not create a virtualenv at $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION" \
    || die "could not install componentize-py $COMPONENTIZE_PY_VERSION from PyPI"
  [ "$(installed_version || true)" = "$COMPONENTIZE_PY_VERSION" ] \
    || die "componentize-py $COMPONENTIZE_PY_VERSION did not install into $venv"
fi

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
  echo "componentize-py: $name -> $out/$name.wasm" >&2
  # Run from handlers/python so the WIT path is the relative ../../wit. The
  # bindings are generated into a temporary folder (componentize-py's
  # default), never into the source tree.
  (cd "$here" && "$componentize_py" -d ../../wit -w "$WORLD" \
      componentize app -p "$name" -o "$out/$name.wasm.tmp") \
    || { rm -f "$out/$name.wasm.tmp"; die "componentize-py failed for '$name'"; }
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
done
