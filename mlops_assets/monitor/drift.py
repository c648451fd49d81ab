"""drift_report: PSI of every feature and of the predictions against the champion's training data.

The reference is the training split of the snapshot the current champion learned from (read from
its registry tags), so when a new champion is promoted the reference moves with it. Bins are
computed once per reference snapshot and stored (``drift_reference_bins``); every day's PSI for
every feature goes to ``drift_history``, whether or not it crosses a threshold.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_assets.monitor.psi import (
    NULL,
    Bins,
    categorical_bins_from_counts,
    feature_psi,
    numeric_bins,
    proportions_from_counts,
    psi,
)
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.scoring import ScoringError, predictions_table, require_checked_features
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec, FeatureKind
from mlops_assets.core.sql import quote, sql_string
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect, transaction

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
    from mlops_assets.train.snapshot import load_training_snapshot

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
    snapshot = load_training_snapshot(layout, spec.name, snapshot_hash)
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
                [spec.name, snapshot_hash, model.sha256, BINS_VERSION, name, item.to_json(), now],
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
    """PSI of each feature and of the predictions over the policy's ``drift_window_days`` days ending on ``day``
    (one day alone is too narrow: its weather and weekday cover a sliver of any reference, and
    weather is autocorrelated, so windows much shorter than the reference drift within a season), recorded
    in drift_history under ``day``.

    Returns the result and, when ``sample_rows`` > 0, a sample of that many rows of the window as
    a pandas frame for a human-facing report (else None): the PSI itself never holds the window.
    """
    import duckdb

    from mlops_assets.features.build import features_table
    from mlops_assets.train.snapshot import passed_feature_days

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
            window = sorted(passed_feature_days(con, spec, day - dt.timedelta(days=policy.drift_window_days - 1), day))
            days_sql = ", ".join(f"DATE '{d.isoformat()}'" for d in window)
            scored_today = con.execute(
                f"SELECT count(*) FROM {predictions_table(spec)} WHERE {quote(DAY_COLUMN)} = ? AND model_sha256 = ?",
                [day, model.sha256],
            ).fetchall()[0][0] if _has_table(con, f"predictions_{spec.name}") else 0
            if not scored_today:
                raise ScoringError(
                    f"no predictions of {spec.name} for {day.isoformat()} by the champion v{champion.version}; "
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
            psi_values = relation_psi(scratch, current, bins, spec)
            # the champion's scores over the whole window (earlier days may have been scored by an older
            # champion, whose scores are not comparable with this reference)
            psi_values[PREDICTION_FEATURE] = feature_psi(
                bins[PREDICTION_FEATURE], relation_predictions(scratch, current, model)
            )
            rows = scratch.sql(f"SELECT count(*) FROM {current}").fetchall()[0][0]
            sample = scratch.sql(
                f"SELECT * FROM {current} USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (0)"
            ).df() if sample_rows > 0 else None
        finally:
            scratch.close()
    levels = {name: policy.drift_level(value) for name, value in psi_values.items()}
    result = DriftResult(day, psi_values, levels, champion.tags["snapshot_hash"], champion.version, rows)
    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con, transaction(con):
        con.execute("DELETE FROM drift_history WHERE dataset = ? AND day = ?", [spec.name, day])
        for name, value in psi_values.items():
            con.execute(
                "INSERT INTO drift_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.name, day, name, value, levels[name], result.reference_snapshot, champion.version, now, run_id],
            )
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


def relation_psi(con: Any, relation: str, bins: dict[str, Bins], spec: DatasetSpec) -> dict[str, float]:
    """PSI of every feature of ``relation`` against its pinned bins, a column at a time, so memory
    is one numeric column (8 bytes a row) whatever the number of features."""
    values = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            values[name] = feature_psi(bins[name], _numeric_column(con, relation, name))
        else:
            values[name] = psi(bins[name].expected, proportions_from_counts(bins[name], _label_counts(con, relation, name)))
    return values


def relation_predictions(con: Any, relation: str, model: Any, batch_rows: int = 100_000) -> Any:
    """The model's scores of every row of ``relation``, scored in batches of ``batch_rows``."""
    import numpy as np

    reader = con.sql(f"SELECT * FROM {relation}").to_arrow_reader(batch_rows)
    scores = [model.predict(batch.to_pandas()) for batch in reader if batch.num_rows]
    return np.concatenate(scores) if scores else np.empty(0, dtype="float64")


def _numeric_column(con: Any, relation: str, name: str) -> Any:
    table = con.sql(f"SELECT CAST({quote(name)} AS DOUBLE) FROM {relation}").to_arrow_table()
    return table.column(0).to_numpy()


def _label_counts(con: Any, relation: str, name: str) -> dict[str, int]:
    """Counts per label, labelled as psi.label_counts does (str of the value, nulls as NULL)."""
    counts: dict[str, int] = {}
    for value, n in con.sql(f"SELECT {quote(name)}, count(*) FROM {relation} GROUP BY 1").fetchall():
        label = NULL if value is None else str(value)
        counts[label] = counts.get(label, 0) + n
    return counts


def _split_relation(snapshot: Any, split: str) -> str:
    from mlops_assets.train.snapshot import SPLIT_COLUMN

    return f"(SELECT * FROM {snapshot.qualified_table} WHERE {SPLIT_COLUMN} = {sql_string(split)})"


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

    from mlops_assets.train.snapshot import load_training_snapshot

    columns = list(spec.features)
    snapshot = load_training_snapshot(layout, spec.name, result.reference_snapshot)
    with connect(layout.warehouse_path) as con:  # sampled where it lives: the reference may be millions of rows
        reference = con.sql(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {_split_relation(snapshot, 'train')} "
            f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({int(seed)})"
        ).df()
    current = current[columns].sample(min(sample_rows, len(current)), random_state=seed)
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    snapshot.save_html(str(partial))
    os.replace(partial, path)
    return path


def _has_table(con: Any, name: str) -> bool:
    from mlops_assets.core.warehouse import table_exists

    return table_exists(con, name)


def summarize(result: DriftResult) -> str:
    drifted = {f: round(v, 3) for f, v in sorted(result.psi.items(), key=lambda kv: -kv[1]) if result.levels[f] != "none"}
    return json.dumps(drifted) if drifted else "no feature drifted"
