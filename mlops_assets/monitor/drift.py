"""drift_report: every drift statistic of every feature and of the predictions against the
champion's training data.

The reference is the training split of the snapshot the current champion learned from (read from
its registry tags), so when a new champion is promoted the reference moves with it. Bins are
computed once per reference snapshot and stored (``drift_reference_bins``); every day's value of
every statistic (``monitor/statistics.py``) for every feature goes to ``drift_history``, whether or
not it crosses a level.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_assets.monitor.bins import (
    NULL,
    Bins,
    categorical_bins_from_counts,
    numeric_bins,
    proportions,
    proportions_from_counts,
)
from mlops_assets.monitor.drift_store import ensure_drift_tables, record_day
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import measure
from mlops_assets.monitor.scoring import ScoringError, predictions_table, require_checked_features
from mlops_assets.core.files import atomic_path
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.spec_sections import FeatureKind
from mlops_assets.core.sql import quote, sql_string
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect, transaction

PREDICTION_FEATURE = "__prediction__"
BINS_VERSION = "2"  # bump when the way reference bins are computed changes: stored bins are a cache


@dataclass(frozen=True)
class DriftResult:
    day: dt.date
    values: dict[str, dict[str, float]]  # feature -> statistic -> value
    levels: dict[str, dict[str, str]]  # feature -> statistic -> "none", "moderate" or "high"
    reference_snapshot: str
    champion_version: str
    rows: int

    def statistic(self, name: str) -> dict[str, float]:
        """Every feature's value of the statistic ``name``."""
        return {feature: values[name] for feature, values in self.values.items()}

    def drifted(self, statistic: str, level: str) -> dict[str, float]:
        return {f: v[statistic] for f, v in self.values.items() if self.levels[f][statistic] == level}


def can_trigger_retraining(spec: DatasetSpec, feature: str) -> bool:
    """Prediction drift always counts; a feature counts unless its spec opts it out."""
    return feature not in spec.features or spec.features[feature].drift_triggers_retraining


def reference_bins(spec: DatasetSpec, layout: StateLayout, champion: Any, model: Any) -> dict[str, Bins]:
    """Pinned bins for the champion's reference, computed on first use and stored."""
    from mlops_assets.train.snapshot import load_training_snapshot

    snapshot_hash = champion.tags["snapshot_hash"]
    with connect(layout.warehouse_path) as con:
        ensure_drift_tables(con)
        stored = con.execute(
            "SELECT feature, bins_json FROM drift_reference_bins WHERE model = ? AND snapshot_hash = ? "
            "AND model_sha256 = ? AND bins_version = ?",
            [spec.model.name, snapshot_hash, model.sha256, BINS_VERSION],
        ).fetchall()
    if stored:
        return {feature: Bins.from_json(text) for feature, text in stored}
    snapshot = load_training_snapshot(layout, spec.name, snapshot_hash, grain=spec.grain)
    with connect(layout.warehouse_path) as con:
        bins = relation_bins(con, _split_relation(snapshot, "train"), spec)
        # scores on data the model did not train on: training rows get overconfident scores
        bins[PREDICTION_FEATURE] = numeric_bins(
            PREDICTION_FEATURE, relation_predictions(con, _split_relation(snapshot, "test"), model)
        )
    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con, transaction(con):
        for name, item in bins.items():
            con.execute(
                "INSERT INTO drift_reference_bins VALUES (?, ?, ?, ?, ?, ?, ?)",
                [spec.model.name, snapshot_hash, model.sha256, BINS_VERSION, name, item.to_json(), now],
            )
    return bins


def drift_for_day(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    day: dt.date,
    policy: LoopPolicy,
    run_id: str | None,
    sample_rows: int = 0,
) -> tuple[DriftResult, Any]:
    """Every drift statistic of each feature and of the predictions over the policy's
    ``drift_window_days`` days ending on ``day``
    (one day alone is too narrow: its weather and weekday cover a sliver of any reference, and
    weather is autocorrelated, so windows much shorter than the reference drift within a season), recorded
    in drift_history under ``day``.

    Returns the result and, when ``sample_rows`` > 0, a sample of that many rows of the window as
    a pandas frame for a human-facing report (else None): the statistics never hold the window.
    """
    import duckdb

    from mlops_assets.features.build import features_table
    from mlops_assets.train.window import passed_feature_days

    champion = registry.champion()
    if champion is None:
        raise ScoringError(f"there is no champion for {registry.model_name} yet; drift has no reference")
    model = registry.load_version(champion)
    bins = reference_bins(spec, layout, champion, model)
    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".drift-window-", dir=layout.cache_dir) as folder:
        window_file = sql_string(str(Path(folder) / "window.parquet"))
        with connect(layout.warehouse_path) as con:
            require_checked_features(con, spec, day)  # the day itself must have checked features
            window = sorted(passed_feature_days(con, spec, spec.grain.shift(day, 1 - policy.drift_window_days), day))
            days_sql = ", ".join(spec.grain.literal_sql(d) for d in window)
            scored_today = con.execute(
                f"SELECT count(*) FROM {predictions_table(spec)} WHERE {quote(DAY_COLUMN)} = ? AND model_sha256 = ?",
                [day, model.sha256],
            ).fetchall()[0][0] if _has_table(con, predictions_table(spec).strip('"')) else 0
            if not scored_today:
                raise ScoringError(
                    f"no predictions of {spec.model.name} for {spec.grain.label(day)} by the champion v{champion.version}; "
                    "materialize batch_predictions first"
                )
            # copied out once, so the warehouse is released while the window is binned and scored
            con.execute(
                f"COPY (SELECT * FROM {features_table(spec)} WHERE {quote(DAY_COLUMN)} IN ({days_sql})) "
                f"TO {window_file} (FORMAT parquet)"
            )
        scratch = duckdb.connect()
        try:
            current = f"read_parquet({window_file})"
            values = relation_statistics(scratch, current, bins, spec)
            # the champion's scores over the whole window (earlier days may have been scored by an older
            # champion, whose scores are not comparable with this reference)
            scores = relation_predictions(scratch, current, model)
            values[PREDICTION_FEATURE] = measure(bins[PREDICTION_FEATURE].expected,
                                                 proportions(bins[PREDICTION_FEATURE], scores))
            rows = scratch.sql(f"SELECT count(*) FROM {current}").fetchall()[0][0]
            sample = scratch.sql(
                f"SELECT * FROM {current} USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (0)"
            ).df() if sample_rows > 0 else None
        finally:
            scratch.close()
    levels = {feature: {name: policy.drift_level(name, value) for name, value in by_statistic.items()}
              for feature, by_statistic in values.items()}
    result = DriftResult(day, values, levels, champion.tags["snapshot_hash"], champion.version, rows)
    rows_by_statistic = [(feature, name, value, levels[feature][name])
                         for feature, by_statistic in values.items() for name, value in by_statistic.items()]
    with connect(layout.warehouse_path) as con:
        record_day(con, spec.model.name, day, rows_by_statistic, result.reference_snapshot, champion.version, run_id)
    return result, sample


