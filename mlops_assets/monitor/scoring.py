"""batch_predictions: a day's features scored by the current champion, loaded by alias.

The features come from the same table training read (one feature definition), and only from a
day whose feature checks passed. Each stored row carries the model version and the sha256 of the
artifact that scored it, so every prediction is traceable to the exact model file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlops_assets.features.build import features_table
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect, transaction

SCORE_COLUMN = "score"


class ScoringError(RuntimeError):
    """A day cannot be scored: no champion, or no checked features for the day."""


@dataclass(frozen=True)
class ScoredDay:
    day: dt.date
    rows: int
    model_version: str
    model_sha256: str
    mean_score: float
    feature_hash: str


def predictions_table(spec: DatasetSpec) -> str:
    """The model's predictions (one table per model: models on one dataset score the same rows)."""
    return quote(f"predictions_{spec.model.name}")


def predictions_ddl(spec: DatasetSpec) -> str:
    from mlops_assets.evaluate.tasks import task_of

    keys = ", ".join(f"{quote(k)} {spec.columns[k].type.duckdb_type}" for k in spec.entity_key)
    stored = "".join(f"{quote(name)} {kind}, " for name, kind in task_of(spec.model.task).stored_columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {predictions_table(spec)} ("
        f"{quote(DAY_COLUMN)} {spec.grain.column_type} NOT NULL, {keys}, {SCORE_COLUMN} DOUBLE NOT NULL, {stored}"
        "model_version VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL, feature_hash VARCHAR NOT NULL, "
        "scored_at TIMESTAMPTZ NOT NULL, run_id VARCHAR)"
    )


def require_checked_features(con: Any, spec: DatasetSpec, day: dt.date) -> str:
    """The content hash of the day's features, if they exist and passed their checks."""
    from mlops_assets.train.window import passed_feature_days

    passed = passed_feature_days(con, spec, day, day)
    if day not in passed:
        raise ScoringError(
            f"features of {spec.name} for {spec.grain.label(day)} are missing or did not pass their checks; "
            "run the ingest job for that day first"
        )
    return passed[day]


def checked_features(con: Any, spec: DatasetSpec, day: dt.date) -> tuple[Any, str]:
    """The day's feature rows (pandas) and their content hash, if the feature checks passed."""
    feature_hash = require_checked_features(con, spec, day)
    frame = con.execute(
        f"SELECT * FROM {features_table(spec)} WHERE {quote(DAY_COLUMN)} = ? ORDER BY ALL", [day]
    ).df()
    return frame, feature_hash


def score_day(spec: DatasetSpec, layout: StateLayout, registry: Any, day: dt.date, run_id: str | None) -> ScoredDay:
    champion = registry.champion()
    if champion is None:
        raise ScoringError(f"there is no champion for {registry.model_name} yet; run train_job first")
    model = registry.load_version(champion)  # refuses an artifact whose sha256 does not match its tag
    with connect(layout.warehouse_path) as con:
        frame, feature_hash = checked_features(con, spec, day)
    stored = model.task.stored_predictions(model.predict(frame), model.encoding.classes)
    scores = stored[SCORE_COLUMN]
    out = frame[[*spec.entity_key]].copy()
    out.insert(0, DAY_COLUMN, day)
    for column, values in stored.items():
        out[column] = values
    out["model_version"] = champion.version
    out["model_sha256"] = model.sha256
    out["feature_hash"] = feature_hash
    out["scored_at"] = dt.datetime.now(dt.timezone.utc)
    out["run_id"] = run_id
    with connect(layout.warehouse_path) as con:
        con.execute(predictions_ddl(spec))
        with transaction(con):
            con.execute(f"DELETE FROM {predictions_table(spec)} WHERE {quote(DAY_COLUMN)} = ?", [day])
            con.register("scored", out)
            con.execute(f"INSERT INTO {predictions_table(spec)} BY NAME SELECT * FROM scored")
            con.unregister("scored")
    return ScoredDay(day, len(out), champion.version, model.sha256, float(scores.mean()) if len(out) else 0.0,
                     feature_hash)
