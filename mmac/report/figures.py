"""Figures of the cross-validation report (matplotlib, Agg backend): box plots, Fig. 3, fat fraction.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans" (ISBI 2021), Fig. 3 shows original slices and their translations
with L_C and L_AC, each with the segmentation of the optimal two thresholds. :func:`fig3` re-creates it from
the runs' checkpoints: it needs ``<results_dir>/runs/<run>/DONE`` files naming each run's ``config`` and
``checkpoint`` (paths absolute, or relative to the run folder, the results folder or the working directory).
"""
from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mmac.fileio import atomic_path  # noqa: E402
from mmac.protocol.runs import resolve_path, run_files  # noqa: E402
from mmac.report.tables import _loss_order, patient_table, setting_label  # noqa: E402

__all__ = ["boxplots", "fat_fraction_scatter", "select_fig3_slices", "load_done", "fig3", "save_figure",
           "FIGURE_FORMATS"]

logger = logging.getLogger(__name__)
COLOURS = {"original": "#9e9e9e", "L_C": "#1f77b4", "L_AC": "#d62728"}
OTHER_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")  # further losses, by name


def loss_colour(loss: str, losses) -> str:
    """The colour of ``loss``: the paper's fixed ones, then :data:`OTHER_COLOURS` in the order of the others."""
    if loss in COLOURS:
        return COLOURS[loss]
    others = [name for name in _loss_order(losses) if name not in COLOURS]
    return OTHER_COLOURS[others.index(loss) % len(OTHER_COLOURS)] if loss in others else OTHER_COLOURS[0]
FIGURE_FORMATS = ("png", "pdf", "svg")


def check_formats(formats) -> tuple[str, ...]:
    """Validate figure formats (a subset of :data:`FIGURE_FORMATS`); returns them without duplicates."""
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad:
        raise ValueError(f"unknown figure format(s) {bad}; allowed: {', '.join(FIGURE_FORMATS)}")
    return formats


def save_figure(fig, path: str | Path, formats=()) -> Path:
    """Save ``fig`` as ``path`` (PNG, 120 dpi) and as ``path`` with each suffix of ``formats``; close it.

    Every file is written atomically. PDF and SVG are vector formats (text and lines stay sharp in a paper);
    images inside (Fig. 3's slices) are embedded as pixels.

    Args:
        fig: A matplotlib figure.
        path: The PNG path; other formats replace its suffix.
        formats: Further formats from :data:`FIGURE_FORMATS`. Defaults to ().

    Returns:
        ``path``.

    Raises:
        ValueError: An unknown format.
    """
    path = Path(path)
    try:
        for fmt in check_formats((path.suffix.lstrip(".") or "png", *formats)):
            with atomic_path(path.with_suffix(f".{fmt}")) as tmp:
                fig.savefig(tmp, format=fmt, dpi=120)
    finally:
        plt.close(fig)
    return path


def boxplots(results: pd.DataFrame, path: str | Path, formats=()) -> Path:
    """Box plots of the per-patient mean Dice per group (panels) and setting (boxes), points overlaid; as ``path``
    (PNG) and with each suffix of ``formats`` (:func:`save_figure`).

    Each point is one patient: Dice averaged over its test slices and over repetitions (as in Table 1).
    """
    patients = patient_table(results)
    original = patients.groupby(["subject", "group"], sort=True)["dice_original"].mean().reset_index()
    settings = [("original", None)] + [(loss, w) for w in sorted(patients["w_c"].unique())
                                       for loss in _loss_order(patients["loss"].unique())
                                       if ((patients["loss"] == loss) & (patients["w_c"] == w)).any()]
    panels = [(label, members) for label, members in (("Moderate", ["moderate"]), ("Severe", ["severe"]),
                                                      ("Pathological", ["moderate", "severe"]))
              if patients["group"].isin(members).any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 + 1.1 * len(settings) * len(panels), 4.6), sharey=True,
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (label, members) in zip(axes[0], panels, strict=True):
        data, names, colours = [], [], []
        for loss, w_c in settings:
            if loss == "original":
                values = original.loc[original["group"].isin(members), "dice_original"]
                names.append("Original (c)")
            else:
                sel = (patients["loss"] == loss) & (patients["w_c"] == w_c) & patients["group"].isin(members)
                values = patients.loc[sel, "dice_translated"]
                names.append(setting_label(loss, w_c).replace(", ", "\n"))
            data.append(values.to_numpy(float))
            colours.append(loss_colour(loss, patients["loss"].unique()))
        parts = ax.boxplot(data, patch_artist=True, widths=0.6, showfliers=False)
        for box, colour in zip(parts["boxes"], colours, strict=True):
            box.set_facecolor(colour)
            box.set_alpha(0.35)
        for i, values in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=12, color="k", zorder=3)
        ax.set_xticks(range(1, len(names) + 1), names, fontsize=8)
        ax.set_title(f"{label} (n = {len(data[0])} patients)")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("Per-patient mean Dice of the muscle\n(optimal two thresholds)")
    fig.suptitle("Muscle segmentation by thresholding: original slices vs. translations F(x)\n"
                 "(one point per patient, averaged over its slices and the repetitions)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, formats)


def fat_fraction_scatter(results: pd.DataFrame, path: str | Path, formats=()) -> Path:
    """Per-slice estimated vs. true mean muscle fat fraction (phantom), one colour per setting; as ``path`` (PNG)
    and with each suffix of ``formats`` (:func:`save_figure`)."""
    fig, ax = plt.subplots(figsize=(5.5, 5.2))
    markers = {"L_C": "o", "L_AC": "^"}
    w_values = sorted(results["w_c"].unique())
    shades = {w: 0.45 + 0.55 * i / max(1, len(w_values) - 1) for i, w in enumerate(w_values)}
    for w_c in w_values:
        for loss in _loss_order(results["loss"].unique()):
            part = results[(results["loss"] == loss) & (results["w_c"] == w_c)]
            if not len(part):
                continue
            colour = matplotlib.colors.to_rgba(loss_colour(loss, results["loss"].unique()), alpha=shades[w_c])
            ax.scatter(part["ff_true"], part["ff_est"], s=14, marker=markers.get(loss, "s"), color=colour,
                       label=setting_label(loss, w_c))
    top = float(np.nanmax([results["ff_true"].max(), results["ff_est"].max(), 0.05])) * 1.05
    ax.plot([0, top], [0, top], "k--", lw=1, label="identity")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("True mean fat fraction in the muscle (phantom)")
    ax.set_ylabel("Estimated from x − F(x)")
    ax.set_title("Fat fraction of each test slice: estimate vs. truth")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, formats)