def relation_bins(con: Any, relation: str, spec: DatasetSpec) -> dict[str, Bins]:
    """Pinned bins of every feature of ``relation`` (a table, a table function or a parenthesized
    query), a column at a time: numbers as one float64 array, categories as counts from a GROUP BY."""
    bins = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            bins[name] = numeric_bins(name, _numeric_column(con, relation, name))
        else:
            bins[name] = categorical_bins_from_counts(name, _label_counts(con, relation, name))
    return bins


def relation_statistics(con: Any, relation: str, bins: dict[str, Bins], spec: DatasetSpec) -> dict[str, dict[str, float]]:
    """Every drift statistic of every feature of ``relation`` against its pinned bins (feature ->
    statistic -> value), a column at a time, so memory is one numeric column (8 bytes a row)
    whatever the number of features."""
    values = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            shares = proportions(bins[name], _numeric_column(con, relation, name))
        else:
            shares = proportions_from_counts(bins[name], _label_counts(con, relation, name))
        values[name] = measure(bins[name].expected, shares)
    return values


def relation_predictions(con: Any, relation: str, model: Any, batch_rows: int = 100_000) -> Any:
    """The model's scores of every row of ``relation``, scored in batches of ``batch_rows``."""
    import numpy as np

    reader = con.sql(f"SELECT * FROM {relation}").to_arrow_reader(batch_rows)
    scores = [model.scores(batch.to_pandas()) for batch in reader if batch.num_rows]
    return np.concatenate(scores) if scores else np.empty(0, dtype="float64")


def _numeric_column(con: Any, relation: str, name: str) -> Any:
    table = con.sql(f"SELECT CAST({quote(name)} AS DOUBLE) FROM {relation}").to_arrow_table()
    return table.column(0).to_numpy()


def _label_counts(con: Any, relation: str, name: str) -> dict[str, int]:
    """Counts per label, labelled as bins.label_counts does (str of the value, nulls as NULL)."""
    counts: dict[str, int] = {}
    for value, n in con.sql(f"SELECT {quote(name)}, count(*) FROM {relation} GROUP BY 1").fetchall():
        label = NULL if value is None else str(value)
        counts[label] = counts.get(label, 0) + n
    return counts


def _split_relation(snapshot: Any, split: str) -> str:
    from mlops_assets.train.snapshot import SPLIT_COLUMN

    return f"(SELECT * FROM {snapshot.qualified_table} WHERE {SPLIT_COLUMN} = {sql_string(split)})"


def write_evidently_report(layout: StateLayout, spec: DatasetSpec, result: DriftResult, current: Any, path,
                           sample_rows: int, seed: int = 0):
    """Evidently's data-drift HTML for people, on a bounded sample (the triggers use our statistics); the
    reference is read only here, when a report is wanted."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from mlops_assets.train.snapshot import load_training_snapshot

    columns = list(spec.features)
    snapshot = load_training_snapshot(layout, spec.name, result.reference_snapshot, grain=spec.grain)
    with connect(layout.warehouse_path) as con:  # sampled where it lives: the reference may be millions of rows
        reference = con.sql(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {_split_relation(snapshot, 'train')} "
            f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({int(seed)})"
        ).df()
    current = current[columns].sample(min(sample_rows, len(current)), random_state=seed)
    # Evidently refuses a column with no value on either side (a trailing rate before its history
    # exists); our statistics still measure it, the report for people leaves it out
    empty = [c for c in columns if reference[c].isna().all() or current[c].isna().all()]
    snapshot = Report([DataDriftPreset()]).run(current.drop(columns=empty), reference.drop(columns=empty))
    with atomic_path(path) as temp:
        snapshot.save_html(str(temp))
    return path


def _has_table(con: Any, name: str) -> bool:
    from mlops_assets.core.warehouse import table_exists

    return table_exists(con, name)

