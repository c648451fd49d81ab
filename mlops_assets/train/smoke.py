"""The smoke sample: a few stored input rows and the predictions the model gave them at training.

Saved beside the model (Parquet, never pickle) and logged with it. Before a rollback puts an old
version back in front of traffic, it must still load and give the same answers on these rows: a
changed library, a damaged artifact or a wrong encoding shows up here, not in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SMOKE_FILE = "smoke_sample.parquet"
SMOKE_ROWS = 64
EXPECTED_COLUMN = "__expected_probability"
TOLERANCE = 1e-6


class SmokeTestFailed(RuntimeError):
    """The model did not reproduce its stored predictions; the message says how."""


def write_smoke_sample(folder: Path, model: Any, frame: Any, rows: int = SMOKE_ROWS) -> Path:
    """Store ``rows`` rows of ``frame`` (the model's feature columns) and ``model``'s predictions: one
    ``EXPECTED_COLUMN`` (binary, regression), or one per class (``<EXPECTED_COLUMN>_<code>``, multiclass)."""
    import numpy as np

    from mlops_assets.core.files import atomic_path

    sample = frame[model.encoding.columns].head(rows).reset_index(drop=True)
    predictions = np.asarray(model.predict(sample), dtype="float64")
    if predictions.ndim == 1:
        sample[EXPECTED_COLUMN] = predictions
    else:
        for code in range(predictions.shape[1]):
            sample[f"{EXPECTED_COLUMN}_{code}"] = predictions[:, code]
    path = folder / SMOKE_FILE
    with atomic_path(path) as temp:
        sample.to_parquet(temp, index=False)
    return path


def read_smoke_sample(folder: Path):
    import pandas as pd

    path = folder / SMOKE_FILE
    return pd.read_parquet(path) if path.exists() else None


def smoke_test(model: Any, sample: Any, label: str) -> float:
    """Predict the stored rows; returns the largest deviation, or raises if any is off."""
    import numpy as np

    if sample is None or len(sample) == 0:
        raise SmokeTestFailed(f"{label} has no stored smoke sample ({SMOKE_FILE}); cannot verify it predicts")
    expected_columns = [c for c in sample.columns if c == EXPECTED_COLUMN or c.startswith(f"{EXPECTED_COLUMN}_")]
    expected = sample[expected_columns].to_numpy(dtype="float64")
    if len(expected_columns) == 1:
        expected = expected[:, 0]
    try:
        actual = np.asarray(model.predict(sample.drop(columns=expected_columns)), dtype="float64")
    except Exception as error:  # noqa: BLE001 - any failure to predict is the finding
        raise SmokeTestFailed(f"{label} failed to predict its smoke sample: {error}") from error
    if actual.shape != expected.shape or not np.all(np.isfinite(actual)):
        raise SmokeTestFailed(f"{label} gave {actual.shape[0]} predictions (finite: {np.isfinite(actual).all()}) "
                              f"for {expected.shape[0]} smoke rows")
    deviation = float(np.max(np.abs(actual - expected)))
    if deviation > TOLERANCE:
        raise SmokeTestFailed(f"{label} no longer reproduces its smoke predictions: largest deviation "
                              f"{deviation:.3g} > {TOLERANCE:g}")
    return deviation
