"""G's synthetic pathology against the patients': hand-worked fractions, a known G on the tiny cohort, the tool."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from mmac.apis.coverage import (
    CHANGE_KEYS,
    coverage_subjects,
    healthy_change,
    pathology_coverage,
    synthetic_fat_fraction,
)

TOOL = Path(__file__).resolve().parents[2] / "tools" / "pathology_coverage.py"


def test_synthetic_fat_fraction_hand_worked():
    y = np.full((1, 2, 3), 0.2, np.float32)
    g = y.copy()
    g[0, 0, 0] = 0.6                # (0.6 - 0.2) / (1 - 0.2) = 0.5
    g[0, 0, 1] = 1.0                # pure fat: 1
    g[0, 0, 2] = 0.1                # darker than y: clipped to 0
    g[0, 1, :] = 0.9                # outside the mask: ignored
    mask = np.zeros_like(y, bool)
    mask[0, 0, :] = True
    assert synthetic_fat_fraction(y, g, mask) == pytest.approx((0.5 + 1.0 + 0.0) / 3, abs=1e-6)
    assert synthetic_fat_fraction(y, y, mask) == 0.0


def test_synthetic_fat_fraction_errors():
    y = np.zeros((1, 4, 4))
    with pytest.raises(ValueError, match="same shape"):
        synthetic_fat_fraction(y, np.zeros((1, 4, 5)), np.ones((1, 4, 4), bool))
    with pytest.raises(ValueError, match="mask is empty"):
        synthetic_fat_fraction(y, y, np.zeros((1, 4, 4), bool))


def _disc_slices(n=3, size=48, sigma=0.02, seed=0):
    """A bright ring (fat, 0.9) around a dark disc (muscle, 0.35) in air, with Rician noise of sigma as in a
    magnitude MR image: Rayleigh in the air (where the noise level is estimated), about Gaussian in the thigh."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    clean = np.where(r < 12, 0.35, np.where(r < 17, 0.9, 0.0))
    rng = np.random.default_rng(seed)
    real, imaginary = clean + rng.normal(0, sigma, (n, size, size)), rng.normal(0, sigma, (n, size, size))
    return np.hypot(real, imaginary), clean


def test_healthy_change_hand_worked():
    noisy, clean = _disc_slices()
    bright = clean > 0.6
    identity = healthy_change(noisy, noisy)
    assert identity == {"change": 0.0, "bias_bright": 0.0, "bias_dark": 0.0}
    # F darkens fat by 10 grey levels and brightens everything else (muscle, air) by 3.
    shifted = noisy + np.where(bright, -10 / 255, 3 / 255)
    scores = healthy_change(noisy, shifted)
    assert scores["bias_bright"] == pytest.approx(-10, abs=1e-6)
    assert scores["bias_dark"] == pytest.approx(3, abs=1e-6)
    # change = MAE on the thigh / (sigma * sqrt(2 / pi)); the thigh is the ring and the disc, sigma about 0.02.
    thigh = clean > 0
    expected = np.abs(shifted - noisy)[:, thigh].mean() / (0.02 * np.sqrt(2 / np.pi))
    assert scores["change"] == pytest.approx(expected, rel=0.1)
    # A perfect denoiser departs from y by the noise's mean absolute value: change about 1.
    denoised = np.broadcast_to(clean, noisy.shape)
    assert healthy_change(noisy, denoised)["change"] == pytest.approx(1.0, abs=0.12)
    with pytest.raises(ValueError, match="same \\(N, H, W\\)"):
        healthy_change(noisy, noisy[0])
    # No thigh: every score undefined.
    assert all(np.isnan(v) for v in healthy_change(np.zeros((2, 16, 16)), np.zeros((2, 16, 16))).values())


def test_healthy_change_with_the_air_set_to_zero():
    """Real scans often have their background zeroed: no noise to measure, so change is undefined (NaN), while
    the tissue shifts, which need no noise level, are still scored."""
    noisy, clean = _disc_slices()
    zeroed = np.where(clean > 0, noisy, 0.0)
    bright = clean > 0.6
    scores = healthy_change(zeroed, zeroed + np.where(bright, -10 / 255, 3 / 255))
    assert np.isnan(scores["change"])
    assert scores["bias_bright"] == pytest.approx(-10, abs=1e-6)
    assert scores["bias_dark"] == pytest.approx(3, abs=1e-6)


def _independent_real_fraction(record, every):
    ff = nib.as_closest_canonical(nib.load(str(record.fat_fraction))).get_fdata()
    mask = nib.as_closest_canonical(nib.load(str(record.mask))).get_fdata() > 0
    zs = [z for z in range(mask.shape[2]) if mask[:, :, z].any()][::every]
    return float(np.concatenate([ff[:, :, z][mask[:, :, z]] for z in zs]).mean())