def select_fig3_slices(results: pd.DataFrame, n: int = 3, w_c: float | None = None, loss: str = "L_AC",
                       reference: str = "L_C") -> pd.DataFrame:
    """Test slices for Fig. 3: those with the largest improvement of ``loss`` over the original Dice.

    Slices of severe patients are preferred (the paper's Fig. 3); moderate ones are used when there are no
    severe ones. Only slices tested with both ``loss`` and ``reference`` in the same fold and repetition count.

    Args:
        results: Validated results.
        n: Number of slices (distinct subject/slice). Defaults to 3.
        w_c: Cycle weight; None takes 1 when present, else the largest. Defaults to None.
        loss: The loss whose gain picks the slices. Defaults to ``'L_AC'``.
        reference: The loss shown beside it. Defaults to ``'L_C'``.

    Returns:
        Columns ``subject``, ``group``, ``slice``, ``fold``, ``repetition``, ``w_c``, ``run_<reference>``,
        ``run_<loss>``, ``dice_original``, ``dice_<reference>``, ``dice_<loss>`` (``run_L_C``, ``run_L_AC``,
        ... for the paper's pair); at most ``n`` rows, best first.

    Raises:
        ValueError: No slice was tested with both losses.
    """
    if w_c is None:
        values = sorted(results["w_c"].unique())
        w_c = 1.0 if 1.0 in values else values[-1]
    at = results[results["w_c"] == w_c]
    keys = ["fold", "repetition", "subject", "group", "slice"]
    main = at[at["loss"] == loss][keys + ["run", "dice_original", "dice_translated"]]
    other = at[at["loss"] == reference][keys + ["run", "dice_translated"]]
    both = main.merge(other, on=keys, suffixes=(f"_{loss}", f"_{reference}"))
    if both.empty:
        raise ValueError(f"no test slice was evaluated with both {loss} and {reference} at w_c={w_c:g}")
    both = both.rename(columns={f"dice_translated_{loss}": f"dice_{loss}",
                                f"dice_translated_{reference}": f"dice_{reference}"})
    severe = both[both["group"] == "severe"]
    both = severe if len(severe) else both
    both = both.assign(w_c=float(w_c), gain=both[f"dice_{loss}"] - both["dice_original"])
    both = both.sort_values(["gain", "subject", "slice"], ascending=[False, True, True])
    both = both.drop_duplicates(["subject", "slice"]).head(n)
    return both[["subject", "group", "slice", "fold", "repetition", "w_c", f"run_{reference}", f"run_{loss}",
                 "dice_original", f"dice_{reference}", f"dice_{loss}"]].reset_index(drop=True)


load_done = run_files  # ``(config, checkpoint)`` of a finished run: mmac.protocol.runs.run_files


