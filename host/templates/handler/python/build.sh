#!/usr/bin/env bash
# Build this handler: app.py -> $SWITCHYARD_ROOT/build/{{name}}.wasm, with
# componentize-py against the project's wit/ (world switchyard:handler/handler).
# Run as ./build.sh from this folder; `switchyard build {{name}}` does that.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tools.sh
. "$here/../tools.sh"  # sets SWITCHYARD_ROOT, the folder above handlers/

# componentize-py is installed into $SWITCHYARD_TOOLS the first time.
python_handler "$here" {{name}} switchyard:handler/handler "$SWITCHYARD_ROOT/wit"
