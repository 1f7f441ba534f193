"""Tests of the cohort variations (mmac.phantom.variation): each knob moves the cohort along its axis only."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmac.phantom import MUSCLES, make_cohort, make_subject
from mmac.phantom.anatomy import SEPTUM, ThighAnatomy, grid_coordinates, muscle_depth, render_slice
from mmac.phantom.infiltration import PATCH_SOFTNESS, TEMPLATES, infiltrate, sample_involvement
from mmac.phantom.variation import COMPARTMENTS, Variation

REPO = Path(__file__).resolve().parents[2]


def test_every_muscle_is_in_exactly_one_compartment():
    members = [m for names in COMPARTMENTS.values() for m in names]
    assert sorted(members) == sorted(MUSCLES)
    mapping = Variation(anatomy="compartments").label_map()
    assert sorted(set(mapping[1:].tolist())) == sorted(MUSCLES.index(n[0]) + 1 for n in COMPARTMENTS.values())
    assert Variation().label_map() is None


def test_compartments_drop_septa_inside_a_compartment_only():
    anatomy = ThighAnatomy.sample(np.random.default_rng(4))
    x, y = grid_coordinates(128, 256.0)
    plain = render_slice(anatomy, 0.0, x, y)
    merged = render_slice(anatomy, 0.0, x, y, label_map=Variation(anatomy="compartments").label_map())
    # The muscle compartment (muscle + septa) is the same region; only septa inside a compartment became muscle.
    region = lambda g: (g.labels > 0) | (g.tissue == SEPTUM)  # noqa: E731
    np.testing.assert_array_equal(region(plain), region(merged))
    assert (merged.tissue == SEPTUM).sum() < (plain.tissue == SEPTUM).sum()
    assert len(np.unique(merged.labels[merged.labels > 0])) <= 3
    # A pixel that became muscle was a septum between two muscles of one compartment.
    gained = (merged.labels > 0) & (plain.labels == 0)
    assert np.all(plain.tissue[gained] == SEPTUM)


def test_templates_atrophy_and_severity_reach_the_involvement():
    area = np.ones(len(MUSCLES))
    for seed in range(20):
        inv = sample_involvement(np.random.default_rng(seed), "severe", area, templates=("quadriceps",),
                                 severe_ff=(0.7, 0.7), atrophy=0.0)
        assert inv.template == "quadriceps"
        assert inv.target == pytest.approx(0.7)
        assert np.all(inv.atrophy == 0)
    default = [sample_involvement(np.random.default_rng(s), "severe", area) for s in range(40)]
    assert {d.template for d in default} == set(TEMPLATES)
    assert any(np.any(d.atrophy > 0) for d in default)


def test_severe_range_sets_the_realised_fat_fraction():
    low = make_subject("severe", seed=2, size=32, slices=3, variation=Variation(severe_ff=(0.2, 0.2)))
    high = make_subject("severe", seed=2, size=32, slices=3, variation=Variation(severe_ff=(0.8, 0.8)))
    assert abs(low.info["mean_fat_fraction"] - 0.2) < 0.08
    assert abs(high.info["mean_fat_fraction"] - 0.8) < 0.08


def test_no_atrophy_keeps_every_healthy_muscle_pixel():
    sub = make_subject("severe", seed=1, size=32, slices=2, variation=Variation(atrophy=0.0))
    atrophied = make_subject("severe", seed=1, size=32, slices=2)
    assert (sub.labels > 0).sum() >= (atrophied.labels > 0).sum()
    # Without atrophy the subject's muscle is the counterpart's up to the partial-volume vote at the border.
    same = ((sub.labels > 0) == (sub.healthy_labels > 0)).mean()
    assert same > 0.995


def _adjacent_overlap(mask: np.ndarray) -> float:
    """Mean Dice of the muscle masks of neighbouring slices, (n, n, slices) -> float."""
    dice = [2 * (a & b).sum() / max(a.sum() + b.sum(), 1)
            for a, b in ((mask[..., k] > 0, mask[..., k + 1] > 0) for k in range(mask.shape[2] - 1))]
    return float(np.mean(dice))


def test_independent_slices_are_uncorrelated_along_z():
    stacked = make_subject("severe", seed=5, size=64, slices=6)
    independent = make_subject("severe", seed=5, size=64, slices=6, variation=Variation(independent_slices=True))
    assert independent.image.shape == stacked.image.shape == (64, 64, 6)
    assert _adjacent_overlap(stacked.mask) > 0.9
    assert _adjacent_overlap(independent.mask) < _adjacent_overlap(stacked.mask) - 0.1
    # Slices of one independent subject are as unlike each other as they are unlike another subject's.
    other = make_subject("severe", seed=5, index=2, size=64, slices=6, variation=Variation(independent_slices=True))
    assert not np.array_equal(independent.image, other.image)
    levels = [independent.info[k] for k in ("snr", "mean_fat_fraction")]
    assert all(np.isfinite(levels))


def test_default_variation_is_the_default_cohort():
    a = make_subject("moderate", seed=7, size=32, slices=2)
    b = make_subject("moderate", seed=7, size=32, slices=2, variation=Variation())
    np.testing.assert_array_equal(a.image, b.image)
    assert Variation().is_default and Variation().changes() == {}


@pytest.mark.parametrize("kwargs, match", [
    (dict(templates=("dystrophy",)), "templates"),
    (dict(templates=()), "at least one"),
    (dict(severe_ff=(0.6, 0.4)), "severe_ff"),
    (dict(severe_ff=(0.5, 0.95)), "severe_ff"),
    (dict(atrophy=-1.0), "atrophy"),
    (dict(anatomy="organs"), "anatomy"),
    (dict(texture="noise"), "texture"),
])
def test_bad_variations_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Variation(**kwargs)


def test_from_kwargs_names_unknown_keys_and_takes_json_lists():
    with pytest.raises(ValueError, match="allowed"):
        Variation.from_kwargs(slices_independent=True)
    v = Variation.from_kwargs(templates=["quadriceps"], severe_ff=[0.5, 0.6])
    assert v.templates == ("quadriceps",) and v.severe_ff == (0.5, 0.6)
    assert Variation.from_kwargs(**json.loads(json.dumps(v.changes()))) == v


def test_make_cohort_records_a_variation(tmp_path):
    manifest = make_cohort(tmp_path / "c", healthy=1, moderate=0, severe=1, size=32, slices=2, progress=False,
                           variation=dict(anatomy="compartments", templates=["quadriceps"]))
    saved = json.loads((manifest.parent / "variation.json").read_text())
    assert saved == {"anatomy": "compartments", "templates": ["quadriceps"]}
    assert "quadriceps" in (manifest.parent / "subjects.csv").read_text()
    plain = make_cohort(tmp_path / "d", healthy=1, moderate=0, severe=0, size=32, slices=1, progress=False)
    assert not (plain.parent / "variation.json").exists()


def _two_muscle_plane(n: int = 64, seed: int = 0):
    """Two square muscles (labels 1 and 2) and standardised random fields, each ``(n, n)``."""
    labels = np.zeros((n, n), np.int16)
    labels[8:30, 8:56], labels[34:56, 8:56] = 1, 2
    rng = np.random.default_rng(seed)
    fields = [rng.standard_normal((n, n)) for _ in range(3)]
    return labels, muscle_depth(labels), fields


def test_patches_texture_thresholds_the_coarse_field_alone():
    area = np.ones(len(MUSCLES))
    inv = sample_involvement(np.random.default_rng(3), "severe", area, atrophy=0.0, texture="patches")
    labels, depth, (fine, coarse, streak) = _two_muscle_plane()
    ff, atrophied = infiltrate(labels, depth, fine, coarse, streak, 0.5, inv)
    # Fine blobs and streaks play no part: other fields give the same fat.
    other, _ = infiltrate(labels, depth, -fine, coarse, np.zeros_like(streak), 0.5, inv)
    np.testing.assert_array_equal(ff, other)
    target = inv.ff_at(0.5)
    for label in (1, 2):
        inside = labels == label
        f, c = ff[inside], coarse[inside]
        # Near-binary: fat where the coarse field is above one threshold per muscle, water below it; only
        # pixels within 0.1 standard deviations of the threshold are partly fat.
        threshold = c[np.argmin(np.abs(f - 0.5))]
        assert np.all(f[c > threshold + 0.1] > 0.98) and np.all(f[c < threshold - 0.1] < 0.02)
        assert np.mean(np.abs(c - threshold) <= 0.1) < 0.1
        assert abs(f.mean() - target[label - 1]) < 0.01            # the muscle's target fat fraction
    # The default texture on the same fields is graded (soft sigmoid of a pattern mix), not binary.
    graded, _ = infiltrate(labels, depth, fine, coarse, streak, 0.5, sample_involvement(
        np.random.default_rng(3), "severe", area, atrophy=0.0))
    assert np.mean((graded[labels > 0] > 0.02) & (graded[labels > 0] < 0.98)) > 0.2
    assert PATCH_SOFTNESS < 0.1 and not atrophied.any()


def test_texture_changes_the_fat_pattern_and_nothing_else():
    plain = make_subject("severe", seed=4, size=64, slices=3)
    patches = make_subject("severe", seed=4, size=64, slices=3, variation=Variation(texture="patches"))
    # Same anatomy, involvement, atrophy and acquisition: the healthy counterpart and the muscle are the same.
    np.testing.assert_array_equal(plain.healthy, patches.healthy)
    np.testing.assert_array_equal(plain.mask, patches.mask)
    assert not np.array_equal(plain.image, patches.image)
    assert abs(plain.info["mean_fat_fraction"] - patches.info["mean_fat_fraction"]) < 0.03


def test_make_phantom_cli_records_the_texture(tmp_path):
    out = tmp_path / "c"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "make_phantom.py"), "--out", str(out), "--healthy",
                           "0", "--moderate", "0", "--severe", "1", "--size", "32", "--slices", "1", "--texture",
                           "patches", "--no-progress", "--workers", "1"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "variation.json").read_text()) == {"texture": "patches"}


def test_make_phantom_cli_refuses_an_unknown_template(tmp_path):
    out = tmp_path / "c"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "make_phantom.py"), "--out", str(out),
                           "--templates", "dystrophy"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "templates" in proc.stderr and "quadriceps" in proc.stderr
    assert not out.exists()