def _subject_slice(config: Path, subject: str, index: int, size: int | None, mode: str,
                   results_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Normalised slice and mask of ``subject`` at axial index ``index``, brought to the model's size."""
    from mmengine.config import Config

    from mmac.apis.inference import model_manifest
    from mmac.datasets.manifest import load_subject, read_manifest, volume_to_slices
    from mmac.datasets.thigh_mr import fit_slices

    cfg = Config.fromfile(str(config))
    dataset = cfg.test_dataloader.dataset
    manifest = model_manifest(cfg)
    if not manifest.is_absolute():
        manifest = resolve_path(str(manifest), results_dir)
    record = next((r for r in read_manifest(manifest) if r.subject == subject), None)
    if record is None:
        raise ValueError(f"subject {subject!r} is not in {manifest}")
    volume = load_subject(record, load_counterpart=False, load_fat_fraction=False,
                          mask_labels=dataset.get("mask_labels"))
    image = volume_to_slices(volume.image)[index:index + 1]  # (1, H, W)
    mask = volume_to_slices(volume.mask)[index:index + 1]
    if size is not None:
        image, mask = fit_slices(image, size, mode), fit_slices(mask, size, mode, nearest=True)
    return image, mask


def fig3(results: pd.DataFrame, results_dir: str | Path, path: str | Path, n: int = 3, w_c: float | None = None,
         device: str = "cpu", formats=(), progress: bool = False, loss: str = "L_AC",
         reference: str = "L_C") -> tuple[Path, pd.DataFrame]:
    """Re-create the paper's Fig. 3 from the runs' checkpoints.

    For each slice of :func:`select_fig3_slices`: the original slice, F(x) of the ``reference`` run (L_C) and
    F(x) of the ``loss`` run (L_AC) of the same fold, repetition and w_c, each with the segmentation of its
    optimal two thresholds (red)
    and the reference muscle mask's outline (green), Dice in the panel title. The slice comes from the
    manifest named in the L_AC run's config, normalised and resized as the dataset does; the Dice is
    recomputed on it (it matches results.csv up to float rounding).

    Args:
        results: Validated results.
        results_dir: Folder holding ``runs/<run>/DONE``.
        path: Output image (PNG).
        n: Number of slices (rows). Defaults to 3.
        w_c: Cycle weight; see :func:`select_fig3_slices`. Defaults to None.
        device: Torch device for the translations. Defaults to ``'cpu'``.
        formats: Further figure formats, e.g. ``('pdf',)`` (:func:`save_figure`). Defaults to ().
        progress: A tqdm progress bar on stderr over the slices ("report: fig3"). Defaults to False.

    Returns:
        The image path and the selected slices with the recomputed Dice (``dice_*_recomputed``).

    Raises:
        FileNotFoundError: A run's DONE file, config, checkpoint or the cohort is missing.
        ValueError: No slice with both losses; see also :func:`load_done`.
    """
    from tqdm import tqdm

    from mmac.apis.inference import init_translator
    from mmac.evaluation.threshold_dice import optimal_threshold_dice

    results_dir = Path(results_dir)
    chosen = select_fig3_slices(results, n=n, w_c=w_c, loss=loss, reference=reference)
    shown_runs = pd.unique(chosen[[f"run_{reference}", f"run_{loss}"]].values.ravel())
    runs = {run: load_done(results_dir, run) for run in shown_runs}
    translators = {}
    fig, axes = plt.subplots(len(chosen), 3, figsize=(9, 3.1 * len(chosen)), squeeze=False)
    recomputed = []
    for row, item in tqdm(chosen.iterrows(), total=len(chosen), desc="report: fig3", unit="slice",
                          disable=not progress):
        panels = []
        for shown_loss in ("original", reference, loss):
            run = item[f"run_{loss}"] if shown_loss == "original" else item[f"run_{shown_loss}"]
            if run not in translators:
                translators[run] = init_translator(*runs[run], device=device)
            translator = translators[run]
            if shown_loss == "original":
                image, mask = _subject_slice(runs[run][0], item["subject"], int(item["slice"]),
                                             translator.image_size, translator.resize_mode, results_dir)
                shown = image[0]
            else:
                shown = translator.translate_slices(image)[0]
            dice, lo, hi = optimal_threshold_dice(shown * 255.0, mask[0])
            seg = (shown * 255.0 >= lo) & (shown * 255.0 <= hi)
            panels.append((shown_loss, shown, seg, dice))
        recomputed.append({f"dice_{name}_recomputed": dice for name, _, _, dice in panels})
        for col, (shown_loss, shown, seg, dice) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            overlay = np.zeros((*seg.shape, 4))
            overlay[seg] = (1.0, 0.1, 0.1, 0.4)
            ax.imshow(overlay, interpolation="nearest")
            ax.contour(mask[0].astype(float), levels=[0.5], colors="lime", linewidths=0.8)
            name = ("Original x (c)" if shown_loss == "original"
                    else f"F(x), {setting_label(shown_loss, item['w_c'])}")
            ax.set_title(f"{name}\nDice {dice:.3f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"{item['subject']} ({item['group']})\nslice {int(item['slice'])}, "
                                f"fold {item['fold']}, rep. {item['repetition']}", fontsize=8)
    fig.suptitle("Optimal two-threshold muscle segmentation (red) vs. reference mask (green outline)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, formats), pd.concat([chosen, pd.DataFrame(recomputed)], axis=1)
