"""The data gates: rules every raw snapshot must pass before any feature is computed from it.

Each gate reads one snapshot and returns a ``GateResult`` whose failures name the column, the rule,
the observed value and a few offending rows. Schema and types are checked with pandera (the frame of
one day fits in memory), except dates and timestamps, which are read the one way the typed snapshot
reads them (``validate.time_values``), never coerced; control characters in strings, null rates,
row counts, duplicate keys and day bounds are SQL over DuckDB. The value rules and sample rows are
``validate.column_rules``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from mlops_assets.ingest.snapshots import Snapshot
from mlops_assets.core.spec import DatasetSpec, sections_digest
from mlops_assets.core.sql import quote
from mlops_assets.core.timestamps import instant_sql, is_temporal, partition_sql, value_sql
from mlops_assets.validate.column_rules import pandera_column, pandera_failures, plain, sample_rows, value_failures
from mlops_assets.validate.time_values import time_value_failures
from mlops_assets.core.verdicts import Check, GateResult, RuleFailure, check_registry, passed_hashes_sql

RAW_ASSET = "raw"
# the spec sections the data gates read: a verdict given under other values of these is stale
DATA_GATE_SECTIONS = {"columns", "entity_key", "timestamp", "quality", "labels"}


def data_gate_rules(spec: DatasetSpec) -> str:
    """The fingerprint of the rules the data gates apply under this spec (recorded with each verdict)."""
    return sections_digest(spec, DATA_GATE_SECTIONS)


def check_schema(con: Any, spec: DatasetSpec, snapshot: Snapshot) -> GateResult:
    """Columns present, values of the declared types, inside declared ranges and allowed sets."""
    import pandera.pandas as pa

    failures: list[RuleFailure] = []
    present = snapshot.columns
    for name, column in spec.input_columns.items():
        if name not in present:
            failures.append(RuleFailure(name, "column present", "missing", f"a {column.type.value} column"))
    extra = sorted(set(present) - set(spec.input_columns))
    for name in extra:
        failures.append(
            RuleFailure(name, "no undeclared columns", f"unexpected column of type {present[name]}",
                        "only the columns declared in the spec")
        )
    checked = [name for name in spec.input_columns if name in present]
    if checked and snapshot.rows:
        failures.extend(value_failures(con, spec, snapshot, checked))
        # dates and timestamps are read the one way the typed snapshot reads them, not coerced
        for name in [c for c in checked if is_temporal(spec.columns[c].type)]:
            failures.extend(time_value_failures(
                con, spec, snapshot.qualified_table, name, present[name],
                lambda condition, extra: sample_rows(con, spec, snapshot, condition, extra),
            ))
        frame = con.execute(
            f"SELECT {', '.join(quote(c) for c in checked)} FROM {snapshot.qualified_table}"
        ).df()
        schema = pa.DataFrameSchema(
            {name: pandera_column(pa, spec, name) for name in checked if not is_temporal(spec.columns[name].type)},
            coerce=True,
        )
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            failures.extend(pandera_failures(errors.failure_cases, frame, spec))
    return GateResult.from_failures("check_schema", failures, f"{len(checked)} columns checked", {"columns_checked": len(checked)})


def check_null_rates(con: Any, spec: DatasetSpec, snapshot: Snapshot) -> GateResult:
    """Each column's share of nulls stays under its ceiling (spec ``max_null_rate``)."""
    columns = [name for name in spec.input_columns if name in snapshot.columns]
    if not columns or snapshot.rows == 0:
        return GateResult("check_null_rates", True, "no rows to check (see check_row_count)")
    rates = con.execute(
        "SELECT " + ", ".join(f"avg(({quote(c)} IS NULL)::DOUBLE)" for c in columns)
        + f" FROM {snapshot.qualified_table}"
    ).fetchall()[0]
    failures = []
    for name, rate in zip(columns, rates):
        ceiling = spec.max_null_rate(name)
        if rate > ceiling:
            samples = sample_rows(con, spec, snapshot, f"{quote(name)} IS NULL", [name])
            failures.append(
                RuleFailure(name, "null rate ceiling", f"{rate:.2%} nulls", f"at most {ceiling:.2%}", samples)
            )
    stats = {f"null_rate.{name}": round(rate, 6) for name, rate in zip(columns, rates)}
    return GateResult.from_failures("check_null_rates", failures, f"{len(columns)} columns under their ceilings", stats)


