#!/usr/bin/env bash
# The GPU check, in one call: install the stack offline, run the GPU tests, benchmark at the paper's size.
#
#   tools/fetch_offline_wheels.sh .whl          # beforehand, where the package registry is reachable
#   tools/device_check.sh [WHEELDIR] [--quick]  # on the GPU machine, from the repository root
#
# Writes gpu.txt (device and versions), install.log, gpu_tests.log, train_fast.log (a short --fast --amp
# training and its resume through the runner), bench_fp32.log, bench_bf16.log and pack.log to $OUT
# (default ./device_out). Each step has its own time limit and a failing step does not
# stop the later ones; the exit status is the number of failed steps. About 7 minutes on one H100;
# --quick (64 px, small nets) checks the plumbing in about 3.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
wheels=".whl"; quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -*) echo "device_check.sh: unknown option '$arg' (allowed: --quick)" >&2; exit 2 ;;
    *) wheels="$arg" ;;
  esac
done
out="${OUT:-$root/device_out}"
site="${MMAC_SITE:-/tmp/mmac-site}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
failed=0
step() {  # step NAME LIMIT_S CMD...
  local name="$1" limit="$2"; shift 2
  echo "== $name ($(date +%H:%M:%S)): $*" > "$out/$name.log"
  timeout "$limit" "$@" >>"$out/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$out/$name.log"
  echo "== $name: rc=$rc"
  [ "$rc" = 0 ] || failed=$((failed + 1))
  return "$rc"
}

step install 300 tools/offline_install.sh "$wheels" "$site" || exit 1
export PYTHONPATH="$site:$root"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import sys, torch, numpy, mmcv, mmengine, mmagic; print(f'python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), numpy {numpy.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmagic {mmagic.__version__}')"
} 2>&1 | tee "$out/gpu.txt"

if [ "$quick" = 1 ]; then
  net=(--size 64 --base-channels 16 --num-down 6); iters=20
  model=(model.generator.num_down=6 model.generator.base_channels=16 model.discriminator.base_channels=16); size=64
else
  net=(--size 256 --base-channels 64 --num-down 8); iters=50
  model=(); size=256
fi

# A real run through the runner on a small phantom cohort: --fast --amp for 60 iterations (graph capture,
# validation between replays, checkpoints of capturable Adam), then --resume to 90 from iter_60.pth.
train_fast() {
  local cohort=/tmp/mmac-device-cohort work=/tmp/mmac-device-train
  python3 tools/make_phantom.py --out "$cohort" --healthy 3 --moderate 1 --severe 2 --size "$size" --slices 8 \
    --workers 6 --no-progress --overwrite || return 1
  local opts=("${model[@]}" train_cfg.val_interval=60 default_hooks.checkpoint.interval=30 default_hooks.logger.interval=10)
  for loader in train_dataloader val_dataloader test_dataloader; do
    opts+=("$loader.dataset.data_root=$cohort" "$loader.dataset.num_folds=2" "$loader.dataset.size=$size")
  done
  rm -rf "$work"
  python3 tools/train.py configs/ac_cyclegan_thigh.py --fast --amp --work-dir "$work" \
    --cfg-options "${opts[@]}" train_cfg.max_iters=60 || return 1
  python3 tools/train.py configs/ac_cyclegan_thigh.py --fast --amp --work-dir "$work" --resume \
    --cfg-options "${opts[@]}" train_cfg.max_iters=90 || return 1
  ls "$work"/iter_90.pth
}
step gpu_tests 240 python3 -m pytest -q -p no:cacheprovider tests/engine/test_graphed_step.py \
  tests/models/test_fast_step.py tests/engine/test_image_pool.py
step train_fast 240 bash -c "$(declare -p model size); $(declare -f train_fast); train_fast"
step bench_fp32 240 python3 tools/benchmark.py train "${net[@]}" --batch-sizes 1 8 --iters "$iters" --warmup 10
step bench_bf16 240 python3 tools/benchmark.py train "${net[@]}" --batch-sizes 1 8 --iters "$iters" --warmup 10 \
  --amp --channels-last
step pack 300 python3 tools/benchmark.py pack "${net[@]}" --jobs 1 2 4 --iters $((2 * iters)) --warmup 10 --amp \
  --channels-last
echo "device_check: $failed step(s) failed; logs in $out"
exit "$failed"
