"""live_performance: the champion's quality on each day once that day's labels have arrived.

With a label feed (the spec's ``labels``), a day is measured on the rows whose outcomes have landed
(``ingest.labels``), again each time more land. Without one, the outcomes came with the rows and count
as arrived ``label_delay_days`` after the day (once the landing zone has reached day + delay). Each
labelled day's AUC and calibration
error go to ``performance_history`` beside the champion's reference: its out-of-time AUC averaged per
day, measured the way live AUC is (one unseen day at a time), so the two differ by decline and noise,
not by kind. A day more than the policy's noise band below it is flagged; the retraining rule judges
the trailing mean of several days.

A model of another task is measured on its primary metric (``evaluate.tasks``), recorded in the same
columns with the metric's name in ``metric`` (the ``auc`` column names predate tasks), in the
metric's direction and against the policy's relative noise band.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain
from mlops_assets.ingest.labels import labelled_rows_sql
from mlops_assets.monitor.scoring import ScoringError, predictions_table
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect, ensure_model_keyed, transaction

PERFORMANCE_DDL = """
    CREATE TABLE IF NOT EXISTS performance_history (
        model VARCHAR NOT NULL, day TIMESTAMP NOT NULL, model_version VARCHAR NOT NULL, rows BIGINT NOT NULL,
        auc DOUBLE, ece DOUBLE, reference_auc DOUBLE, relative_drop DOUBLE, degraded BOOLEAN NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR, metric VARCHAR DEFAULT 'auc'
    );
    ALTER TABLE performance_history ADD COLUMN IF NOT EXISTS metric VARCHAR DEFAULT 'auc'
"""


class LabelsNotArrived(RuntimeError):
    """The day's labels are not due yet; nothing to measure."""


@dataclass(frozen=True)
class DayPerformance:
    day: dt.date
    model_version: str
    rows: int
    auc: float | None
    ece: float | None
    reference_auc: float
    relative_drop: float | None
    degraded: bool
    metric: str = "auc"  # what auc and reference_auc hold: the task's primary metric


def labels_arrived(day: dt.date, as_of: dt.date, delay_days: int, grain: Grain = GRAINS[DEFAULT_GRAIN]) -> bool:
    """Whether the labels of partition ``day`` have arrived by partition ``as_of``, ``delay_days``
    partitions (days for a daily dataset) after it."""
    return grain.shift(day, delay_days) <= as_of


def latest_landed_day(con: Any, spec: DatasetSpec) -> dt.date | None:
    """'Now' in data time: the newest day ingested, which is what a replay has reached."""
    latest = con.execute("SELECT max(day) FROM raw_ingestions WHERE dataset = ?", [spec.name]).fetchall()[0][0]
    return None if latest is None else spec.grain.as_start(latest)


def measure_day(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    day: dt.date,
    *,
    label_delay_days: int,
    policy: Any,
    as_of: dt.date | None,
    run_id: str | None,
) -> DayPerformance:
    """``policy``: the LoopPolicy whose noise bands say what counts as degraded."""
    from mlops_assets.evaluate.evaluation import load_evaluation
    from mlops_assets.evaluate.tasks import task_of
    from mlops_assets.evaluate.weighted import full_data_value

    task = task_of(spec.model.task)

    with connect(layout.warehouse_path) as con:
        now = as_of or latest_landed_day(con, spec) or day
        # with a label feed, arrival is a fact (rows in the labels table), not a policy
        if spec.labels is None and not labels_arrived(day, now, label_delay_days, spec.grain):
            raise LabelsNotArrived(
                f"labels of {spec.grain.label(day)} arrive {label_delay_days} {spec.grain.unit}(s) later; "
                f"data time is {spec.grain.label(now)}"
            )
        keys = " AND ".join(f"p.{quote(k)} IS NOT DISTINCT FROM f.{quote(k)}" for k in spec.entity_key)
        rows = con.execute(
            f"SELECT p.{quote(task.stored_metric_input)}, f.{quote(spec.target.name)}, p.model_version, p.model_sha256 "
            f"FROM {predictions_table(spec)} p JOIN ({labelled_rows_sql(con, spec)}) f "
            f"ON f.{quote(DAY_COLUMN)} = p.{quote(DAY_COLUMN)} AND {keys} "
            f"WHERE p.{quote(DAY_COLUMN)} = ? AND f.{quote(spec.target.name)} IS NOT NULL",
            [day],
        ).fetchall()
        if not rows and spec.labels is not None:
            raise LabelsNotArrived(f"no labels of {spec.name} {day.isoformat()} match its scored rows yet "
                                   f"(label zone: landing/{spec.name}/labels/)")
        if not rows:
            raise ScoringError(f"no scored, labelled rows of {spec.model.name} for {spec.grain.label(day)}; score the day first")
        version, sha = rows[0][2], rows[0][3]
        evaluation = load_evaluation(con, spec.model.name, sha)
        reference_auc, _ = evaluation.live_reference()
    if reference_auc is None:
        raise ScoringError(f"champion v{version} has no reference {task.primary_metric} in its evaluation; "
                           "it cannot be monitored")
    import numpy as np

    labels, predictions = task.validate(task.labels([r[1] for r in rows], evaluation.classes),
                                        np.array([r[0] for r in rows], dtype="float64"))
    kernels = task.metrics(evaluation.classes)
    auc = full_data_value(kernels[task.primary_metric], labels, predictions, None)
    auc = None if np.isnan(auc) else float(auc)
    # calibration error where the task declares it (binary probabilities)
    ece = float(full_data_value(kernels["ece"], labels, predictions, None)) if "ece" in kernels else None
    degraded, worse, _ = policy.degradation(task.name, auc, reference_auc) if auc is not None else (False, None, None)
    drop = None if auc is None else worse / abs(reference_auc)
    result = DayPerformance(day, version, len(rows), auc, ece, reference_auc, drop, degraded, task.primary_metric)
    with connect(layout.warehouse_path) as con:
        ensure_performance_table(con)
        with transaction(con):
            con.execute("DELETE FROM performance_history WHERE model = ? AND day = ?", [spec.model.name, day])
            con.execute(
                "INSERT INTO performance_history (model, day, model_version, rows, auc, ece, reference_auc, "
                "relative_drop, degraded, computed_at, run_id, metric) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.model.name, day, version, len(rows), auc, ece, reference_auc, drop, degraded,
                 dt.datetime.now(dt.timezone.utc), run_id, task.primary_metric],
            )
    return result


def ensure_performance_table(con: Any) -> None:
    ensure_model_keyed(con, PERFORMANCE_DDL, partition_columns=("day",))


def performance_history(con: Any, model: str, *, grain: Grain = GRAINS[DEFAULT_GRAIN]) -> list[tuple]:
    """(day, model_version, auc, reference_auc, relative_drop, degraded) rows, oldest first; days
    are partition starts of the model's ``grain`` (any date grain reads them as dates)."""
    ensure_performance_table(con)
    rows = con.execute(
        "SELECT day, model_version, auc, reference_auc, relative_drop, degraded FROM performance_history "
        "WHERE model = ? ORDER BY day",
        [model],
    ).fetchall()
    return [(grain.as_start(day), *rest) for day, *rest in rows]
