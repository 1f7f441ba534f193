#!/usr/bin/env bash
# The srun call shared by tools/slurm_train.sh and tools/slurm_test.sh (one task per GPU); not run on its own.
#   slurm_launch PARTITION JOB_NAME TOOL [TOOL args...]   runs tools/TOOL under srun with --launcher=slurm last
# Environment: GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun arguments),
# MASTER_PORT (default: a port derived from SLURM_JOB_ID, or from this script's process id outside an
# allocation, in 20000-39999, so that two jobs on one node do not both take 29500).
slurm_launch() {
  local partition=$1 job_name=$2 tool=$3
  shift 3
  local gpus=${GPUS:-8} gpus_per_node=${GPUS_PER_NODE:-8} cpus_per_task=${CPUS_PER_TASK:-5}
  export MASTER_PORT=${MASTER_PORT:-$((20000 + ${SLURM_JOB_ID:-$$} % 20000))}
  local root python_bin
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  python_bin="${PYTHON:-$root/.venv/bin/python}"
  [ -x "$python_bin" ] || python_bin=python
  # shellcheck disable=SC2086  # SRUN_ARGS holds several arguments
  PYTHONPATH="$root:${PYTHONPATH:-}" srun -p "$partition" --job-name="$job_name" \
    --gres=gpu:"$gpus_per_node" --ntasks="$gpus" --ntasks-per-node="$gpus_per_node" \
    --cpus-per-task="$cpus_per_task" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "$python_bin" -u "$root/tools/$tool" "$@"
}