def test_coverage_of_a_known_generator_on_the_tiny_cohort(tiny_cohort):
    from mmac.datasets.manifest import read_manifest

    records = read_manifest(tiny_cohort / "manifest.csv")
    # G turns a quarter of every pixel into fat: (G(y) - y) / (1 - y) = 0.25 wherever y < 1.
    subjects = coverage_subjects(records, every=2)
    rows = pathology_coverage(lambda y: y + 0.25 * (1 - y), subjects)
    synthetic = [r for r in rows if r["source"] == "G(y)"]
    real = {r["subject"]: r["fat_fraction"] for r in rows if r["source"] == "real"}
    assert sorted(r["subject"] for r in synthetic) == sorted(r.subject for r in records if r.group == "healthy")
    assert all(r["fat_fraction"] == pytest.approx(0.25, abs=1e-5) for r in synthetic)
    patients = [r for r in records if r.pathological]
    assert sorted(real) == sorted(r.subject for r in patients)
    for record in patients:
        assert real[record.subject] == pytest.approx(_independent_real_fraction(record, 2), abs=1e-5)
    # The identity adds no fat.
    assert all(r["fat_fraction"] == 0.0 for r in pathology_coverage(lambda y: y, subjects) if r["source"] == "G(y)")
    assert not any(key in r for r in rows for key in CHANGE_KEYS)  # F's change only when F is given
    # F darkening everything by 5 grey levels: both shifts -5 on every healthy subject, none on patients' rows.
    rows = pathology_coverage(lambda y: y, subjects, translate_healthy=lambda y: y - 5 / 255)
    healthy = [r for r in rows if r["source"] == "G(y)"]
    assert all(r["bias_bright"] == pytest.approx(-5, abs=1e-3) and r["bias_dark"] == pytest.approx(-5, abs=1e-3)
               and r["change"] > 0 for r in healthy)
    assert not any("change" in r for r in rows if r["source"] == "real")


def test_healthy_subjects_without_a_mask_get_fs_change_only(tiny_cohort):
    """Real cohorts may give healthy subjects no mask: F's change needs none, G's fat fraction does."""
    import dataclasses

    from mmac.datasets.manifest import read_manifest

    records = [dataclasses.replace(r, mask=None) if r.group == "healthy" else r
               for r in read_manifest(tiny_cohort / "manifest.csv")]
    subjects = coverage_subjects(records, every=2)
    healthy = [s for s in subjects if s["group"] == "healthy"]
    assert len(healthy) == 3 and all(s["mask"] is None for s in healthy)
    for entry in healthy:  # every 2nd slice that holds the thigh (here all 8 do)
        assert len(entry["slices"]) == 4
    rows = pathology_coverage(lambda y: y + 0.25 * (1 - y), subjects, translate_healthy=lambda y: y - 5 / 255)
    synthetic = [r for r in rows if r["source"] == "G(y)"]
    assert all(np.isnan(r["fat_fraction"]) for r in synthetic)
    assert all(r["bias_bright"] == pytest.approx(-5, abs=1e-3) for r in synthetic)
    with_masks = pathology_coverage(lambda y: y, coverage_subjects(read_manifest(tiny_cohort / "manifest.csv"),
                                                                    every=2), translate_healthy=lambda y: y - 5 / 255)
    # Without the mask the slices are chosen by the thigh, not by the muscle: here the same slices, same scores.
    for a, b in zip(sorted(synthetic, key=lambda r: r["subject"]),
                    sorted((r for r in with_masks if r["source"] == "G(y)"), key=lambda r: r["subject"]), strict=True):
        assert a["change"] == pytest.approx(b["change"])


