"""Evaluation plots as small PNG files, plus helpers to inline them as data URIs.

The plots end up in Dagster asset metadata and in model cards, where they are embedded as
base64 markdown images: they are deliberately small (600x450 px) and self-contained.

matplotlib is imported inside the functions, never at module level, because the platform's
definitions module imports this one and must load about as fast as dagster itself. Figures are
built with ``matplotlib.figure.Figure`` and the Agg canvas directly, which needs no global
backend switch (no pyplot state) and so is safe to call from several threads.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlops_assets.evaluate.metrics import DEFAULT_CALIBRATION_BINS, calibration_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_SIZE_INCHES: tuple[float, float] = (6.0, 4.5)
FIGURE_DPI: int = 100
PNG_SIGNATURE: bytes = b"\x89PNG\r\n\x1a\n"

_MAX_FEATURE_LABEL_CHARS = 32


# --- numbers behind the plots -------------------------------------------------------------------


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (false positive rates, true positive rates) of the ROC curve, starting at (0, 0).

    One point per distinct score, so tied scores form a single diagonal step; this is what makes
    the trapezoidal area equal the Mann-Whitney AUC.
    """
    labels = _binary_labels(y_true, require_both_classes=True)
    values = _finite_scores(scores, expected_length=labels.size)

    order = np.argsort(-values, kind="mergesort")
    sorted_scores = values[order]
    sorted_labels = labels[order]
    last_index_of_each_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), labels.size - 1]

    true_positives = np.cumsum(sorted_labels)[last_index_of_each_score]
    false_positives = (last_index_of_each_score + 1) - true_positives
    positives = int(labels.sum())
    negatives = labels.size - positives
    fpr = np.r_[0.0, false_positives / negatives]
    tpr = np.r_[0.0, true_positives / positives]
    return fpr, tpr


def roc_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a ROC curve given by ``roc_points`` (trapezoidal rule)."""
    return float(np.trapezoid(tpr, fpr))


def calibration_points(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = DEFAULT_CALIBRATION_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (mean predicted probability, observed positive rate, rows) per non-empty bin.

    The bins are the gated ECE's (``metrics.calibration_table``), so the plot shows exactly the
    gaps the calibration gate weighs. Empty bins are dropped: they have no observed rate to plot.
    """
    return _filled_bins(calibration_table(y_true, probabilities, n_bins))


def _filled_bins(table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    filled = table[table["count"] > 0]
    return filled["mean_predicted"].to_numpy(), filled["observed_rate"].to_numpy(), filled["count"].to_numpy()


# --- plots --------------------------------------------------------------------------------------


def plot_roc(
    y_true: np.ndarray, curves: Mapping[str, np.ndarray], path: str | os.PathLike[str]
) -> Path:
    """Draw one ROC curve per named score array (e.g. candidate vs champion) and write a PNG.

    The AUC goes into the legend so the plot can be read without the metrics table.
    """
    _require_curves(curves)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for name, scores in curves.items():
        fpr, tpr = roc_points(y_true, scores)
        axes.plot(fpr, tpr, linewidth=1.8, label=f"{name} (AUC = {roc_auc(fpr, tpr):.4f})")
    axes.set(
        xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate"
    )
    axes.set_title("ROC curve")
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=9)
    return _write_png_atomically(figure, path)


def plot_calibration(
    y_true: np.ndarray,
    curves: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> Path:
    """Draw a reliability diagram per named probability array and write a PNG.

    A histogram of predictions sits underneath because a bin's observed rate means little
    without knowing how many rows fell into it.
    """
    _require_curves(curves)
    figure = _new_figure()
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1))
    reliability = figure.add_subplot(grid[0])
    histogram = figure.add_subplot(grid[1], sharex=reliability)

    reliability.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    for name, probabilities in curves.items():
        table = calibration_table(y_true, probabilities, n_bins)
        mean_predicted, observed_rate, _ = _filled_bins(table)
        (line,) = reliability.plot(mean_predicted, observed_rate, marker="o", label=name)
        # the same bins again: matplotlib's own histogram would put a score on an edge in the next bin
        histogram.stairs(table["count"], [table["bin_low"].iloc[0], *table["bin_high"]], color=line.get_color())
    reliability.set(xlim=(0, 1), ylim=(0, 1.01), ylabel="Observed positive rate")
    reliability.set_title("Calibration")
    reliability.grid(alpha=0.3)
    reliability.legend(loc="upper left", fontsize=9)
    reliability.tick_params(labelbottom=False)
    histogram.set(xlabel="Mean predicted probability", ylabel="Rows")
    histogram.grid(alpha=0.3)
    return _write_png_atomically(figure, path)


