# Sourced by tools/dist_train.sh and tools/dist_test.sh: sets $port for torchrun.
# MASTER_PORT, else PORT (as in OpenMMLab's scripts); without either, one node takes a port the system reports
# free (so that two jobs on one machine do not both take 29500) and says which on stderr; several nodes take
# 29500, since every node must name the same port. Needs $python_bin; $1 names the calling script in the message.
port=${MASTER_PORT:-${PORT:-}}
if [ -z "$port" ]; then
  if [ "${NNODES:-1}" != 1 ]; then
    port=29500
  else  # free now; torchrun binds it a moment later
    port=$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
    echo "$1: MASTER_PORT unset, using free port $port" >&2
  fi
fi
