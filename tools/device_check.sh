#!/usr/bin/env bash
# The GPU check, in one call of at most 9 minutes: install the stack offline, run the GPU tests, benchmark at
# the paper's size against the stock mmagic loop, train and resume through the runner, measure packing.
#
#   tools/fetch_offline_wheels.sh .whl --build-mmcv PY312   # beforehand, where the package registry is reachable;
#                                               # PY312: a Python 3.12 with the image's torch (the prebuilt mmcv
#                                               # wheel makes the install a copy, 9 s here); carry .whl to the device
#   tools/device_check.sh [WHEELDIR] [--quick]  # on the GPU machine, from the repository root
#   tools/device_check.sh [WHEELDIR] --protocol # a second call: install, then the paper's protocol at GPU size
#
# Steps, cheapest and most informative first, each with its own time limit (seconds); the limits add up to
# TOTAL_S (default 520, under the 540 s of one 9-minute call), and no step runs past what is left of TOTAL_S:
#   install     150  tools/offline_install.sh (copies the wheels; mmcv is built from source, ~90 s on 16 cores,
#                    only when .whl has no prebuilt wheel that loads with the image's torch); pytest from the
#                    wheels only where the image has none
#   gpu_tests    80  the CUDA-graph, image-pool and fast-step tests that need a GPU (they skip elsewhere)
#   bench_fp32  100  tools/benchmark.py train, 256 px, 54.4 M-parameter U-Net, batch 1 and 8, fp32, stock
#                    mmagic loop in the same process, with the fast-vs-plain check
#   train_fast   70  a short --fast --amp training through the runner on a phantom cohort, and its resume
#   bench_bf16   60  as bench_fp32 with --amp (bf16 on a GPU that has it) and channels_last, no check
#   pack         60  tools/benchmark.py pack: 1, 2 and 4 trainings at once, the protocol's hours
# Writes gpu.txt (device and versions) and one NAME.log per step to $OUT (default ./device_out); a failing
# step does not stop the later ones; the exit status is the number of failed steps (install failing: 1, and
# nothing else runs). --quick (64 px, small nets) checks the plumbing.
# --protocol runs, after the install, only `tools/cross_validate.py --preset gpu` (both ends of the cohort map at
# 128 px: default phantom and independent slices, phantom seeds 3 and 4, 5 folds x {L_C, L_AC} x w_c = 1 each,
# --fast, 8 runs per GPU; 40 runs, about 11 minutes extrapolated) with the time left, and writes each cohort's
# results and report and the map to $OUT/protocol_gpu; with --quick it runs the tiny `--preset rehearsal`.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
wheels=".whl"; quick=0; protocol=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --protocol) protocol=1 ;;
    -*) echo "device_check.sh: unknown option '$arg' (allowed: --quick, --protocol)" >&2; exit 2 ;;
    *) wheels="$arg" ;;
  esac
done
out="${OUT:-$root/device_out}"
site="${MMAC_SITE:-/tmp/mmac-site}"
total="${TOTAL_S:-520}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
failed=0
deadline=$((SECONDS + total))
step() {  # step NAME LIMIT_S CMD...: run CMD for at most LIMIT_S, and never past the deadline
  local name="$1" limit="$2"; shift 2
  local left=$((deadline - SECONDS))
  [ "$left" -lt "$limit" ] && limit="$left"
  if [ "$limit" -le 5 ]; then
    echo "== $name: skipped, ${left}s of ${total}s left" | tee "$out/$name.log"
    failed=$((failed + 1)); return 124
  fi
  echo "== $name ($(date +%H:%M:%S), limit ${limit}s): $*" > "$out/$name.log"
  timeout -k 5 "$limit" "$@" >>"$out/$name.log" 2>&1
  local rc=$?
  tail -n 30 "$out/$name.log"
  echo "== $name: rc=$rc after $((SECONDS - deadline + total))s of ${total}s"
  [ "$rc" = 0 ] || failed=$((failed + 1))
  return "$rc"
}

