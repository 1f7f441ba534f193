#!/usr/bin/env bash
# Build an mmcv 2.1.0 wheel with compiled CPU ops from its source distribution (used by tools/install.sh and
# tools/offline_install.sh).
#
#   tools/build_mmcv_wheel.sh SDIST OUTDIR [O0|O1|O2|O3]
#
# $PYTHON (default python3) must already hold torch, setuptools < 70 (mmcv's setup.py needs pkg_resources),
# wheel and ninja. The C++ standard is raised to C++20 (torch >= 2.10 headers need it; mmcv hard-codes
# c++14/17). The GPU is hidden from the build: without CUDA ops it takes minutes, not an hour, and mmagic's
# CycleGAN uses none of mmcv's CUDA kernels. The wheel appears in OUTDIR only once complete.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: tools/build_mmcv_wheel.sh SDIST OUTDIR [O0|O1|O2|O3]" >&2; exit 2; }
sdist="$1"; outdir="$2"; opt="${3:-O0}"
python_bin="${PYTHON:-python3}"
case "$opt" in O0|O1|O2|O3) ;; *) echo "build_mmcv_wheel.sh: opt level must be O0..O3, got '$opt'" >&2; exit 2 ;; esac
[ -f "$sdist" ] || { echo "build_mmcv_wheel.sh: source distribution '$sdist' not found" >&2; exit 2; }
mkdir -p "$outdir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work"
src="$(ls -d "$work"/mmcv-2.1.0)"
sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
(cd "$src" && CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
   CFLAGS="-$opt -g0" CXXFLAGS="-$opt -g0" \
   "$python_bin" -m pip wheel -q --no-index --no-build-isolation --no-deps -w "$work/dist" .)
whl="$(ls "$work"/dist/mmcv-2.1.0-*.whl)"
cp "$whl" "$outdir/.partial.whl" && mv "$outdir/.partial.whl" "$outdir/$(basename "$whl")"
echo "$outdir/$(basename "$whl")"
