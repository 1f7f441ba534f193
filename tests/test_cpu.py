"""The CPU count the tools size their pools by follows the process's affinity mask, not the machine."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")


def _in_one_cpu(code: str) -> str:
    """Run ``code`` in a fresh interpreter pinned to one CPU (as a container or a Slurm allocation would)."""
    cpu = min(os.sched_getaffinity(0))
    script = f"import os; os.sched_setaffinity(0, {{{cpu}}})\n{code}"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_available_cpus_is_the_affinity_mask():
    from mmac._cpu import available_cpus

    assert available_cpus() == len(os.sched_getaffinity(0))
    assert _in_one_cpu("from mmac._cpu import available_cpus; print(available_cpus(), os.cpu_count())")[0] == "1"


def test_pool_sizes_follow_the_affinity_mask():
    values = _in_one_cpu(
        "from mmac.protocol.runs import threads_per_job\n"
        "import sys; sys.path.insert(0, 'tools'); from make_phantom import parse_args\n"
        "print(threads_per_job(1), parse_args(['--out', 'x']).workers)")
    assert values == ["1", "1"]
