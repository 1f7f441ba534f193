#!/usr/bin/env bash
# Testing a checkpoint on a Slurm cluster (one task per GPU).
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Environment: GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun arguments),
# MASTER_PORT (default: a port derived from SLURM_JOB_ID, or from this script's process id outside an
# allocation, in 20000-39999, so that two jobs on one node do not both take 29500).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
export MASTER_PORT=${MASTER_PORT:-$((20000 + ${SLURM_JOB_ID:-$$} % 20000))}
root="$(cd "$(dirname "$0")/.." && pwd)"
python_bin="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python_bin" ] || python_bin=python
# shellcheck disable=SC2086  # SRUN_ARGS holds several arguments
PYTHONPATH="$root:${PYTHONPATH:-}" srun -p "$PARTITION" --job-name="$JOB_NAME" \
  --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
  --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
  "$python_bin" -u "$root/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "${@:5}"
