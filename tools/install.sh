#!/usr/bin/env bash
# Idempotent install of mmac and its pinned OpenMMLab stack into .venv at the repository root.
#
#   tools/install.sh [--wheelhouse DIR] [--opt-level O0|O1|O2|O3] [--force]
#
# What it does (a second run with nothing changed finishes in about a second):
#   1. creates .venv with the python found as $PYTHON (default python3);
#   2. installs torch/torchvision pinned in requirements/constraints.txt;
#   3. finds an mmcv 2.1.0 wheel (in --wheelhouse / $MMAC_WHEELHOUSE, then in the wheel cache
#      $MMAC_CACHE, default ~/.cache/mmac/wheels/<python>-torch<version>/), or builds one from the
#      registry's source distribution (C++20 flag patched in, CPU ops, -O0 by default) and caches it;
#   4. installs mmac in editable mode with the dev extras, every version fixed by the constraints file.
# MMAC_MMCV_OPT sets the default of --opt-level (O0).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
constraints="$root/requirements/constraints.txt"
python_bin="${PYTHON:-python3}"
wheelhouse="${MMAC_WHEELHOUSE:-}"
opt_level="${MMAC_MMCV_OPT:-O0}"
force=0

while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) wheelhouse="$2"; shift 2 ;;
    --wheelhouse=*) wheelhouse="${1#*=}"; shift ;;
    --opt-level) opt_level="$2"; shift 2 ;;
    --opt-level=*) opt_level="${1#*=}"; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (allowed: --wheelhouse DIR, --opt-level O0|O1|O2|O3, --force)" >&2; exit 2 ;;
  esac
done
case "$opt_level" in O0|O1|O2|O3) ;; *) echo "install.sh: --opt-level must be one of O0 O1 O2 O3, got '$opt_level'" >&2; exit 2 ;; esac
if [ -n "$wheelhouse" ] && [ ! -d "$wheelhouse" ]; then
  echo "install.sh: wheelhouse '$wheelhouse' is not a directory" >&2; exit 2
fi

# Fast path: nothing that defines the environment changed since the last successful install.
stamp="$venv/.mmac-install-stamp"
fingerprint="$(cat "$constraints" "$root/pyproject.toml" "$0" "$root/tools/build_mmcv_wheel.sh" | sha256sum | cut -d' ' -f1)"
if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && [ -x "$venv/bin/python" ]; then
  echo "mmac: environment up to date ($venv)"
  exit 0
fi

log() { echo "[install $(date +%H:%M:%S)] $*"; }
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $python_bin"
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)
# -q keeps the log readable; a failure still prints pip's error.
"${pip[@]}" install -q --upgrade "pip>=23" wheel

log "installing torch and torchvision (pinned)"
"${pip[@]}" install -q -c "$constraints" torch torchvision

pyver="$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
torchver="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')"
cache="${MMAC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmac}/wheels/${pyver}-torch${torchver}"
mkdir -p "$cache"

have_mmcv_wheel() { ls "$1"/mmcv-2.1.0-"$pyver"-*.whl >/dev/null 2>&1; }
find_links=()
if [ -n "$wheelhouse" ]; then find_links+=(--find-links "$wheelhouse"); fi
find_links+=(--find-links "$cache")

if "$py" -c "import sys, mmcv, mmcv.ops; sys.exit(mmcv.__version__ != '2.1.0')" >/dev/null 2>&1; then
  log "mmcv 2.1.0 with compiled ops is already installed"
elif { [ -n "$wheelhouse" ] && have_mmcv_wheel "$wheelhouse"; } || have_mmcv_wheel "$cache"; then
  log "using a prebuilt mmcv 2.1.0 wheel"
else
  log "no mmcv 2.1.0 wheel for $pyver/torch $torchver: building it from source (-$opt_level; ~15 min on 2 cores at -O0)"
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  # mmcv 2.1.0's setup.py needs setuptools < 70 (pkg_resources API); torch wants >= 77 at run time, so the
  # old one is only installed for this build and replaced by the pinned one in the next step.
  log "installing setuptools 69.5.1 for the build (pip will warn that torch wants >= 77: expected, restored below)"
  "${pip[@]}" install -q "setuptools==69.5.1" ninja
  # --no-build-isolation: preparing the sdist's metadata runs its setup.py, which needs the old setuptools above.
  "${pip[@]}" download -q --no-deps --no-binary :all: --no-build-isolation -d "$build" "mmcv==2.1.0"
  whl="$(PYTHON="$py" "$root/tools/build_mmcv_wheel.sh" "$build/mmcv-2.1.0.tar.gz" "$cache" "$opt_level")"
  log "cached $(basename "$whl") in $cache"
fi

log "installing mmac (editable) and the pinned stack"
"${pip[@]}" install -q -c "$constraints" "${find_links[@]}" -e "$root[dev]"

log "checking the stack"
"$py" -c "import mmac._compat as c; c.check_stack(require_mmagic=True); print('mmac: stack OK')"
echo "$fingerprint" > "$stamp"
log "done: activate with 'source .venv/bin/activate'"