install() {
  tools/offline_install.sh "$wheels" "$site" || return 1
  if python3 -c "import pytest" 2>/dev/null; then
    echo "pytest: the image's ($(python3 -c 'import pytest; print(pytest.__version__)'))"
  else
    local test_wheels=("$wheels"/pytest-[0-9]*.whl "$wheels"/pluggy-*.whl "$wheels"/iniconfig-*.whl
                       "$wheels"/pygments-*.whl)
    python3 -m pip --disable-pip-version-check install -q --no-index --no-deps --no-compile --upgrade \
      --target "$site" "${test_wheels[@]}" && echo "pytest: installed from $wheels"
  fi
}
step install 150 bash -c "$(declare -p wheels site); $(declare -f install); install" || exit 1
export PYTHONPATH="$site:$root"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  timeout 30 python3 -c "import sys, torch, numpy, mmcv, mmengine, mmagic; print(f'python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), numpy {numpy.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmagic {mmagic.__version__}')"
} 2>&1 | tee "$out/gpu.txt"

if [ "$quick" = 1 ]; then
  net=(--size 64 --base-channels 16 --num-down 6); iters=10
  model=(model.generator.num_down=6 model.generator.base_channels=16 model.discriminator.base_channels=16); size=64
else
  net=(--size 256 --base-channels 64 --num-down 8); iters=20
  model=(); size=256
fi

if [ "$protocol" = 1 ]; then
  preset=gpu; [ "$quick" = 1 ] && preset=rehearsal
  step protocol "$total" python3 tools/cross_validate.py --preset "$preset" --out "$out/protocol_$preset" \
    --no-progress
  echo "device_check: $failed step(s) failed after ${SECONDS}s; logs in $out"
  exit "$failed"
fi

# The tests that need a GPU (the CPU ones run everywhere, in CI too).
step gpu_tests 80 python3 -m pytest -q -p no:cacheprovider -rs -k "gpu or cuda_graph" \
  tests/training/test_graphed_step.py tests/training/test_image_pool.py tests/training/test_fast_step.py
step bench_fp32 100 python3 tools/benchmark.py train "${net[@]}" --batch-sizes 1 8 --iters "$iters" --warmup 6

# A real run through the runner on a small phantom cohort: --fast --amp for 40 iterations (graph capture,
# validation between replays, checkpoints of the capturable Adams), then --resume to 60 from iter_40.pth.
train_fast() {
  local cohort=/tmp/mmac-device-cohort work=/tmp/mmac-device-train
  python3 tools/make_phantom.py --out "$cohort" --healthy 3 --moderate 1 --severe 2 --size "$size" --slices 8 \
    --workers 6 --no-progress --overwrite || return 1
  local opts=("${model[@]}" "data_root=$cohort" train_cfg.val_interval=40 default_hooks.checkpoint.interval=20
              default_hooks.logger.interval=10)
  for loader in train_dataloader val_dataloader test_dataloader; do
    opts+=("$loader.dataset.num_folds=2" "$loader.dataset.size=$size")
  done
  rm -rf "$work"
  python3 tools/train.py configs/ac_cyclegan_thigh.py --fast --amp --work-dir "$work" \
    --cfg-options "${opts[@]}" train_cfg.max_iters=40 || return 1
  python3 tools/train.py configs/ac_cyclegan_thigh.py --fast --amp --work-dir "$work" --resume \
    --cfg-options "${opts[@]}" train_cfg.max_iters=60 || return 1
  ls "$work"/iter_60.pth
}
step train_fast 70 bash -c "$(declare -p model size); $(declare -f train_fast); train_fast"
step bench_bf16 60 python3 tools/benchmark.py train "${net[@]}" --batch-sizes 1 8 --iters "$iters" --warmup 6 \
  --amp --channels-last --check-iters 0
step pack 60 python3 tools/benchmark.py pack "${net[@]}" --jobs 1 2 4 --iters $((2 * iters)) --warmup 6 --amp \
  --channels-last
echo "device_check: $failed step(s) failed after ${SECONDS}s; logs in $out"
exit "$failed"