def check_row_count(
    con: Any, spec: DatasetSpec, snapshot: Snapshot, trailing_counts: list[int] | None = None
) -> GateResult:
    """The day's row count is plausible against the trailing accepted days (a truncated file or a
    duplicated export shows up here)."""
    rule = spec.quality.row_count
    if trailing_counts is None:
        trailing_counts = accepted_row_counts(con, spec, snapshot.day, spec.partitions_in(spec.quality.row_count_history))
    failures = []
    if snapshot.rows < spec.quality.min_rows:
        failures.append(RuleFailure(None, "minimum rows", f"{snapshot.rows} rows", f"at least {spec.quality.min_rows}"))
    stats: dict[str, Any] = {"rows": snapshot.rows, "trailing_partitions": len(trailing_counts)}
    if len(trailing_counts) >= rule.min_history:
        median = statistics.median(trailing_counts)
        ratio = snapshot.rows / median if median else float("inf")
        stats.update({"trailing_median_rows": median, "ratio_to_median": round(ratio, 4)})
        if not rule.min_ratio <= ratio <= rule.max_ratio:
            failures.append(
                RuleFailure(
                    None, "row count against trailing median",
                    f"{snapshot.rows} rows ({ratio:.2f}x the median {median:g} of {len(trailing_counts)} days)",
                    f"between {rule.min_ratio:g}x and {rule.max_ratio:g}x",
                )
            )
        summary = f"{snapshot.rows} rows, {ratio:.2f}x the trailing median"
    else:
        summary = (
            f"{snapshot.rows} rows; only {len(trailing_counts)} earlier accepted days "
            f"(< {rule.min_history}), so the trailing comparison passes by rule"
        )
    return GateResult.from_failures("check_row_count", failures, summary, stats)


def check_unique_entity_key(con: Any, spec: DatasetSpec, snapshot: Snapshot) -> GateResult:
    """No two rows share the entity key: within the day, and (``entity_key_scope: dataset``, the
    default) with any other day's accepted snapshot, so a key unique per day is not taken for one."""
    missing = [c for c in spec.entity_key if c not in snapshot.columns]
    if missing:
        failure = RuleFailure(", ".join(missing), "entity key present", "missing", "every key column")
        return GateResult.from_failures("check_unique_entity_key", [failure], "")
    key = ", ".join(quote(c) for c in spec.entity_key)
    duplicated_keys, extra_rows = con.execute(
        f"SELECT count(*), coalesce(sum(n - 1), 0) FROM "
        f"(SELECT count(*) AS n FROM {snapshot.qualified_table} GROUP BY {key} HAVING count(*) > 1)"
    ).fetchall()[0]
    failures = []
    if duplicated_keys:
        samples = [
            dict(zip([*spec.entity_key, "copies"], row))
            for row in con.execute(
                f"SELECT {key}, count(*) FROM {snapshot.qualified_table} GROUP BY {key} "
                f"HAVING count(*) > 1 ORDER BY count(*) DESC, {key} LIMIT {spec.quality.failure_samples}"
            ).fetchall()
        ]
        failures.append(
            RuleFailure(
                ", ".join(spec.entity_key), "unique entity key",
                f"{duplicated_keys} keys duplicated ({extra_rows} extra rows)", "every key once", samples,
            )
        )
    held_elsewhere = 0
    if spec.entity_key_scope == "dataset":
        held_elsewhere, samples = _keys_held_by_other_days(con, spec, snapshot)
        if held_elsewhere:
            days = sorted({sample["held_by_day"] for sample in samples})
            failures.append(
                RuleFailure(
                    ", ".join(spec.entity_key), "entity key unique across the dataset",
                    f"{held_elsewhere} keys already held by other days' accepted snapshots (e.g. {', '.join(days)})",
                    "keys no other day holds (or entity_key_scope: partition in the spec)", samples,
                )
            )
    scope = "in the dataset" if spec.entity_key_scope == "dataset" else "in the day"
    return GateResult.from_failures("check_unique_entity_key", failures, f"every entity key appears once {scope}",
                   {"duplicated_keys": duplicated_keys, "keys_held_by_other_days": held_elsewhere})


def check_rows_in_partition(con: Any, spec: DatasetSpec, snapshot: Snapshot) -> GateResult:
    """Every row's timestamp falls in the snapshot's partition (in the spec's timezone); a derived
    timestamp must also exist (no schema gate reads it)."""
    column, noun = spec.timestamp.column, spec.grain.unit
    if column is not None and column not in snapshot.columns:
        return GateResult.from_failures("check_rows_in_partition", [RuleFailure(column, "timestamp present", "missing", "a timestamp column")], "")
    readable = f"({instant_sql(spec, snapshot.columns, strict=False)})"
    partition = partition_sql(spec, readable)
    elsewhere = f"{partition} IS DISTINCT FROM {spec.grain.literal_sql(snapshot.day)}"
    # an unreadable timestamp column is the schema gate's finding, not a row in another partition
    condition = f"{readable} IS NULL OR {elsewhere}" if column is None else f"{readable} IS NOT NULL AND ({elsewhere})"
    outside = con.execute(f"SELECT count(*) FROM {snapshot.qualified_table} WHERE {condition}").fetchall()[0][0]
    failures = []
    if outside:
        shown = [column] if column else list(spec.entity_key)
        samples = sample_rows(con, spec, snapshot, condition, shown)
        where = f"timestamp.derive ({spec.timestamp.derive})" if column is None else column
        failures.append(
            RuleFailure(where, f"timestamp on the partition {noun}", f"{outside} rows on other {noun}s",
                        f"all rows on {spec.grain.label(snapshot.day)} ({spec.timestamp.timezone})", samples)
        )
    return GateResult.from_failures("check_rows_in_partition", failures, f"all timestamps on {spec.grain.label(snapshot.day)}",
                   {f"rows_outside_{noun}": outside})


