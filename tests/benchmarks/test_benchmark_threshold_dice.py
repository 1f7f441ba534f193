"""The threshold Dice benchmark runs, and its two methods agree (it raises otherwise)."""
from benchmarks.threshold_dice import benchmark_threshold_dice


def test_benchmark_runs_and_agrees():
    rows = benchmark_threshold_dice(n=4, size=32, baseline_slices=2)
    assert [r["kind"] for r in rows] == ["uint8", "float32"]
    assert all(r["batched_slices_per_s"] > 0 and r["speedup"] > 0 for r in rows)
