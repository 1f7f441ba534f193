#!/usr/bin/env bash
# Install mmac's OpenMMLab stack on an offline machine that has its own torch (e.g. a GPU image), from the
# folder made by tools/fetch_offline_wheels.sh; nothing is fetched and the image's packages are untouched.
#
#   tools/offline_install.sh WHEELDIR SITE [O0|O1|O2|O3]
#   export PYTHONPATH=SITE:<repository root>
#
# The wheels go into SITE (pip --target); mmcv 2.1.0 is built from its source distribution with CPU ops
# (tools/build_mmcv_wheel.sh, about 90 s on 16 cores at -O0), with setuptools 69.5.1 and wheel on the path
# for the build only. numpy 2 needs no downgrade: mmac restores the one numpy 1 alias mmagic uses (mmac/_compat.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3}"
[ $# -ge 2 ] || { echo "usage: tools/offline_install.sh WHEELDIR SITE [O0|O1|O2|O3]" >&2; exit 2; }
wheels="$1"; site="$2"; opt="${3:-O0}"
[ -d "$wheels" ] || { echo "offline_install.sh: wheel folder '$wheels' not found (make it with tools/fetch_offline_wheels.sh)" >&2; exit 2; }
log() { echo "[offline-install $(date +%H:%M:%S)] $*"; }
pip=("$python_bin" -m pip --disable-pip-version-check install -q --no-index --no-deps --no-compile --upgrade)

# Build tools and the test runner (tools/device_check.sh adds pytest where the image lacks it) stay out.
mapfile -t runtime < <(ls "$wheels"/*.whl | grep -v -i -E '/(setuptools|wheel|pytest|pluggy|iniconfig|pygments)-[0-9]')
[ "${#runtime[@]}" -gt 0 ] || { echo "offline_install.sh: no wheels in '$wheels'" >&2; exit 2; }
log "installing ${#runtime[@]} wheels into $site"
"${pip[@]}" --target "$site" "${runtime[@]}"

if PYTHONPATH="$site" "$python_bin" -c "import sys, mmcv, mmcv.ops; sys.exit(mmcv.__version__ != '2.1.0')" >/dev/null 2>&1; then
  log "mmcv 2.1.0 with compiled ops is already importable: not building it"
else
  sdist="$(ls "$wheels"/mmcv-2.1.0.tar.gz)"
  build_site="$(mktemp -d)"
  trap 'rm -rf "$build_site"' EXIT
  "${pip[@]}" --target "$build_site" "$(ls "$wheels"/setuptools-69.5.1-*.whl)" "$(ls "$wheels"/wheel-*.whl)"
  log "building mmcv 2.1.0 (CPU ops, -$opt)"
  whl="$(PYTHONPATH="$build_site:$site" PYTHON="$python_bin" "$root/tools/build_mmcv_wheel.sh" "$sdist" "$build_site/dist" "$opt")"
  "${pip[@]}" --target "$site" "$whl"
fi
PYTHONPATH="$site:$root" "$python_bin" -c "import mmac._compat as c; c.check_stack(require_mmagic=True); import mmac, numpy, torch; print(f'mmac: stack OK (torch {torch.__version__}, numpy {numpy.__version__})')"
log "done: export PYTHONPATH=$site:$root"
