#!/usr/bin/env bash
# Testing a checkpoint on a Slurm cluster (one task per GPU).
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, MASTER_PORT (default: derived from the job id,
# SLURM_JOB_ID inside an allocation, else the id of the job srun makes; see tools/slurm_launch.sh).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2
  exit 2
fi
# shellcheck source=tools/slurm_launch.sh
source "$(dirname "$0")/slurm_launch.sh"
slurm_launch "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
