"""Candidate (and champion) metrics per value of each slice column, marked where too small to trust."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlops_assets.evaluate.metrics import log_loss, precision_at, recall_at, roc_auc
from mlops_assets.evaluate.weighted import validated_labels, validated_probabilities

if TYPE_CHECKING:
    import pandas as pd


SLICE_COLUMNS_BASE = (
    "slice", "value", "rows", "positives", "auc", "log_loss", "precision", "recall",
)  # fmt: skip
SLICE_COLUMNS_CHAMPION = ("champion_auc", "auc_delta")


def _metrics_for_one_slice(
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    min_rows: int,
    threshold: float,
) -> dict[str, float | int | bool]:
    rows = int(labels.size)
    positives = int(labels.sum())
    row: dict[str, float | int | bool] = {
        "rows": rows,
        "positives": positives,
        "auc": roc_auc(labels, candidate),
        "log_loss": log_loss(labels, candidate),
        "precision": precision_at(labels, candidate, threshold),
        "recall": recall_at(labels, candidate, threshold),
    }
    if champion is not None:
        row["champion_auc"] = roc_auc(labels, champion)
        row["auc_delta"] = row["auc"] - row["champion_auc"]
    row["enough_rows"] = rows >= min_rows and 0 < positives < rows
    return row


def slice_metrics(
    frame: pd.DataFrame,
    slice_columns: list[str],
    label_col: str,
    prob_col: str,
    champion_prob_col: str | None,
    min_rows: int,
    threshold: float,
) -> pd.DataFrame:
    """Candidate (and champion) metrics per value of each slice column.

    One output row per (slice column, value), ordered by slice column as given
    then by value as a string. Values are converted to str (missing values
    become "nan") so columns of strings and ints can share one table.
    enough_rows marks slices big enough, and with both classes, for their AUC
    to be trusted; gates should ignore the others. precision and recall use
    ``threshold``.
    """
    import pandas as pd

    required = [*slice_columns, label_col, prob_col]
    if champion_prob_col is not None:
        required.append(champion_prob_col)
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"slice_metrics: frame is missing column(s) {missing}")
    labels = validated_labels(frame[label_col].to_numpy())
    candidate = validated_probabilities(frame[prob_col].to_numpy(), labels.size, prob_col)
    champion = (
        None
        if champion_prob_col is None
        else validated_probabilities(
            frame[champion_prob_col].to_numpy(), labels.size, champion_prob_col
        )
    )

    records = []
    for column in slice_columns:
        values_as_text = frame[column].astype(str).to_numpy()
        for value in np.unique(values_as_text):
            in_slice = values_as_text == value
            records.append(
                {
                    "slice": column,
                    "value": str(value),
                    **_metrics_for_one_slice(
                        labels[in_slice],
                        candidate[in_slice],
                        None if champion is None else champion[in_slice],
                        min_rows,
                        threshold,
                    ),
                }
            )
    columns = [*SLICE_COLUMNS_BASE]
    if champion is not None:
        columns += SLICE_COLUMNS_CHAMPION
    columns.append("enough_rows")
    return pd.DataFrame.from_records(records, columns=columns)


def primary_metric_slices(
    frame: pd.DataFrame,
    slice_columns: list[str],
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    task: str,
    classes: list[str],
    min_rows: int,
) -> pd.DataFrame:
    """The task's primary metric (and the champion's, and the difference) per value of each slice
    column, for tasks whose predictions are not one probability per row (``slice_metrics`` is the
    binary table). ``labels`` and the predictions are row-aligned with ``frame``; a slice is marked
    ``enough_rows`` when it has ``min_rows`` rows and the metric is defined on it."""
    import pandas as pd

    from mlops_assets.evaluate.tasks import task_of
    from mlops_assets.evaluate.weighted import full_data_value

    kind = task_of(task)
    metric = kind.primary_metric
    kernel = kind.metrics(classes)[metric]
    records = []
    for column in slice_columns:
        values_as_text = frame[column].astype(str).to_numpy()
        for value in np.unique(values_as_text):
            rows = values_as_text == value
            own = full_data_value(kernel, labels[rows], candidate[rows], None)
            record = {"slice": column, "value": str(value), "rows": int(rows.sum()), metric: own}
            if champion is not None:
                record[f"champion_{metric}"] = full_data_value(kernel, labels[rows], champion[rows], None)
                record[f"{metric}_delta"] = own - record[f"champion_{metric}"]
            record["enough_rows"] = bool(rows.sum() >= min_rows and np.isfinite(own))
            records.append(record)
    columns = ["slice", "value", "rows", metric]
    if champion is not None:
        columns += [f"champion_{metric}", f"{metric}_delta"]
    return pd.DataFrame.from_records(records, columns=[*columns, "enough_rows"])
