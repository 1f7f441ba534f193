#!/usr/bin/env bash
# Multi-GPU / multi-node training on torchrun.
#   tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [train.py args...]
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), MASTER_PORT (or PORT, as in
# OpenMMLab's scripts). Without either, one node takes a port the system reports free (so that two jobs on
# one machine do not both take 29500) and says which; several nodes take 29500, since every node must name
# the same port: set MASTER_PORT on each to run two multi-node jobs at once.
# Without GPUs the processes use the gloo backend (for testing on a CPU machine).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [train.py args...]" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
python_bin="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python_bin" ] || python_bin=python
. "$root/tools/_master_port.sh" dist_train.sh
PYTHONPATH="$root:${PYTHONPATH:-}" exec "$python_bin" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --nproc_per_node="$NPROC" --master_port="$port" \
  "$root/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
