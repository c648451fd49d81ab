"""The label feed: a partition's outcomes, landed after its rows, become that partition's labels.

A label file (``landing/<dataset>/labels/<partition>.<format>``) holds the entity key and the
spec's ``labels.columns`` for some or all of a partition's rows; it is read as arrived, checked
against the column rules, and each target is computed from it. The partition's labels are replaced
as a whole by each new file (a later, fuller file supersedes a partial one; identical content is a
no-op), so labels may land late, out of order, or in several deliveries. A row is learned from and
measured on only once its label has landed: training and live performance read
``labelled_rows_sql``, the features joined to the labels by partition and key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_assets.core.hashing import relation_sha256
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.timestamps import value_sql
from mlops_assets.core.warehouse import SNAPSHOT_SCHEMA, connect, table_exists, transaction
from mlops_assets.ingest.landing import landed_file

LABEL_VERSIONS_DDL = """
    CREATE TABLE IF NOT EXISTS label_versions (
        dataset VARCHAR NOT NULL, day TIMESTAMP NOT NULL, content_hash VARCHAR NOT NULL, rows BIGINT NOT NULL,
        matched_rows BIGINT, source_file VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL, run_id VARCHAR
    )
"""


class LabelError(RuntimeError):
    """A label file that cannot become labels; the message names the file and the problem."""


@dataclass(frozen=True)
class LabelBatch:
    day: dt.date
    content_hash: str
    rows: int
    matched_rows: int | None  # rows whose key is among the partition's ingested rows (None: none ingested yet)
    partition_rows: int | None
    target_rates: dict[str, float | None]
    source_file: str
    is_new: bool

    @property
    def coverage(self) -> float | None:
        """The share of the partition's rows that have their label."""
        if not self.partition_rows or self.matched_rows is None:
            return None
        return self.matched_rows / self.partition_rows


def labels_table(spec: DatasetSpec) -> str:
    return quote(f"labels_{spec.name}")