def plot_feature_importance(
    importances: Mapping[str, float], path: str | os.PathLike[str], top_n: int = 20
) -> Path:
    """Draw the ``top_n`` features by absolute importance as horizontal bars and write a PNG.

    Ranking by absolute value keeps strongly negative importances (e.g. from permutation
    importance) visible; they are drawn in a different colour.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    if not importances:
        raise ValueError("importances is empty: nothing to plot")
    values = {name: float(value) for name, value in importances.items()}
    if not all(np.isfinite(value) for value in values.values()):
        raise ValueError("importances must be finite numbers")

    ranked = sorted(values.items(), key=lambda item: abs(item[1]), reverse=True)[:top_n]
    ranked.reverse()  # barh draws bottom-up; the most important feature belongs on top
    labels = [_shorten(name, _MAX_FEATURE_LABEL_CHARS) for name, _ in ranked]
    widths = [value for _, value in ranked]
    colours = ["tab:blue" if value >= 0 else "tab:red" for value in widths]

    figure = _new_figure()
    axes = figure.add_subplot()
    axes.barh(range(len(ranked)), widths, color=colours)
    axes.set_yticks(range(len(ranked)), labels, fontsize=8 if len(ranked) > 12 else 9)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("Importance")
    axes.set_title(f"Top {len(ranked)} of {len(values)} features by importance")
    axes.grid(axis="x", alpha=0.3)
    return _write_png_atomically(figure, path)


# --- embedding ----------------------------------------------------------------------------------


def png_data_uri(path: str | os.PathLike[str]) -> str:
    """Return the PNG at ``path`` as a ``data:image/png;base64,...`` URI.

    Data URIs make markdown and HTML self-contained: Dagster's UI and offline machines cannot
    follow links to files on the box that produced them.
    """
    content = Path(path).read_bytes()
    if not content.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(content).decode("ascii")


def png_markdown(path: str | os.PathLike[str], alt: str) -> str:
    """Return a markdown image with the PNG inlined, the form Dagster's metadata markdown renders."""
    return f"![{_markdown_alt_text(alt)}]({png_data_uri(path)})"


# --- internals ----------------------------------------------------------------------------------


def _binary_labels(y_true: np.ndarray, *, require_both_classes: bool) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {labels.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("y_true must contain only 0/1 (or boolean) labels")
    labels = labels.astype(np.int64)
    if require_both_classes and (labels.min(initial=1) != 0 or labels.max(initial=0) != 1):
        raise ValueError("a ROC curve needs both positive and negative labels")
    return labels


def _finite_scores(scores: np.ndarray, *, expected_length: int) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    if values.shape != (expected_length,):
        raise ValueError(
            f"scores must be one-dimensional with {expected_length} values, got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return values


def _require_curves(curves: Mapping[str, np.ndarray]) -> None:
    if not curves:
        raise ValueError("curves is empty: pass at least one named score array")


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _write_png_atomically(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Readers (the UI, a card being rendered concurrently) see the old PNG or the new one."""
    from mlops_assets.core.files import atomic_path

    with atomic_path(path) as temp:
        # No "Software" text chunk: identical plots then give identical bytes.
        figure.savefig(temp, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return Path(path)


def _markdown_alt_text(alt: str) -> str:
    """Keep alt text from closing the image syntax early or spilling onto a new line."""
    single_line = " ".join(alt.split())
    return single_line.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
