"""training_snapshot: a window of gate-passed feature days, frozen and split: its last
``holdout_days`` days are the out-of-time test (``oot``), the earlier days split 80/10/10. A "day"
here is a partition of the spec's grain (``core.grain``): a year of a yearly dataset.

The out-of-time days are what judges a model forward in time: no row of them, nor of their days, was
trained on, as no row of tomorrow will be. The in-period split is by a hash of the entity key (md5 of the key columns, mod 100), not by a seeded shuffle:
a row lands in the same split whatever the window, the row order or the seed, so a flight that
trained one model is never in the test split of the next, and a candidate and its champion can be
compared on the same test rows. The frozen rows live in their own table, addressed by content hash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from mlops_assets.ingest.labels import labelled_rows_sql
from mlops_assets.core.hashing import relation_sha256
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain
from mlops_assets.core.warehouse import SNAPSHOT_SCHEMA, connect, table_exists, transaction, widen_partition_columns
from mlops_assets.train.window import (
    TrainingDataError, TrainingWindow, no_outcomes, require_current_features, resolve_window, with_outcomes,
    held_out_days, passed_feature_days,
)

SPLIT_COLUMN = "_split"
IN_PERIOD_SPLITS = ("train", "validation", "test")
OOT_SPLIT = "oot"  # the window's last days, held out whole: the forward test
SPLITS = (*IN_PERIOD_SPLITS, OOT_SPLIT)
TRAINING_SNAPSHOTS_DDL = """
    CREATE TABLE IF NOT EXISTS training_snapshots (
        dataset VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        start_day TIMESTAMP NOT NULL,
        end_day TIMESTAMP NOT NULL,
        days_json VARCHAR NOT NULL,
        rows_json VARCHAR NOT NULL,
        label_rates_json VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR,
        PRIMARY KEY (dataset, content_hash)
    )