# The data gates, in the order they run: rule(con, spec, snapshot) -> GateResult.
DATA_GATES = check_registry(
    Check("check_schema", "Every declared column is present with values of its type, range and allowed set (pandera).",
          check_schema),
    Check("check_null_rates", "Each column's share of nulls is under its ceiling from the dataset spec.",
          check_null_rates),
    Check("check_row_count", "The day's row count is between the spec's ratios of the trailing accepted days' median.",
          check_row_count),
    Check("check_unique_entity_key", "No two rows share the entity key, nor does any other day's accepted snapshot "
          "hold one of the day's keys (unless the spec sets entity_key_scope: partition).", check_unique_entity_key),
    Check("check_rows_in_partition", "Every row's timestamp (read from its column or derived by the spec) falls in "
          "the partition (the hour, day, week, month or year of the spec's grain), in the spec's timezone.",
          check_rows_in_partition),
)


def accepted_snapshots_sql() -> str:
    """Per day in [start, end), the newest ingested snapshot that passed every data gate.

    Parameters: dataset, RAW_ASSET, *gate names, dataset, start, end.
    """
    return f"""
        SELECT day, arg_max(i.content_hash, i.ingested_at) AS content_hash
        FROM raw_ingestions i
        JOIN ({passed_hashes_sql(list(DATA_GATES))}) p USING (day, content_hash)
        WHERE i.dataset = ? AND i.day >= ? AND i.day < ?
        GROUP BY day
    """


def accepted_hashes(con: Any, spec: DatasetSpec, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    rows = con.execute(
        accepted_snapshots_sql(), [spec.name, RAW_ASSET, *DATA_GATES, spec.name, start, end]
    ).fetchall()
    return {spec.grain.as_start(day): content_hash for day, content_hash in rows}


def accepted_row_counts(con: Any, spec: DatasetSpec, before: dt.date, partitions: int) -> list[int]:
    """Row counts of the accepted snapshots of the ``partitions`` partitions before ``before``."""
    start = spec.grain.shift(before, -partitions)
    hashes = accepted_hashes(con, spec, start, before)
    if not hashes:
        return []
    rows = con.execute(
        "SELECT day, content_hash, rows FROM raw_snapshots WHERE dataset = ? AND day >= ? AND day < ?",
        [spec.name, start, before],
    ).fetchall()
    return [count for day, content_hash, count in rows if hashes.get(spec.grain.as_start(day)) == content_hash]


# -- helpers --------------------------------------------------------------------------------------


def _keys_held_by_other_days(con: Any, spec: DatasetSpec, snapshot: Snapshot) -> tuple[int, list[dict]]:
    """How many of the snapshot's keys another day's accepted (current) snapshot holds, and a few of
    them with that day. Keys are compared as their declared types: days may store them differently."""
    from mlops_assets.ingest.snapshots import snapshots_by_hash

    end = spec.partitions.end_date or dt.date.max
    accepted = accepted_hashes(con, spec, spec.partitions.start_date, end)
    others = snapshots_by_hash(con, spec, {day: h for day, h in accepted.items() if day != snapshot.day})
    if not others:
        return 0, []
    key = ", ".join(quote(c) for c in spec.entity_key)

    def typed_keys(held: Snapshot) -> str:
        return ", ".join(
            f"{value_sql(spec, c, held.columns.get(c, 'VARCHAR'), strict=False)} AS {quote(c)}" for c in spec.entity_key
        )

    held = " UNION ALL ".join(
        f"SELECT {spec.grain.literal_sql(other.day)} AS __held_by_day, {typed_keys(other)} FROM {other.qualified_table}"
        for other in others
    )
    collisions = (
        f"SELECT * FROM ({held}) JOIN (SELECT DISTINCT {typed_keys(snapshot)} FROM {snapshot.qualified_table}) "
        f"USING ({key})"
    )
    count = con.execute(f"SELECT count(DISTINCT ({key})) FROM ({collisions})").fetchall()[0][0]
    if not count:
        return 0, []
    rows = con.execute(
        f"SELECT {key}, __held_by_day FROM ({collisions}) ORDER BY __held_by_day, {key} "
        f"LIMIT {spec.quality.failure_samples}"
    ).fetchall()
    samples = [
        {**{c: plain(v) for c, v in zip(spec.entity_key, row[:-1])}, "held_by_day": spec.grain.label(row[-1])}
        for row in rows
    ]
    return count, samples
