"""Training benchmark: rows, ratios, the plain-vs-fast check, packing and the protocol estimate."""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("mmagic")
from benchmarks.training import (  # noqa: E402
    PROTOCOL,
    benchmark_packing,
    benchmark_training,
    check_fast_equivalence,
    format_rows,
    protocol_hours,
)

TINY = dict(size=32, base_channels=4, num_down=5, device='cpu')


def load_cli():
    path = Path(__file__).resolve().parents[2] / "tools" / "benchmark.py"
    spec = importlib.util.spec_from_file_location("benchmark_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_rows_for_chosen_variants():
    seen = []
    rows = benchmark_training(batch_sizes=(2,), iters=2, warmup=1, variants=['Modular L_AC', 'fast L_AC'],
                              on_row=seen.append, **TINY)
    assert [(r['variant'], r['batch_size']) for r in rows] == [('Modular L_AC', 2), ('fast L_AC', 2)]
    assert seen == rows
    for r in rows:
        assert r['ms_per_iter'] > 0 and r['peak_mem_mb'] > 0
        assert r['slices_per_s'] == pytest.approx(2 * r['iters_per_s'])
        assert r['iters_per_s'] == pytest.approx(1000 / r['ms_per_iter'])
    with pytest.raises(ValueError, match="unknown benchmark variant"):
        benchmark_training(variants=['fast'], **TINY)


def test_format_rows_ratios_by_hand():
    rows = [dict(variant=v, batch_size=1, ms_per_iter=ms, iters_per_s=1000 / ms, slices_per_s=1000 / ms,
                 peak_mem_mb=1.0) for v, ms in [('stock CycleGAN', 60.0), ('fast L_C', 20.0), ('fast L_AC', 15.0)]]
    lines = format_rows(rows).splitlines()
    assert lines[2].split()[-1] == 'x3.00'          # fast L_C: 60 / 20
    assert lines[3].split()[-2:] == ['x4.00', '0.75']  # fast L_AC: 60 / 15, and 15 / 20


def test_fast_path_matches_plain_path_on_cpu():
    check = check_fast_equivalence(iters=3, **TINY)
    assert check['ok'] and check['iters'] == 3 and not check['graphed']
    # Unbatched: the plain path's expressions, bit for bit; batched: rounding at the first iteration.
    assert check['exact_ok'] and check['exact_max_abs_diff'] == 0.0
    assert check['first_ok'] and check['first_rel_diff'] <= 1e-5 == check['first_tolerance']
    assert len(check['drift']) == len(check['reference']) == len(check['bound']) == 3
    # The later bound, recomputed: tolerance + 10 x the rounding reference's largest drift so far.
    assert check['perturbation'] == 2.0 ** -23
    for i in (1, 2):
        assert check['bound'][i] == pytest.approx(1e-5 + 10 * max(check['reference'][:i + 1]))
        assert check['drift'][i] <= check['bound'][i]
    with pytest.raises(ValueError, match="below the image pool size"):
        check_fast_equivalence(iters=50, **TINY)
    with pytest.raises(ValueError, match="iters must be >= 2"):
        check_fast_equivalence(iters=1, **TINY)


def test_check_in_float64_shrinks_rounding():
    """In float64 the batched path stays within 1e-12 of the plain one: the float32 drift is rounding."""
    check = check_fast_equivalence(iters=3, fp64=True, **TINY)
    assert check['ok'] and check['fp64'] and check['perturbation'] == 2.0 ** -52
    assert check['first_rel_diff'] <= 1e-12 and max(check['drift']) <= 1e-10
    with pytest.raises(ValueError, match="fp64 and amp"):
        check_fast_equivalence(iters=3, fp64=True, amp=True, **TINY)


def test_check_catches_a_real_difference(monkeypatch):
    """A fast variant whose cycle weight differs by 10 % is no rounding: the first iteration and the drift fail."""
    import benchmarks.training as bench

    wrong = dict(bench.VARIANTS['fast L_AC'], cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=1.1))
    monkeypatch.setitem(bench.VARIANTS, 'fast L_AC', wrong)
    for fp64 in (False, True):
        check = check_fast_equivalence(iters=3, fp64=fp64, **TINY)
        assert not check['ok'] and not check['exact_ok'] and not check['first_ok']
        assert check['first_rel_diff'] > 1e-2


def test_protocol_hours_by_hand():
    assert PROTOCOL == dict(runs=240, epochs=16, iters_per_epoch=900)
    # 240 * 16 * 900 = 3,456,000 iterations; at 240 it/s that is 14,400 s = 4 h.
    assert protocol_hours(240.0) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        protocol_hours(0.0)


def test_packing_runs_jobs_side_by_side():
    rows = benchmark_packing(jobs=(2,), iters=2, warmup=1, **TINY)
    assert len(rows) == 1 and rows[0]['jobs'] == 2
    assert rows[0]['iters_per_s'] == pytest.approx(2 * rows[0]['per_run_iters_per_s'])
    assert rows[0]['protocol_hours'] == pytest.approx(protocol_hours(rows[0]['iters_per_s']))


def test_cli_train_fails_when_losses_drift_beyond_tolerance(capsys):
    cli = load_cli()
    args = ['train', '--size', '32', '--base-channels', '4', '--num-down', '5', '--device', 'cpu',
            '--batch-sizes', '1', '--iters', '1', '--warmup', '1', '--variants', 'fast L_AC', '--check-iters', '2']
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert 'bit for bit: largest difference 0.0e+00: OK' in out
    assert 'tolerance 1e-05: OK' in out
    assert cli.main(args + ['--tolerance', '-1']) == 1
    assert 'FAILED' in capsys.readouterr().out


def _spawned_children(pid):
    """PIDs of the multiprocessing-spawned children of ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and "spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid):
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_packing_stopped_by_sigterm_leaves_no_job_behind():
    """A time limit's SIGTERM stops the benchmark and its job processes (run as a subprocess)."""
    import signal
    import subprocess
    import sys
    import time

    code = ("from benchmarks.training import benchmark_packing\n"
            "benchmark_packing(jobs=(2,), size=32, base_channels=4, num_down=5, iters=100000, warmup=1, "
            "device='cpu')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.time() + 120
        jobs = []
        while time.time() < deadline and len(jobs) < 2:  # wait for both job processes to exist
            jobs = _spawned_children(proc.pid)
            time.sleep(0.5)
        assert len(jobs) == 2, "the benchmark did not start its 2 jobs"
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(j) for j in jobs):
            time.sleep(0.2)
        assert not any(_alive(j) for j in jobs), jobs
    finally:
        if proc.poll() is None:
            proc.kill()
