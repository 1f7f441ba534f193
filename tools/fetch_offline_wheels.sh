#!/usr/bin/env bash
# Download, on a machine that reaches the package registry, what an offline machine needs to run mmac on
# top of its own torch, numpy, opencv and scientific stack (e.g. a GPU image: Python 3.12, torch 2.11).
#
#   tools/fetch_offline_wheels.sh DIR [--python-version 3.12] [--build-mmcv PYTHON]
#
# DIR receives wheels of the OpenMMLab stack and the packages the image lacks or holds in versions mmagic
# 1.2.0 cannot use (versions from requirements/constraints.txt), setuptools 69.5.1 and wheel for building mmcv
# (setuptools < 70.1 needs the wheel package for bdist_wheel), and
# the mmcv 2.1.0 source distribution (built there by tools/offline_install.sh). About 21 MB.
# With --build-mmcv PYTHON, the mmcv wheel is built here too (tools/build_mmcv_wheel.sh, CPU ops, about 13 min on
# 2 cores) with PYTHON, an interpreter of the image's Python version holding the image's torch (e.g. a venv of
# Python 3.12 with torch 2.11 from the package registry), setuptools < 70, wheel and ninja, and checked to import
# with that torch; tools/offline_install.sh then only copies wheels, and builds from the sdist only when the
# prebuilt wheel does not import with the image's torch.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
constraints="$root/requirements/constraints.txt"
python_bin="${PYTHON:-python3}"
[ $# -ge 1 ] || { echo "usage: tools/fetch_offline_wheels.sh DIR [--python-version 3.12]" >&2; exit 2; }
dir="$1"; shift
pyver="3.12"; build_python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) pyver="$2"; shift 2 ;;
    --build-mmcv) build_python="$2"; shift 2 ;;
    *) echo "fetch_offline_wheels.sh: unknown argument '$1' (allowed: --python-version X.Y, --build-mmcv PYTHON)" >&2
       exit 2 ;;
  esac
done
if [ -n "$build_python" ]; then
  got="$("$build_python" -c 'import sys, torch; print(f"{sys.version_info[0]}.{sys.version_info[1]} {torch.__version__}")')" || {
    echo "fetch_offline_wheels.sh: --build-mmcv $build_python cannot import torch" >&2; exit 2; }
  [ "${got%% *}" = "$pyver" ] || {
    echo "fetch_offline_wheels.sh: --build-mmcv $build_python is Python ${got%% *}, the wheels are for $pyver" >&2; exit 2; }
fi
mkdir -p "$dir"

# What a GPU image with torch, numpy 2, opencv-python-headless, scipy, pandas, scikit-image, matplotlib,
# pillow, rich and tqdm lacks. transformers, tokenizers and huggingface_hub are there, but too new for
# mmagic 1.2.0's diffusers 0.24.
names=(mmengine mmagic diffusers transformers tokenizers huggingface_hub lpips resize-right addict termcolor
       yapf platformdirs albumentations qudida nibabel)
# mmagic imports click and einops at registration; an image of torch and the scientific stack need not have them
# (found by installing into a Python 3.12 + torch 2.11 environment with only that stack).
names+=(click einops)
# pytest and what it needs, for an image without it: tools/offline_install.sh leaves them out, and
# tools/device_check.sh installs them only where `import pytest` fails.
names+=(pytest pluggy iniconfig Pygments)
pins=()
for name in "${names[@]}"; do
  pin="$(grep -i -E "^${name//-/[-_]}==" "$constraints" | head -n1 || true)"
  [ -n "$pin" ] || { echo "fetch_offline_wheels.sh: $name has no pin in $constraints" >&2; exit 1; }
  pins+=("$pin")
done
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
"$python_bin" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  "${platforms[@]}" -d "$dir" "${pins[@]}" "setuptools==69.5.1" "wheel==0.45.1"

# The mmcv sdist: `pip download` would run its setup.py (which needs torch and an old setuptools) just to
# read metadata, so take the file straight from the index and check its published sha256.
"$python_bin" - "$dir" <<'PY'
import hashlib, json, os, sys, urllib.request

dest = sys.argv[1]
name = "mmcv-2.1.0.tar.gz"
target = os.path.join(dest, name)
req = urllib.request.Request("https://pypi.org/simple/mmcv/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(req, timeout=60) as r:
    files = {f["filename"]: f for f in json.load(r)["files"]}
entry = files[name]
if not (os.path.isfile(target) and hashlib.sha256(open(target, "rb").read()).hexdigest() == entry["hashes"]["sha256"]):
    with urllib.request.urlopen(entry["url"], timeout=300) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
        sys.exit(f"{name}: sha256 mismatch")
    with open(target + ".partial", "wb") as f:
        f.write(data)
    os.replace(target + ".partial", target)
print(f"{name}: sha256 OK")
PY
if [ -n "$build_python" ]; then
  echo "building the mmcv 2.1.0 wheel with $build_python (Python/torch: $got)"
  whl="$(PYTHON="$build_python" "$root/tools/build_mmcv_wheel.sh" "$dir/mmcv-2.1.0.tar.gz" "$dir" O0)"
  check="$(mktemp -d)"
  trap 'rm -rf "$check"' EXIT
  "$build_python" -m pip install -q --no-deps --no-index --target "$check" "$whl"
  # The compiled ops against this torch (the ABI that matters); the rest of mmcv is pure Python, and its imports
  # (cv2, mmengine) are the image's and the wheelhouse's, checked by tools/offline_install.sh where they are.
  "$build_python" - "$check" <<'PY' || { mv "$whl" "$whl.broken"; echo "fetch_offline_wheels.sh: the compiled ops of the built wheel do not load with this torch; kept as $whl.broken" >&2; exit 1; }
import glob, importlib.util, sys

import torch

so = glob.glob(f"{sys.argv[1]}/mmcv/_ext*.so")
assert so, "the wheel has no compiled ops (mmcv/_ext*.so)"
spec = importlib.util.spec_from_file_location("_ext", so[0])
ext = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ext)
print(f"mmcv._ext loads with torch {torch.__version__}: {len([n for n in dir(ext) if not n.startswith('_')])} ops")
PY
fi
du -sh "$dir"
ls "$dir"
