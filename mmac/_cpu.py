"""How many CPUs this process may use (no mmagic, no torch).

``os.cpu_count()`` counts the machine's CPUs, also inside a container or a Slurm allocation that grants a few of
them; sizing thread or process pools by it oversubscribes the CPUs the process actually has. The affinity mask
(``os.sched_getaffinity``) is what the scheduler lets this process run on.
"""
from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask on Linux, else ``os.cpu_count()``; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def threads_per_job(jobs: int) -> int:
    """CPU threads for each of ``jobs`` runs side by side: the available CPUs split, instead of each taking all."""
    return max(1, available_cpus() // jobs)