def load_tool():
    spec = importlib.util.spec_from_file_location("coverage_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_on_a_trained_run(tiny_model, tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / "coverage.csv"
    assert tool.main([str(tiny_model.work_dir), "--out", str(out), "--every", "2"]) == 0
    printed = capsys.readouterr().out
    assert str(tiny_model.work_dir) in printed and "G(y) muscle fat fraction" in printed and "severe" in printed
    assert "G's codes" not in printed  # a G without a code
    frame = pd.read_csv(out)
    assert set(frame.source) == {"G(y)", "real"}
    assert frame.fat_fraction.between(0, 1).all()
    healthy = frame[frame.source == "G(y)"]
    assert healthy[list(CHANGE_KEYS)].notna().all().all() and (healthy.change > 0).all()
    # held_out: the healthy subjects of the run's test fold, from the same split as the dataset's.
    from mmengine.config import Config

    from mmac.datasets.folds import patient_kfold
    from mmac.datasets.manifest import read_manifest

    cfg = Config.fromfile(str(tiny_model.config)).test_dataloader.dataset
    records = read_manifest(Path(cfg.data_root) / cfg.manifest)
    test = patient_kfold([r.subject for r in records], [r.group for r in records], cfg.num_folds,
                         cfg.fold_seed)[cfg.fold][1]
    assert set(healthy[healthy.held_out].subject) == {s for s in test if s in set(healthy.subject)}
    assert healthy.held_out.any() and not healthy.held_out.all()
    assert "F(y) on held-out healthy subjects" in printed and "F(y) on training healthy subjects" in printed


def test_tool_progress_on_stderr_unless_no_progress(tiny_model, capsys):
    tool = load_tool()
    runs = [str(tiny_model.work_dir)] * 2
    assert tool.main(runs) == 0
    shown = capsys.readouterr()
    assert "pathology coverage: 100%" in shown.err and "2/2" in shown.err
    assert "pathology coverage" not in shown.out and "G(y) muscle fat fraction" in shown.out
    assert tool.main([*runs, "--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert "pathology coverage" not in quiet.err and "%|" not in quiet.err and quiet.out == shown.out


def test_tool_refuses_bad_input(tmp_path, capsys):
    tool = load_tool()
    assert tool.main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    grid = tmp_path / "grid"
    (grid / "runs").mkdir(parents=True)
    assert tool.main([str(grid)]) == 2
    assert "without finished runs" in capsys.readouterr().err
    assert tool.main([str(tmp_path), "--every", "0"]) == 2
    assert "--every must be >= 1" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))


def test_models_sharing_a_cohort_load_it_once(tiny_model, monkeypatch):
    import mmac.apis.coverage as coverage

    loads = []
    real = coverage.coverage_subjects
    monkeypatch.setattr(coverage, "coverage_subjects", lambda *a, **k: loads.append(1) or real(*a, **k))
    cohorts = {}
    first = coverage.model_coverage(tiny_model.config, tiny_model.checkpoint, cohorts=cohorts)
    second = coverage.model_coverage(tiny_model.config, tiny_model.checkpoint, cohorts=cohorts)
    assert len(loads) == 1 and len(cohorts) == 1
    assert first == second and {r["source"] for r in first} == {"G(y)", "real"}


@pytest.fixture(scope="module")
def tiny_latent_model(tiny_cohort, tmp_path_factory):
    """configs/ac_cyclegan_thigh_cpu_latent.py trained for 2 iterations on the tiny cohort: (config, checkpoint)."""
    pytest.importorskip("mmagic")
    from mmac.runner.launch import build_runner, load_config
    from tests.tiny_model import ROOT, tiny_cfg_options

    work_dir = tmp_path_factory.mktemp("tiny_latent") / "work"
    config = ROOT / "configs" / "ac_cyclegan_thigh_cpu_latent.py"
    build_runner(load_config(str(config), work_dir=str(work_dir), cfg_options=tiny_cfg_options(tiny_cohort))).train()
    return work_dir / config.name, work_dir / "iter_2.pth"


def test_a_latent_g_is_measured_with_the_codes_its_fakes_took(tiny_latent_model, tiny_model, tiny_cohort):
    from mmac.apis.coverage import model_coverage
    from mmac.apis.inference import init_translator
    from mmac.apis.latent_codes import code_translator
    from mmac.datasets.manifest import read_manifest

    config, checkpoint = tiny_latent_model
    trained = model_coverage(config, checkpoint)  # the config's fakes took the patients' codes
    prior = model_coverage(config, checkpoint, codes="prior")
    synthetic = [r for r in trained if r["source"] == "G(y)"]
    assert {r["codes"] for r in synthetic} == {"posterior"}
    assert {r["codes"] for r in prior if r["source"] == "G(y)"} == {"prior"}
    # by hand: the severe patients' slices give the codes, healthy subjects take them in manifest order
    subjects = coverage_subjects(read_manifest(tiny_cohort / "manifest.csv"))
    severe = np.concatenate([e["patient_slices"] for e in subjects if e["group"] == "severe"])
    model = init_translator(str(config), str(checkpoint), direction="pathological").model
    translate = code_translator(model, severe, seed=0)
    expected = [synthetic_fat_fraction(e["slices"], translate(e["slices"]), e["mask"]) for e in subjects
                if "slices" in e]
    assert [r["fat_fraction"] for r in synthetic] == pytest.approx(expected, abs=1e-6)
    # F's change and the patients' rows do not depend on G's codes
    assert [r.get("change") for r in trained] == [r.get("change") for r in prior]
    assert [r["fat_fraction"] for r in trained if r["source"] == "real"] == \
        [r["fat_fraction"] for r in prior if r["source"] == "real"]
    # a G without a code: 'none', and no posterior to take
    plain = model_coverage(tiny_model.config, tiny_model.checkpoint)
    assert {r["codes"] for r in plain if r["source"] == "G(y)"} == {"none"}
    with pytest.raises(ValueError, match="needs a G that takes a code"):
        model_coverage(tiny_model.config, tiny_model.checkpoint, codes="posterior")
    with pytest.raises(ValueError, match="codes"):
        model_coverage(config, checkpoint, codes="patients")
    with pytest.raises(ValueError, match="no 'giant' patient.*groups that have them: \\['moderate', 'severe'\\]"):
        model_coverage(config, checkpoint, code_group="giant")


def test_tool_names_a_latent_gs_codes(tiny_latent_model, capsys):
    tool = load_tool()
    run = str(tiny_latent_model[0].parent)
    assert tool.main([run, "--no-progress"]) == 0
    assert "G's codes: posterior" in capsys.readouterr().out
    assert tool.main([run, "--no-progress", "--codes", "prior"]) == 0
    assert "G's codes: prior" in capsys.readouterr().out
