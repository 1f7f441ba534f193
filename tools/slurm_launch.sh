#!/usr/bin/env bash
# The srun call shared by tools/slurm_train.sh and tools/slurm_test.sh (one task per GPU); not run on its own.
#   slurm_launch PARTITION JOB_NAME TOOL [TOOL args...]   runs tools/TOOL under srun with --launcher=slurm last
# Environment: GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun arguments),
# MASTER_PORT (default: 20000 + job id % 20000, so that two jobs sharing a node do not both take 29500). The job
# id is SLURM_JOB_ID where the script runs inside an allocation (sbatch, salloc); launched from a login node,
# srun makes a new job, and each of its tasks derives the port from that job's id before it starts the tool.
slurm_launch() {
  local partition=$1 job_name=$2 tool=$3
  shift 3
  local gpus=${GPUS:-8} gpus_per_node=${GPUS_PER_NODE:-8} cpus_per_task=${CPUS_PER_TASK:-5}
  local root python_bin
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  python_bin="${PYTHON:-$root/.venv/bin/python}"
  [ -x "$python_bin" ] || python_bin=python
  local -a cmd=("$python_bin" -u "$root/tools/$tool" "$@")
  if [ -n "${MASTER_PORT:-}" ]; then
    export MASTER_PORT
  elif [ -n "${SLURM_JOB_ID:-}" ]; then
    export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))
  else  # no job yet: srun's tasks all see the id of the job it makes
    # shellcheck disable=SC2016  # expanded by the task's shell
    cmd=(bash -c 'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000)) && exec "$@"' slurm_launch
      "${cmd[@]}")
  fi
  # shellcheck disable=SC2086  # SRUN_ARGS holds several arguments
  PYTHONPATH="$root:${PYTHONPATH:-}" srun -p "$partition" --job-name="$job_name" \
    --gres=gpu:"$gpus_per_node" --ntasks="$gpus" --ntasks-per-node="$gpus_per_node" \
    --cpus-per-task="$cpus_per_task" --kill-on-bad-exit=1 ${SRUN_ARGS:-} "${cmd[@]}"
}