def label_file_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec a label file is read and checked under: the entity key and the label columns, with
    their declared types and rules; nothing in it is forbidden, since nothing is a feature."""
    kept = [*spec.entity_key, *spec.label_columns]
    return spec.model_copy(update={
        "columns": {name: spec.columns[name] for name in dict.fromkeys(kept)},
        "labels": None, "forbidden_columns": [], "entity_key_scope": "partition",
    })


def ingest_labels(spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None) -> LabelBatch:
    """Read ``day``'s label file and store its labels, replacing the partition's earlier ones in
    one transaction; a file that breaks a rule changes nothing."""
    from mlops_assets.ingest.snapshots import current_snapshot, staged_file, typed_snapshot_sql

    if spec.labels is None:
        raise LabelError(f"dataset {spec.name} has no label feed: its outcomes arrive with the rows (spec `labels`)")
    fields = label_file_spec(spec)
    path = landed_file(layout, spec, day, labels=True)
    with staged_file(fields, layout, path, "label file", LabelError) as (staging, stored, source_sha256):
        _check_label_file(staging, fields, stored, path)
        typed = ", ".join(f"{value_sql(fields, name, stored[name], strict=False)} AS {quote(name)}"
                          for name in fields.columns)
        targets = ", ".join(f"CAST(({t.expression}) AS {t.sql_type}) AS {quote(t.name)}" for t in spec.targets)
        keys = ", ".join(quote(k) for k in spec.entity_key)
        staging.execute(
            f"CREATE TABLE new_labels AS SELECT {spec.grain.literal_sql(day)} AS {quote(DAY_COLUMN)}, {keys}, {targets} "
            f"FROM (SELECT {typed} FROM incoming) ORDER BY {keys}"
        )
        content_hash = relation_sha256(staging, "new_labels")
        rows = staging.execute("SELECT count(*) FROM new_labels").fetchall()[0][0]
        arrow_rows = staging.sql("SELECT * FROM new_labels").to_arrow_table()

    with connect(layout.warehouse_path) as con:
        con.execute(LABEL_VERSIONS_DDL)
        previous = con.execute(
            "SELECT arg_max(content_hash, created_at) FROM label_versions WHERE dataset = ? AND day = ?", [spec.name, day]
        ).fetchall()[0][0]
        snapshot = current_snapshot(con, spec, day)
        con.register("arrow_labels", arrow_rows)
        try:
            matched = None
            if snapshot is not None:
                on = " AND ".join(f"l.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in spec.entity_key)
                matched = con.execute(
                    f"SELECT count(*) FROM arrow_labels l SEMI JOIN ({typed_snapshot_sql(spec, snapshot)}) s ON {on}"
                ).fetchall()[0][0]
            rates = {
                t.name: (None if t.type == "class" else con.execute(
                    f"SELECT avg({quote(t.name)}) FROM arrow_labels").fetchall()[0][0])
                for t in spec.targets
            }
            with transaction(con):
                if not table_exists(con, f"labels_{spec.name}"):
                    con.execute(f"CREATE TABLE {labels_table(spec)} AS SELECT * FROM arrow_labels WHERE false")
                con.execute(f"DELETE FROM {labels_table(spec)} WHERE {quote(DAY_COLUMN)} = ?", [day])
                con.execute(f"INSERT INTO {labels_table(spec)} BY NAME SELECT * FROM arrow_labels")
                con.execute(
                    "INSERT INTO label_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [spec.name, day, content_hash, rows, matched, str(path), source_sha256,
                     dt.datetime.now(dt.timezone.utc), run_id],
                )
        finally:
            con.unregister("arrow_labels")
    return LabelBatch(day, content_hash, rows, matched, snapshot.rows if snapshot else None, rates, str(path),
                      is_new=previous != content_hash)


def _check_label_file(con: Any, fields: DatasetSpec, stored: dict[str, str], path: Path) -> None:
    """The label file's columns, types and rules, with the schema gate's own checks (a label file is
    held to the column rules its rows would be), and one row per key."""
    from mlops_assets.ingest.snapshots import Snapshot
    from mlops_assets.validate.data_gates import check_null_rates, check_schema

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_SCHEMA}")
    con.execute(f"CREATE OR REPLACE TABLE {SNAPSHOT_SCHEMA}.incoming AS SELECT * FROM incoming")
    rows = con.execute("SELECT count(*) FROM incoming").fetchall()[0][0]
    arrived = Snapshot(fields.name, dt.date.min, "", "incoming", rows, stored, None, None, str(path), "",
                       dt.datetime.now(dt.timezone.utc))
    problems = []
    for gate in (check_schema, check_null_rates):
        verdict = gate(con, fields, arrived)
        if not verdict.passed:
            problems.append(verdict.summary)
    if not problems and rows:
        keys = ", ".join(quote(k) for k in fields.entity_key)
        repeated = con.execute(
            f"SELECT count(*) FROM (SELECT {keys} FROM incoming GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()[0][0]
        if repeated:
            problems.append(f"{repeated} entity key(s) ({keys}) appear more than once: a row has one label")
    if problems:
        raise LabelError(f"label file {path} was not stored: " + "; ".join(problems))


def label_versions(con: Any, spec: DatasetSpec) -> dict[dt.date, str]:
    """Each partition's current labels content hash."""
    if not table_exists(con, "label_versions"):
        return {}
    rows = con.execute(
        "SELECT day, arg_max(content_hash, created_at) FROM label_versions WHERE dataset = ? GROUP BY day",
        [spec.name],
    ).fetchall()
    return {spec.grain.as_start(day): content_hash for day, content_hash in rows}


def labelled_rows_sql(con: Any, spec: DatasetSpec) -> str:
    """The feature rows with every target, only where the label is known: what training and live
    performance read. Without a label feed the features carry the targets themselves."""
    from mlops_assets.features.build import features_table

    if spec.labels is None:
        return f"SELECT * FROM {features_table(spec)}"
    targets = ", ".join(f"l.{quote(t.name)}" for t in spec.targets)
    if not table_exists(con, f"labels_{spec.name}"):
        nulls = ", ".join(f"CAST(NULL AS {t.sql_type}) AS {quote(t.name)}" for t in spec.targets)
        return f"SELECT f.*, {nulls} FROM {features_table(spec)} f WHERE false"
    on = " AND ".join(f"l.{quote(k)} IS NOT DISTINCT FROM f.{quote(k)}" for k in [DAY_COLUMN, *spec.entity_key])
    return f"SELECT f.*, {targets} FROM {features_table(spec)} f JOIN {labels_table(spec)} l ON {on}"
