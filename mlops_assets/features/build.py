"""Features: one day of a dataset's rows, enriched point-in-time in DuckDB SQL.

The feature query for day D reads only:
- ``base``: D's current snapshot, typed as the spec declares, and only if it passed every data gate;
- the spec's reference tables (weather, planes), through its own ``feature_sql``, which runs in a
  sandbox (``core.sandbox``) where ``base`` lacks the outcome-side columns and nothing else exists;
- ``history``: accepted snapshots of the days strictly before D, for the spec's trailing rates.
So a trailing aggregate for D never sees D itself or anything later. Training and scoring both read
the table this writes: there is one feature definition, not a training copy and a serving copy.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from mlops_assets.validate.data_gates import DATA_GATES, RAW_ASSET, accepted_hashes
from mlops_assets.core.hashing import relation_sha256
from mlops_assets.ingest.snapshots import Snapshot, current_snapshot, snapshots_by_hash, typed_snapshot_sql
from mlops_assets.core.files import file_sha256
from mlops_assets.core.sandbox import FeatureSqlError, run_feature_sql, visible_columns
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec, sections_digest
from mlops_assets.core.spec_sections import FeatureKind, TargetSpec
from mlops_assets.core.sql import UnsafeIdentifierError, quote
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import unmet_gates
from mlops_assets.core.warehouse import connect, table_columns, table_exists, transaction

# 3: no trailing rates needed; a categorical feature is always text; 4: trailing windows in partitions of the grain
FEATURES_CODE_VERSION = "4"
FEATURE_SQL_ALIAS = "__feature_sql"


class FeatureError(RuntimeError):
    """Features for a day cannot be built; the message says which input is missing or failed."""


@dataclass(frozen=True)
class FeatureBuild:
    day: dt.date
    content_hash: str
    raw_hash: str
    rows: int
    label_rate: float | None
    history_days: list[dt.date]
    reference_hashes: dict[str, str]
    columns: dict[str, str]
    null_rates: dict[str, float] = field(default_factory=dict)


def features_table(spec: DatasetSpec) -> str:
    return quote(f"features_{spec.name}")


def features_code_version(spec: DatasetSpec) -> str:
    """Changes when the feature logic or the spec's feature definition changes (UI shows stale)."""
    sections = {"columns", "targets", "feature_sql", "features", "trailing_rates", "slices", "entity_key", "timestamp",
                "reference_tables", "labels"}
    return f"{FEATURES_CODE_VERSION}-{sections_digest(spec, sections)}"


def _rate_label(spec: DatasetSpec, rate_target: TargetSpec) -> str:
    return quote(f"__label_{rate_target.name}")