"""


@dataclass(frozen=True)
class TrainingSnapshot:
    dataset: str
    content_hash: str
    table_name: str
    start: dt.date
    end: dt.date
    days: dict[str, str]  # day -> feature content hash
    rows: dict[str, int]
    label_rates: dict[str, Any]  # per split, the task's label statistic (tasks.Task.label_statistic)
    skipped_days: list[str]
    # day -> why: judged again under the current spec (and passed), or refused by it
    rejudged_days: dict[str, str] = field(default_factory=dict)
    refused_days: dict[str, str] = field(default_factory=dict)
    rebuilt_days: dict[str, str] = field(default_factory=dict)  # features rebuilt under the current spec
    oot_days: list[str] = field(default_factory=list)  # the held-out days, oldest first

    @property
    def qualified_table(self) -> str:
        return f"{SNAPSHOT_SCHEMA}.{quote(self.table_name)}"

    @property
    def in_period_days(self) -> list[str]:
        """The days whose rows were split 80/10/10: the ones a model of this snapshot learned from."""
        return [day for day in self.days if day not in set(self.oot_days)]

    def to_handle(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "content_hash": self.content_hash}


def split_expression(spec: DatasetSpec, oot_days: list[dt.date] = ()) -> str:
    key = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in spec.entity_key)
    bucket = f"(CAST(('0x' || md5(concat_ws('|', {key}))[1:8]) AS UBIGINT) % 100)"
    hashed = f"CASE WHEN {bucket} < 80 THEN 'train' WHEN {bucket} < 90 THEN 'validation' ELSE 'test' END"
    if not oot_days:
        return hashed
    held_out = ", ".join(spec.grain.literal_sql(d) for d in oot_days)
    return f"CASE WHEN {quote(DAY_COLUMN)} IN ({held_out}) THEN '{OOT_SPLIT}' ELSE {hashed} END"


def build_training_snapshot(
    spec: DatasetSpec, layout: StateLayout, window: TrainingWindow, run_id: str | None = None
) -> TrainingSnapshot:
    from mlops_assets.evaluate.tasks import task_of
    from mlops_assets.train.rejudge import rejudge_stale_days

    if not spec.grain.partitioned:
        # one table: it is all there is to train on, and nothing comes after it to hold out
        window = dataclasses.replace(window, start_date=None, end_date=None, last_n_days=None, min_days=1,
                                     holdout_days=0)
    with connect(layout.warehouse_path) as con:
        ensure_training_snapshots_table(con)
        if not table_exists(con, f"features_{spec.name}"):
            raise TrainingDataError(f"no features of {spec.name} exist yet; run the ingest job first")
        start, end = resolve_window(con, spec, window)
    # only days judged under the current spec's rules may train: re-judge the others (or refuse them)
    currency = rejudge_stale_days(spec, layout, start, end, run_id)
    with connect(layout.warehouse_path) as con:
        all_days = con.execute(
            "SELECT DISTINCT day FROM feature_versions WHERE dataset = ? AND day BETWEEN ? AND ? ORDER BY day",
            [spec.name, start, end],
        ).fetchall()
        passed = passed_feature_days(con, spec, start, end)
        usable = {day: h for day, h in passed.items() if spec.grain.label(day) not in currency.refused}
        if spec.labels is not None:  # a partition whose outcomes have not landed has nothing to learn from
            learnable = with_outcomes(con, spec, passed)
            if usable and not learnable:
                raise no_outcomes(spec, start, end)
            usable = {day: h for day, h in usable.items() if day in learnable}
        skipped = sorted(spec.grain.label(d) for (d,) in all_days if spec.grain.as_start(d) not in usable)
        if len(usable) < window.min_days:
            refused = "; ".join(f"{day} {why}" for day, why in sorted(currency.refused.items()))
            raise TrainingDataError(
                f"only {len(usable)} {spec.grain.unit}(s) of {spec.name} features between {spec.grain.label(start)} and "
                f"{spec.grain.label(end)} passed their "
                f"checks (need at least {window.min_days}); skipped: {skipped or 'none'}"
                + (f"; refused under the current spec: {refused}" if refused else "")
            )
        wanted = list(dict.fromkeys([DAY_COLUMN, *spec.passthrough_columns, *spec.features, spec.target.name]))
        require_current_features(con, spec, wanted, usable, start)
        oot_days = held_out_days(list(usable), window, start, end, spec.grain.unit)
        splits = SPLITS if oot_days else IN_PERIOD_SPLITS
        columns = ", ".join(quote(c) for c in wanted)
        days_sql = ", ".join(spec.grain.literal_sql(d) for d in sorted(usable))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE new_snapshot AS SELECT {columns}, {split_expression(spec, oot_days)} AS {SPLIT_COLUMN} "
            f"FROM ({labelled_rows_sql(con, spec)}) WHERE {quote(DAY_COLUMN)} IN ({days_sql}) "
            f"AND {quote(spec.target.name)} IS NOT NULL"
        )
        if spec.labels is not None and not con.execute("SELECT count(*) FROM new_snapshot").fetchall()[0][0]:
            raise no_outcomes(spec, start, end)  # labels landed, but none for these rows' keys
        content_hash = relation_sha256(con, "new_snapshot")
        table_name = f"training_{spec.name}__{content_hash[:16]}"
        task = task_of(spec.model.task)
        stats = con.execute(f"SELECT {SPLIT_COLUMN}, count(*) FROM new_snapshot GROUP BY 1").fetchall()
        rows = {split: 0 for split in splits} | {s: n for s, n in stats}
        label = quote(spec.target.name)
        label_rates = task.label_statistics(con, "new_snapshot", label, SPLIT_COLUMN)
        for split in splits:
            if rows[split] == 0:
                raise TrainingDataError(f"the {split} split of the window {start}..{end} is empty")
        for split in splits:
            values, only = con.execute(
                f"SELECT count(DISTINCT {label}), any_value({label}) FROM new_snapshot WHERE {SPLIT_COLUMN} = ?",
                [split],
            ).fetchall()[0]
            if values < 2:
                raise TrainingDataError(
                    f"the {split} split of {start}..{end} has a single label value ({spec.target.name} = {only} "
                    f"in all {rows[split]} rows); {task.single_value_problem}"
                )
        if task.has_classes:
            _require_trained_classes(label_rates, spec, start, end)
        uninformative = _uninformative_features(con, spec)
        if len(uninformative) == len(spec.features):
            raise TrainingDataError(
                f"no feature varies in the training split of {start}..{end}, so there is nothing to learn: "
                + "; ".join(f"{name} is {state}" for name, state in uninformative.items())
            )
        days = {spec.grain.label(d): h for d, h in sorted(usable.items())}
        # the snapshot's dates are the days it holds, not the window asked for
        start, end = min(usable), max(usable)
        with transaction(con):
            exists = con.execute(
                "SELECT count(*) FROM training_snapshots WHERE dataset = ? AND content_hash = ?", [spec.name, content_hash]
            ).fetchall()[0][0]
            if not exists:
                con.execute(f"CREATE TABLE {SNAPSHOT_SCHEMA}.{quote(table_name)} AS SELECT * FROM new_snapshot")
                con.execute(
                    "INSERT INTO training_snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [spec.name, content_hash, table_name, start, end, json.dumps(days), json.dumps(rows),
                     json.dumps(label_rates), dt.datetime.now(dt.timezone.utc), run_id],
                )
        con.execute("DROP TABLE new_snapshot")
    return TrainingSnapshot(spec.name, content_hash, table_name, start, end, days, rows, label_rates, skipped,
                            rejudged_days=currency.rejudged, refused_days=currency.refused,
                            rebuilt_days=currency.rebuilt, oot_days=[spec.grain.label(d) for d in oot_days])


def ensure_training_snapshots_table(con: Any) -> None:
    widen_partition_columns(con, {"training_snapshots": ("start_day", "end_day")}, [TRAINING_SNAPSHOTS_DDL])


def load_training_snapshot(layout: StateLayout, dataset: str, content_hash: str, *,
                           grain: Grain = GRAINS[DEFAULT_GRAIN]) -> TrainingSnapshot:
    """The frozen snapshot; its dates are partition starts of the dataset's ``grain`` (any date
    grain reads them as dates)."""
    with connect(layout.warehouse_path) as con:
        ensure_training_snapshots_table(con)
        rows = con.execute(
            "SELECT table_name, start_day, end_day, days_json, rows_json, label_rates_json "
            "FROM training_snapshots WHERE dataset = ? AND content_hash = ?",
            [dataset, content_hash],
        ).fetchall()
    if not rows:
        raise TrainingDataError(f"training snapshot {content_hash[:12]} of {dataset} not found")
    table_name, start, end, days, counts, rates = rows[0]
    counts = json.loads(counts)
    oot_days = []
    if counts.get(OOT_SPLIT):  # snapshots frozen before the out-of-time test have none
        with connect(layout.warehouse_path) as con:
            oot_days = [grain.label(d) for (d,) in con.execute(
                f"SELECT DISTINCT {quote(DAY_COLUMN)} FROM {SNAPSHOT_SCHEMA}.{quote(table_name)} "
                f"WHERE {SPLIT_COLUMN} = ? ORDER BY 1", [OOT_SPLIT]).fetchall()]
    return TrainingSnapshot(dataset, content_hash, table_name, grain.as_start(start), grain.as_start(end), json.loads(days),
                            counts, json.loads(rates), [], oot_days=oot_days)


def read_split(layout: StateLayout, snapshot: TrainingSnapshot, split: str):
    """One split of a frozen snapshot as a pandas frame, in a stable row order."""
    with connect(layout.warehouse_path) as con:
        return con.execute(
            f"SELECT * EXCLUDE ({SPLIT_COLUMN}) FROM {snapshot.qualified_table} WHERE {SPLIT_COLUMN} = ? ORDER BY ALL",
            [split],
        ).df()


class ParquetBatches:
    """A split written to Parquet, read back as pandas frames of exactly ``rows`` rows (the last
    one shorter), in file order; re-iterable, as xgboost's QuantileDMatrix needs."""

    def __init__(self, path: Path, rows: int, columns: list[str] | None = None) -> None:
        self.path = path
        self.rows = rows
        self.columns = columns

    def __iter__(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pending: list[Any] = []
        pending_rows = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.rows, columns=self.columns):
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= self.rows:
                joined = pa.Table.from_batches(pending)
                yield joined.slice(0, self.rows).to_pandas()
                rest = joined.slice(self.rows)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            yield pa.Table.from_batches(pending).to_pandas()


