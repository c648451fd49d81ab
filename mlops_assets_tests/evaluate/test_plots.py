"""Tests for the evaluation plots: valid small PNGs, correct curve numbers, lazy matplotlib."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_assets.evaluate import plots

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def labels_and_scores() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=500)
    candidate = np.clip(0.35 * labels + 0.65 * rng.random(500), 0.0, 1.0)
    champion = rng.random(500)
    return labels, {"candidate": candidate, "champion": champion}


def assert_is_png(path: Path) -> None:
    content = path.read_bytes()
    assert content.startswith(plots.PNG_SIGNATURE)
    assert len(content) > 1024
    width, height = struct.unpack(">II", content[16:24])  # IHDR follows the 8-byte signature
    assert (width, height) == (600, 450)


def assert_only_file_in_folder(path: Path) -> None:
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


def test_plot_roc_writes_a_png(tmp_path: Path, labels_and_scores) -> None:
    labels, curves = labels_and_scores
    written = plots.plot_roc(labels, curves, tmp_path / "roc.png")
    assert written == tmp_path / "roc.png"
    assert_is_png(written)
    assert_only_file_in_folder(written)


def test_plot_calibration_writes_a_png(tmp_path: Path, labels_and_scores) -> None:
    labels, curves = labels_and_scores
    written = plots.plot_calibration(labels, curves, tmp_path / "calibration.png", n_bins=8)
    assert_is_png(written)
    assert_only_file_in_folder(written)


def test_plot_feature_importance_writes_a_png(tmp_path: Path) -> None:
    importances = {f"feature_{index}": float(index) - 5.0 for index in range(30)}
    written = plots.plot_feature_importance(importances, tmp_path / "importance.png", top_n=10)
    assert_is_png(written)
    assert_only_file_in_folder(written)


def test_plot_creates_missing_folders_and_replaces_existing_file(
    tmp_path: Path, labels_and_scores
) -> None:
    labels, curves = labels_and_scores
    target = tmp_path / "nested" / "roc.png"
    target.parent.mkdir()
    target.write_bytes(b"stale")
    plots.plot_roc(labels, curves, target)
    assert_is_png(target)
    assert_only_file_in_folder(target)


def test_identical_plots_give_identical_bytes(tmp_path: Path, labels_and_scores) -> None:
    labels, curves = labels_and_scores
    first = plots.plot_roc(labels, curves, tmp_path / "first.png").read_bytes()
    second = plots.plot_roc(labels, curves, tmp_path / "second.png").read_bytes()
    assert first == second


def test_invalid_input_raises_and_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "roc.png"
    with pytest.raises(ValueError, match="both positive and negative"):
        plots.plot_roc(np.ones(4), {"candidate": np.full(4, 0.5)}, target)
    with pytest.raises(ValueError, match="one-dimensional with 4 values"):
        plots.plot_roc(np.array([0, 1, 0, 1]), {"candidate": np.full(3, 0.5)}, target)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_feature_importance({}, target)
    assert list(tmp_path.iterdir()) == []


def test_png_markdown_round_trips_to_the_same_bytes(tmp_path: Path, labels_and_scores) -> None:
    import base64
    import re

    labels, curves = labels_and_scores
    path = plots.plot_roc(labels, curves, tmp_path / "roc.png")
    markdown = plots.png_markdown(path, alt="ROC [candidate]")
    match = re.fullmatch(r"!\[(.*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match is not None
    assert match.group(1) == "ROC \\[candidate\\]"
    assert base64.b64decode(match.group(2)) == path.read_bytes()


def test_png_data_uri_rejects_non_png(tmp_path: Path) -> None:
    not_png = tmp_path / "plot.png"
    not_png.write_text("hello")
    with pytest.raises(ValueError, match="not a PNG"):
        plots.png_data_uri(not_png)


def test_roc_points_handle_ties_like_mann_whitney() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.8, 0.9])
    fpr, tpr = plots.roc_points(labels, scores)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1, 1])
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    mann_whitney = (wins + 0.5 * ties) / (positives.size * negatives.size)
    assert plots.roc_auc(fpr, tpr) == pytest.approx(mann_whitney)


def test_calibration_points_use_equal_width_bins() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.05, 0.15, 0.15, 0.95, 1.0, 0.92])
    mean_predicted, observed_rate, rows = plots.calibration_points(
        labels, probabilities, n_bins=10
    )
    np.testing.assert_allclose(mean_predicted, [0.05, 0.15, (0.95 + 1.0 + 0.92) / 3])
    np.testing.assert_allclose(observed_rate, [0.0, 0.5, 2 / 3])
    np.testing.assert_array_equal(rows, [1, 2, 3])


def test_calibration_points_reject_probabilities_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.calibration_points(np.array([0, 1]), np.array([0.2, 1.2]))


@pytest.mark.parametrize("module", ["mlops_assets.evaluate.plots", "mlops_assets.promote.card"])
def test_importing_does_not_import_matplotlib(module: str) -> None:
    code = f"import {module}, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_scores_on_bin_edges_fall_in_the_same_bins_for_the_plot_and_the_gated_ece() -> None:
    from mlops_assets.evaluate.metrics import METRICS, calibration_table

    # every score sits exactly on an edge of the ten bins; each bin's gap differs, so moving one
    # score to the neighbouring bin changes both the plotted points and the ECE
    probabilities = np.array([0.0, 0.1, 0.1, 0.2, 0.3, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.0])
    labels = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1])
    mean_predicted, observed_rate, rows = plots.calibration_points(labels, probabilities, n_bins=10)
    table = calibration_table(labels, probabilities, n_bins=10)
    filled = table[table["count"] > 0]
    np.testing.assert_array_equal(rows, filled["count"])
    np.testing.assert_allclose(mean_predicted, filled["mean_predicted"])
    np.testing.assert_allclose(observed_rate, filled["observed_rate"])
    # the bins are right-closed: 0.1 belongs to (0.0, 0.1], with 0.0 in the first bin too
    np.testing.assert_array_equal(rows, [3, 1, 2, 1, 1, 1, 1, 2])
    # the ECE the calibration gate reads is the row-weighted gap of exactly these plotted points
    ece, _higher_is_better = METRICS["ece"]
    expected = float(np.sum(rows * np.abs(mean_predicted - observed_rate)) / rows.sum())
    assert ece(labels, probabilities, 0.5) == pytest.approx(expected)