def history_sql(spec: DatasetSpec, history: list[Snapshot], labels_stored: bool = True) -> str:
    """The labelled rows of earlier accepted days: the columns trailing rates group by and the
    targets they average (from the row itself, or with a label feed from the labels that landed for
    it: a row whose label has not landed is not averaged)."""
    from mlops_assets.ingest.labels import labels_table

    group_columns = list(dict.fromkeys(c for rate in spec.trailing_rates for c in rate.group_by))
    averaged = list({spec.rate_target(rate).name: spec.rate_target(rate) for rate in spec.trailing_rates}.values())
    day = quote(DAY_COLUMN)
    if spec.labels is not None and not labels_stored:
        history = []
    if not history:
        empty = ", ".join(f"CAST(NULL AS {t.sql_type}) AS {_rate_label(spec, t)}" for t in averaged) or "NULL AS __no_label"
        group_nulls = "".join(f"{quote(c)}, " for c in group_columns)
        return f"SELECT CAST(NULL AS {spec.grain.column_type}) AS {day}, {group_nulls}{empty} FROM base WHERE false"
    # a spec without trailing rates groups by nothing: no empty item may reach the select list
    selected = "".join(f"s.{quote(c)}, " for c in group_columns)
    if spec.labels is None:
        labels = ", ".join(
            f"CAST(({target.expression}) AS {target.sql_type}) AS {_rate_label(spec, target)}" for target in averaged
        ) or "NULL AS __no_label"
        return " UNION ALL ".join(
            f"SELECT {spec.grain.literal_sql(snapshot.day)} AS {day}, {selected}{labels} "
            f"FROM ({typed_snapshot_sql(spec, snapshot)}) s"
            for snapshot in history
        )
    # with a label feed: the earlier days' keys and groups, joined to the labels landed for them in
    # one join (not one per day)
    kept = ", ".join(f"s.{quote(c)}" for c in dict.fromkeys([*spec.entity_key, *group_columns]))
    rows = " UNION ALL ".join(
        f"SELECT {spec.grain.literal_sql(snapshot.day)} AS {day}, {kept} FROM ({typed_snapshot_sql(spec, snapshot)}) s"
        for snapshot in history
    )
    labels = ", ".join(f"l.{quote(target.name)} AS {_rate_label(spec, target)}" for target in averaged) \
        or "NULL AS __no_label"
    on = " AND ".join([f"l.{day} = s.{day}", *(f"l.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in spec.entity_key)])
    first, last = (spec.grain.literal_sql(d) for d in (history[0].day, history[-1].day))
    return (f"SELECT s.{day}, {selected}{labels} FROM ({rows}) s "
            f"JOIN (SELECT * FROM {labels_table(spec)} WHERE {day} >= {first} AND {day} <= {last}) l ON {on}")


def trailing_bounds(spec: DatasetSpec, day: dt.date, span_partitions: int) -> tuple[dt.date, dt.date]:
    """[first, end) of the partitions a trailing window for ``day`` averages: the ``span`` before it,
    moved back by the label delay with a label feed, so only labels due before ``day`` count and a
    rebuild of ``day`` never depends on how early the latest labels happened to land."""
    end = spec.grain.shift(day, -spec.label_delay_partitions)
    return spec.grain.shift(end, -span_partitions), end


def feature_query(spec: DatasetSpec, day: dt.date) -> str:
    """The SELECT producing day D's feature rows from the view ``base`` and the table ``history``, and the
    relation ``__feature_sql`` (the spec's feature SQL, already run in its sandbox). Every target
    of the dataset is a column, so every model built on it reads the same feature rows."""
    day_literal = spec.grain.literal_sql(day)
    joins: list[str] = []
    selected = [f"{day_literal} AS {quote(DAY_COLUMN)}"]
    selected += [_feature_column(spec, "b", c) for c in spec.passthrough_columns]
    if spec.feature_sql:
        on = " AND ".join(f"f.{quote(k)} IS NOT DISTINCT FROM b.{quote(k)}" for k in spec.entity_key)
        joins.append(f"LEFT JOIN {FEATURE_SQL_ALIAS} f ON {on}")
        selected += [_feature_column(spec, "f", c) for c in spec.sql_feature_names]
    # with a label feed the rows carry no outcome; the targets arrive later (ingest.labels)
    row_targets = [] if spec.labels is not None else spec.targets
    computed = "".join(
        f", CAST(({t.expression}) AS {t.sql_type}) AS {quote(f'__target_{t.name}')}" for t in row_targets
    )
    # targets are computed before any join, so their columns cannot be ambiguous with feature SQL's
    ctes = [f"labelled AS (SELECT *{computed} FROM base)"]
    for index, rate in enumerate(spec.trailing_rates):
        alias = f"r{index}"
        groups = ", ".join(quote(c) for c in rate.group_by)
        label = _rate_label(spec, spec.rate_target(rate))
        first, end = trailing_bounds(spec, day, spec.partitions_in(rate.span))
        ctes.append(
            f"{alias} AS (SELECT {groups}, CASE WHEN count({label}) >= {rate.min_rows} "
            f"THEN avg({label}) END AS {quote(rate.name)} FROM history "
            f"WHERE {quote(DAY_COLUMN)} >= {spec.grain.literal_sql(first)} "
            f"AND {quote(DAY_COLUMN)} < {spec.grain.literal_sql(end)} GROUP BY {groups})"
        )
        on = " AND ".join(f"{alias}.{quote(c)} IS NOT DISTINCT FROM b.{quote(c)}" for c in rate.group_by)
        joins.append(f"LEFT JOIN {alias} ON {on}")
        selected.append(f"{alias}.{quote(rate.name)}")
    selected += [f"b.{quote(f'__target_{t.name}')} AS {quote(t.name)}" for t in row_targets]
    return (
        "WITH " + ",\n".join(ctes)
        + "\nSELECT " + ", ".join(selected)
        + "\nFROM labelled b\n" + "\n".join(joins)
    )


def _feature_column(spec: DatasetSpec, alias: str, name: str) -> str:
    """A categorical feature is text whatever the source stores (an integer-coded category too), so
    its type never depends on how a file was sniffed."""
    column = f"{alias}.{quote(name)}"
    feature = spec.features.get(name)
    if feature is not None and feature.kind is FeatureKind.CATEGORICAL:
        return f"CAST({column} AS VARCHAR) AS {quote(name)}"
    return column


def build_features(
    spec: DatasetSpec,
    layout: StateLayout,
    day: dt.date,
    run_id: str | None = None,
    code_version: str | None = None,
) -> FeatureBuild:
    """Compute and store day D's features (replacing that day's earlier rows in one transaction)."""
    code_version = code_version or features_code_version(spec)
    with connect(layout.warehouse_path) as con:
        snapshot = current_snapshot(con, spec, day)
        if snapshot is None:
            raise FeatureError(f"no {spec.name} snapshot ingested for {spec.grain.label(day)}; ingest it first")
        unmet = unmet_gates(
            con, dataset=spec.name, asset=RAW_ASSET, day=day,
            content_hash=snapshot.content_hash, required=list(DATA_GATES),
        )
        if unmet:
            raise FeatureError(
                f"snapshot {snapshot.content_hash[:12]} of {spec.name} {spec.grain.label(day)} has not passed "
                f"its data gates, so no features are built from it: " + "; ".join(unmet)
            )
        history = _history_snapshots(con, spec, day)
        reference_hashes = _reference_hashes(spec)
        con.execute(f"CREATE OR REPLACE TEMP VIEW base AS {typed_snapshot_sql(spec, snapshot)}")
        labels_stored = spec.labels is not None and table_exists(con, f"labels_{spec.name}")
        # a table, not a view: each trailing rate reads it, and the union of every earlier day's typed
        # snapshot (joined to its labels) would otherwise be computed once per rate
        con.execute(f"CREATE OR REPLACE TEMP TABLE history AS {history_sql(spec, history, labels_stored)}")
        if spec.feature_sql:
            _create_feature_sql_output(con, spec, day)
        con.execute(f"CREATE OR REPLACE TEMP TABLE new_features AS {feature_query(spec, day)}")
        rows = con.execute("SELECT count(*) FROM new_features").fetchall()[0][0]
        if rows != snapshot.rows:
            raise FeatureError(
                f"feature_sql changed the row count of {spec.grain.label(day)} from {snapshot.rows} to {rows}: "
                "a join in feature_sql matches more than one row per entity key"
            )
        content_hash = relation_sha256(con, "new_features")
        columns = table_columns(con, "new_features")
        label_rate = None if spec.target.type == "class" or spec.labels is not None else con.execute(
            f"SELECT avg({quote(spec.target.name)}) FROM new_features").fetchall()[0][0]
        null_rates = _null_rates(con, list(spec.features))
        inputs = {
            "raw_hash": snapshot.content_hash,
            "history": {spec.grain.label(d.day): d.content_hash for d in history},
            "history_labels": _history_label_hashes(con, spec, history),
            "reference_tables": reference_hashes,
        }
        with transaction(con):
            _ensure_features_table(con, spec, columns)
            con.execute(f"DELETE FROM {features_table(spec)} WHERE {quote(DAY_COLUMN)} = ?", [day])
            con.execute(f"INSERT INTO {features_table(spec)} BY NAME SELECT * FROM new_features")
            con.execute(
                "INSERT INTO feature_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    spec.name, day, content_hash, snapshot.content_hash, json.dumps(inputs),
                    code_version, rows, dt.datetime.now(dt.timezone.utc), run_id,
                ],
            )
        con.execute("DROP TABLE new_features")
    return FeatureBuild(
        day, content_hash, snapshot.content_hash, rows, label_rate, [h.day for h in history],
        reference_hashes, columns, null_rates,
    )


def current_feature_version(con: Any, spec: DatasetSpec, day: dt.date) -> tuple[str, int] | None:
    """(content hash, rows) of the newest feature build for ``day``."""
    rows = con.execute(
        "SELECT arg_max(content_hash, created_at), arg_max(rows, created_at) FROM feature_versions "
        "WHERE dataset = ? AND day = ? HAVING count(*) > 0",
        [spec.name, day],
    ).fetchall()
    return rows[0] if rows else None


def _history_snapshots(con: Any, spec: DatasetSpec, day: dt.date) -> list[Snapshot]:
    if not spec.trailing_rates:
        return []
    start, end = trailing_bounds(spec, day, spec.max_trailing_partitions)
    return snapshots_by_hash(con, spec, accepted_hashes(con, spec, start, end))


def _history_label_hashes(con: Any, spec: DatasetSpec, history: list[Snapshot]) -> dict[str, str]:
    if spec.labels is None:
        return {}
    from mlops_assets.ingest.labels import label_versions

    versions = label_versions(con, spec)
    return {spec.grain.label(s.day): versions[s.day] for s in history if s.day in versions}


def _reference_hashes(spec: DatasetSpec) -> dict[str, str]:
    hashes = {}
    for name, reference in spec.reference_tables.items():
        path = spec.resolve_path(reference.path)
        if not path.is_file():
            raise FeatureError(f"reference table {name!r}: file not found: {path}")
        hashes[name] = file_sha256(path)
    return hashes


def _create_feature_sql_output(con: Any, spec: DatasetSpec, day: dt.date) -> None:
    """Run the spec's feature SQL in its sandbox (never on the warehouse connection) and bring its
    output back as the temp table ``__feature_sql``, with the types DuckDB gave it there."""
    base_rows = con.sql(f"SELECT {', '.join(quote(c) for c in visible_columns(spec))} FROM base").to_arrow_table()
    try:
        output, described = run_feature_sql(spec, base_rows)
    except FeatureSqlError as error:
        raise FeatureError(f"feature_sql cannot run on {spec.name} {spec.grain.label(day)}: {error}") from None
    try:
        typed = ", ".join(f"CAST({quote(name)} AS {kind}) AS {quote(name)}" for name, kind in described)
    except UnsafeIdentifierError as error:
        raise FeatureError(f"feature_sql returns a column that is not a plain identifier: {error}") from None
    con.register("__feature_sql_rows", output)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {FEATURE_SQL_ALIAS} AS SELECT {typed} FROM __feature_sql_rows")
    finally:
        con.unregister("__feature_sql_rows")


def _ensure_features_table(con: Any, spec: DatasetSpec, columns: dict[str, str]) -> None:
    """Create the table on first use; when the spec gains a feature, add the column (older days
    hold NULL there and show as stale in Dagster until they are rebuilt)."""
    name = f"features_{spec.name}"
    if not table_exists(con, name):
        con.execute(f"CREATE TABLE {features_table(spec)} AS SELECT * FROM new_features WHERE false")
        return
    existing = table_columns(con, features_table(spec))
    for column, kind in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {features_table(spec)} ADD COLUMN {quote(column)} {kind}")
        elif existing[column] != kind:
            raise FeatureError(
                f"feature {column!r} changed type from {existing[column]} to {kind}; "
                f"drop the table {name} (features are rebuilt from snapshots) and rematerialize"
            )


def _null_rates(con: Any, features: list[str]) -> dict[str, float]:
    if not features:
        return {}
    values = con.execute(
        "SELECT " + ", ".join(f"coalesce(avg(({quote(c)} IS NULL)::DOUBLE), 0)" for c in features)
        + " FROM new_features"
    ).fetchall()[0]
    return dict(zip(features, values))