@contextlib.contextmanager
def streamed_split(
    layout: StateLayout, snapshot: TrainingSnapshot, split: str, columns: list[str] | None = None,
    rows: int | None = None,
) -> Iterator[ParquetBatches]:
    """One split of a frozen snapshot as fixed-size pandas batches in read_split's row order, for
    splits too large to hold as one frame. The rows are sorted once in DuckDB (which spills to disk
    past its memory limit) into a scratch Parquet file, so the warehouse is not held open while
    the batches are consumed, and reading them again costs no second sort."""
    from mlops_assets.core.sql import sql_string
    from mlops_assets.train.model import TRAINING_BATCH_ROWS

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".split-{split}-", dir=layout.cache_dir) as folder:
        path = Path(folder) / f"{split}.parquet"
        with connect(layout.warehouse_path) as con:
            con.execute(
                f"COPY (SELECT * EXCLUDE ({SPLIT_COLUMN}) FROM {snapshot.qualified_table} "
                f"WHERE {SPLIT_COLUMN} = {sql_string(split)} ORDER BY ALL) TO {sql_string(str(path))} (FORMAT parquet)"
            )
        yield ParquetBatches(path, rows or TRAINING_BATCH_ROWS, columns)


def _require_trained_classes(frequencies: dict[str, dict[str, float]], spec: DatasetSpec, start: dt.date,
                             end: dt.date) -> None:
    """A class the training split never shows cannot be predicted, and its rows' log loss is infinite."""
    trained = set(frequencies["train"])
    for split, found in frequencies.items():
        unseen = sorted(set(found) - trained)
        if unseen:
            raise TrainingDataError(
                f"the {split} split of {start}..{end} holds {spec.target.name} class(es) {unseen} that the train "
                f"split never shows ({sorted(trained)}); widen the window so every class is trained on"
            )


def _uninformative_features(con: Any, spec: DatasetSpec) -> dict[str, str]:
    """Features that are constant or entirely null in the training split, with what they hold."""
    found = {}
    for name in spec.features:
        distinct, example = con.execute(
            f"SELECT count(DISTINCT {quote(name)}), CAST(any_value({quote(name)}) AS VARCHAR) "
            f"FROM new_snapshot WHERE {SPLIT_COLUMN} = 'train'"
        ).fetchall()[0]
        if distinct == 0:
            found[name] = "null in every row"
        elif distinct == 1:
            found[name] = f"constant ({example})"
    return found
