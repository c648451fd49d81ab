"""live_performance: the champion's quality on each day once that day's labels have arrived.

Labels arrive ``label_delay_days`` after the day (simulated on replayed data: a day's labels count
as arrived once the landing zone has reached day + delay). Each labelled day's AUC and calibration
error go to ``performance_history`` beside the champion's reference: its out-of-time AUC averaged per
day, measured the way live AUC is (one unseen day at a time), so the two differ by decline and noise,
not by kind. A day more than the policy's noise band below it is flagged; the retraining rule judges
the trailing mean of several days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain
from mlops_assets.features.build import features_table
from mlops_assets.monitor.scoring import SCORE_COLUMN, ScoringError, predictions_table
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect, transaction

PERFORMANCE_DDL = """
    CREATE TABLE IF NOT EXISTS performance_history (
        dataset VARCHAR NOT NULL, day DATE NOT NULL, model_version VARCHAR NOT NULL, rows BIGINT NOT NULL,
        auc DOUBLE, ece DOUBLE, reference_auc DOUBLE, relative_drop DOUBLE, degraded BOOLEAN NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR
    )
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


def labels_arrived(day: dt.date, as_of: dt.date, delay_days: int, grain: Grain = GRAINS[DEFAULT_GRAIN]) -> bool:
    """Whether the labels of partition ``day`` have arrived by partition ``as_of``, ``delay_days``
    partitions (days for a daily dataset) after it."""
    return grain.shift(day, delay_days) <= as_of


def latest_landed_day(con: Any, spec: DatasetSpec) -> dt.date | None:
    """'Now' in data time: the newest day ingested, which is what a replay has reached."""
    return con.execute("SELECT max(day) FROM raw_ingestions WHERE dataset = ?", [spec.name]).fetchall()[0][0]


def measure_day(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    day: dt.date,
    *,
    label_delay_days: int,
    auc_noise_band: float,
    as_of: dt.date | None,
    run_id: str | None,
) -> DayPerformance:
    from mlops_assets.evaluate.evaluation import load_evaluation
    from mlops_assets.evaluate.metrics import expected_calibration_error, roc_auc

    with connect(layout.warehouse_path) as con:
        now = as_of or latest_landed_day(con, spec) or day
        if not labels_arrived(day, now, label_delay_days, spec.grain):
            raise LabelsNotArrived(
                f"labels of {day.isoformat()} arrive {label_delay_days} {spec.grain.unit}(s) later; "
                f"data time is {now.isoformat()}"
            )
        keys = " AND ".join(f"p.{quote(k)} IS NOT DISTINCT FROM f.{quote(k)}" for k in spec.entity_key)
        rows = con.execute(
            f"SELECT p.{SCORE_COLUMN}, f.{quote(spec.target.name)}, p.model_version, p.model_sha256 "
            f"FROM {predictions_table(spec)} p JOIN {features_table(spec)} f "
            f"ON f.{quote(DAY_COLUMN)} = p.{quote(DAY_COLUMN)} AND {keys} "
            f"WHERE p.{quote(DAY_COLUMN)} = ? AND f.{quote(spec.target.name)} IS NOT NULL",
            [day],
        ).fetchall()
        if not rows:
            raise ScoringError(f"no scored, labelled rows of {spec.name} for {day.isoformat()}; score the day first")
        version, sha = rows[0][2], rows[0][3]
        reference_auc, _ = load_evaluation(con, spec.name, sha).live_reference()
    if reference_auc is None:
        raise ScoringError(f"champion v{version} has no reference AUC in its evaluation; it cannot be monitored")
    import numpy as np

    scores = np.array([r[0] for r in rows], dtype="float64")
    labels = np.array([r[1] for r in rows], dtype="int64")
    auc = roc_auc(labels, scores)
    auc = None if np.isnan(auc) else float(auc)
    ece = float(expected_calibration_error(labels, scores))
    drop = None if auc is None else (reference_auc - auc) / reference_auc
    degraded = auc is not None and reference_auc - auc > auc_noise_band
    result = DayPerformance(day, version, len(rows), auc, ece, reference_auc, drop, degraded)
    with connect(layout.warehouse_path) as con:
        con.execute(PERFORMANCE_DDL)
        with transaction(con):
            con.execute("DELETE FROM performance_history WHERE dataset = ? AND day = ?", [spec.name, day])
            con.execute(
                "INSERT INTO performance_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.name, day, version, len(rows), auc, ece, reference_auc, drop, degraded,
                 dt.datetime.now(dt.timezone.utc), run_id],
            )
    return result


def performance_history(con: Any, dataset: str) -> list[tuple]:
    """(day, model_version, auc, reference_auc, relative_drop, degraded) rows, oldest first."""
    con.execute(PERFORMANCE_DDL)
    return con.execute(
        "SELECT day, model_version, auc, reference_auc, relative_drop, degraded FROM performance_history "
        "WHERE dataset = ? ORDER BY day",
        [dataset],
    ).fetchall()
