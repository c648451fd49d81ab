"""drift_report: PSI of every feature and of the predictions against the champion's training data.

The reference is the training split of the snapshot the current champion learned from (read from
its registry tags), so when a new champion is promoted the reference moves with it. Bins are
computed once per reference snapshot and stored (``drift_reference_bins``); every day's PSI for
every feature goes to ``drift_history``, whether or not it crosses a threshold.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from mlops_assets.monitoring.psi import Bins, categorical_bins, feature_psi, numeric_bins
from mlops_assets.monitoring.scoring import ScoringError, predictions_table
from mlops_assets.spec import DAY_COLUMN, DatasetSpec, FeatureKind
from mlops_assets.sql import quote
from mlops_assets.state import StateLayout
from mlops_assets.warehouse import connect, transaction

PREDICTION_FEATURE = "__prediction__"
BINS_VERSION = "2"  # bump when the way reference bins are computed changes: stored bins are a cache
DRIFT_DDL = (
    """
    CREATE TABLE IF NOT EXISTS drift_reference_bins (
        dataset VARCHAR NOT NULL, snapshot_hash VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL,
        bins_version VARCHAR NOT NULL, feature VARCHAR NOT NULL, bins_json VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS drift_history (
        dataset VARCHAR NOT NULL, day DATE NOT NULL, feature VARCHAR NOT NULL, psi DOUBLE NOT NULL,
        level VARCHAR NOT NULL, reference_snapshot VARCHAR NOT NULL, champion_version VARCHAR NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR
    )
    """,
)


@dataclass(frozen=True)
class DriftThresholds:
    moderate: float = 0.2
    high: float = 0.3

    def level(self, value: float) -> str:
        if value >= self.high:
            return "high"
        if value >= self.moderate:
            return "moderate"
        return "none"


@dataclass(frozen=True)
class DriftResult:
    day: dt.date
    psi: dict[str, float]
    levels: dict[str, str]
    reference_snapshot: str
    champion_version: str
    rows: int

    def drifted(self, level: str) -> dict[str, float]:
        return {f: v for f, v in self.psi.items() if self.levels[f] == level}


def reference_bins(spec: DatasetSpec, layout: StateLayout, champion: Any, model: Any) -> dict[str, Bins]:
    """Pinned bins for the champion's reference, computed on first use and stored."""
    from mlops_assets.training.snapshot import load_training_snapshot, read_split

    snapshot_hash = champion.tags["snapshot_hash"]
    with connect(layout.warehouse_path) as con:
        for statement in DRIFT_DDL:
            con.execute(statement)
        stored = con.execute(
            "SELECT feature, bins_json FROM drift_reference_bins WHERE dataset = ? AND snapshot_hash = ? "
            "AND model_sha256 = ? AND bins_version = ?",
            [spec.name, snapshot_hash, model.sha256, BINS_VERSION],
        ).fetchall()
    if stored:
        return {feature: Bins.from_json(text) for feature, text in stored}
    reference = read_split(layout, load_training_snapshot(layout, spec.name, snapshot_hash), "train")
    bins = {
        name: (numeric_bins(name, reference[name].astype("float64")) if feature.kind is FeatureKind.NUMERIC
               else categorical_bins(name, reference[name]))
        for name, feature in spec.features.items()
    }
    # scores on data the model did not train on: training rows get overconfident scores
    held_out = read_split(layout, load_training_snapshot(layout, spec.name, snapshot_hash), "test")
    bins[PREDICTION_FEATURE] = numeric_bins(PREDICTION_FEATURE, model.predict(held_out))
    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con, transaction(con):
        for name, item in bins.items():
            con.execute(
                "INSERT INTO drift_reference_bins VALUES (?, ?, ?, ?, ?, ?, ?)",
                [spec.name, snapshot_hash, model.sha256, BINS_VERSION, name, item.to_json(), now],
            )
    return bins


def drift_for_day(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    day: dt.date,
    thresholds: DriftThresholds,
    run_id: str | None,
    window_days: int = 28,
) -> tuple[DriftResult, Any]:
    """PSI of each feature and of the predictions over the ``window_days`` days ending on ``day``
    (one day alone is too narrow: its weather and weekday cover a sliver of any reference, and
    weather is autocorrelated, so windows much shorter than the reference drift within a season), recorded
    in drift_history under ``day``.

    Returns the result and the current window's frame, for an optional human-facing report.
    """
    from mlops_assets.features import features_table
    from mlops_assets.monitoring.scoring import checked_features
    from mlops_assets.training.snapshot import passed_feature_days

    champion = registry.champion()
    if champion is None:
        raise ScoringError(f"there is no champion for {registry.model_name} yet; drift has no reference")
    model = registry.load_version(champion)
    bins = reference_bins(spec, layout, champion, model)
    with connect(layout.warehouse_path) as con:
        checked_features(con, spec, day)  # the day itself must have checked features
        window = sorted(passed_feature_days(con, spec, day - dt.timedelta(days=window_days - 1), day))
        days_sql = ", ".join(f"DATE '{d.isoformat()}'" for d in window)
        current = con.execute(
            f"SELECT * FROM {features_table(spec)} WHERE {quote(DAY_COLUMN)} IN ({days_sql})"
        ).df()
        scored_today = con.execute(
            f"SELECT count(*) FROM {predictions_table(spec)} WHERE {quote(DAY_COLUMN)} = ? AND model_sha256 = ?",
            [day, model.sha256],
        ).fetchall()[0][0] if _has_table(con, f"predictions_{spec.name}") else 0
    if not scored_today:
        raise ScoringError(
            f"no predictions of {spec.name} for {day.isoformat()} by the champion v{champion.version}; "
            "materialize batch_predictions first"
        )
    values = {name: current[name] for name in spec.features}
    # the champion's scores over the whole window (earlier days may have been scored by an older
    # champion, whose scores are not comparable with this reference)
    values[PREDICTION_FEATURE] = model.predict(current)
    psi_values = {name: feature_psi(bins[name], column) for name, column in values.items()}
    levels = {name: thresholds.level(value) for name, value in psi_values.items()}
    result = DriftResult(day, psi_values, levels, champion.tags["snapshot_hash"], champion.version, len(current))
    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con, transaction(con):
        con.execute("DELETE FROM drift_history WHERE dataset = ? AND day = ?", [spec.name, day])
        for name, value in psi_values.items():
            con.execute(
                "INSERT INTO drift_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.name, day, name, value, levels[name], result.reference_snapshot, champion.version, now, run_id],
            )
    return result, current


def drift_history(con: Any, dataset: str, since: dt.date | None = None) -> list[tuple[dt.date, str, float, str]]:
    """(day, feature, psi, level) rows, oldest first."""
    for statement in DRIFT_DDL:
        con.execute(statement)
    return con.execute(
        "SELECT day, feature, psi, level FROM drift_history WHERE dataset = ? AND (? IS NULL OR day >= ?) "
        "ORDER BY day, feature",
        [dataset, since, since],
    ).fetchall()


def write_evidently_report(layout: StateLayout, spec: DatasetSpec, result: DriftResult, current: Any, path,
                           sample_rows: int, seed: int = 0):
    """Evidently's data-drift HTML for people, on a bounded sample (the gates use our PSI); the
    reference is read only here, when a report is wanted."""
    import os

    from evidently import Report
    from evidently.presets import DataDriftPreset

    from mlops_assets.training.snapshot import load_training_snapshot, read_split

    columns = list(spec.features)
    reference = read_split(layout, load_training_snapshot(layout, spec.name, result.reference_snapshot), "train")

    reference = reference[columns].sample(min(sample_rows, len(reference)), random_state=seed)
    current = current[columns].sample(min(sample_rows, len(current)), random_state=seed)
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    snapshot.save_html(str(partial))
    os.replace(partial, path)
    return path


def _has_table(con: Any, name: str) -> bool:
    from mlops_assets.warehouse import table_exists

    return table_exists(con, name)


def summarize(result: DriftResult) -> str:
    drifted = {f: round(v, 3) for f, v in sorted(result.psi.items(), key=lambda kv: -kv[1]) if result.levels[f] != "none"}
    return json.dumps(drifted) if drifted else "no feature drifted"
