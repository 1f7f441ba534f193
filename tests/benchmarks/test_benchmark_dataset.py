"""The dataset benchmark serves items from a fresh interpreter's point of view (it registers mmac's transforms)."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]  # benchmarks/ is imported from the repository root


def test_dataset_benchmark_runs_in_a_fresh_interpreter(tiny_cohort):
    pytest.importorskip("mmagic")
    code = ("import json\nfrom benchmarks.dataset import benchmark_slices\n"
            f"print(json.dumps(benchmark_slices({str(tiny_cohort / 'manifest.csv')!r}, n=3, size=32)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == 3 and result["slices_per_item"] == 2 and result["pipeline_items_per_s"] > 0
