"""Ingestion: a landing file becomes an immutable, content-addressed snapshot in the warehouse.

The file is captured as it arrived (CSV numbers and booleans as DuckDB's sniffer reads them over the
whole file, dates and times as their text, Parquet types as written) so that a wrong type is caught by the schema gate with the column named,
instead of being silently coerced on the way in. Each distinct content of a day gets its own table
``snapshots.<dataset>__<hash16>``; identical content maps to the existing snapshot, and older
versions stay readable by hash. Every ingestion is appended to ``raw_ingestions``: the newest row of
a day says which snapshot is that day's current version.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from mlops_assets.core.hashing import relation_sha256
from mlops_assets.core.files import copy_with_sha256
from mlops_assets.ingest.landing import landed_file
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.sql import quote, sql_string
from mlops_assets.core.timestamps import instant_sql, value_sql
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import SNAPSHOT_SCHEMA, connect, transaction


class IngestionError(RuntimeError):
    """A landing file that cannot be read as a table; the message names the file and the problem."""


@dataclass(frozen=True)
class Snapshot:
    dataset: str
    day: dt.date
    content_hash: str
    table_name: str
    rows: int
    columns: dict[str, str]
    min_timestamp: dt.datetime | None
    max_timestamp: dt.datetime | None
    source_file: str
    source_sha256: str
    created_at: dt.datetime
    is_new: bool = False

    @property
    def qualified_table(self) -> str:
        return f"{SNAPSHOT_SCHEMA}.{quote(self.table_name)}"


def snapshot_table_name(spec: DatasetSpec, content_hash: str) -> str:
    return f"{spec.name}__{content_hash[:16]}"


def read_landing_sql(spec: DatasetSpec, path: Path) -> str:
    if spec.source.format == "parquet":
        return f"SELECT * FROM read_parquet({sql_string(str(path))})"
    nulls = ", ".join(sql_string(v) for v in spec.source.csv.null_values)
    return (
        f"SELECT * FROM read_csv({sql_string(str(path))}, header=true, "
        f"delim={sql_string(spec.source.csv.delimiter)}, quote='\"', escape='\"', nullstr=[{nulls}], "
        "sample_size=-1, strict_mode=true, null_padding=false, "
        # dates and times stay text as they arrived: the schema gate reads them in one format
        "auto_type_candidates=['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'])"
    )


def ingest_day(
    spec: DatasetSpec,
    layout: StateLayout,
    day: dt.date,
    run_id: str | None = None,
    judge: Callable[[Any, Snapshot], Any] | None = None,
) -> Snapshot:
    """Capture the landing file of ``day`` as a snapshot; idempotent for identical content.

    The file is copied once into a private folder, hashing exactly the bytes copied, and everything
    after reads that copy: a landing file replaced meanwhile cannot give a snapshot of one content
    recorded with the other content's sha256.

    ``judge(con, snapshot)`` runs inside the same transaction (the data gates recording their
    verdicts): a write fault anywhere leaves neither the snapshot nor its verdicts, never one
    without the other.
    """
    _check_day(spec, day)
    path = landed_file(layout, spec, day)
    with staged_file(spec, layout, path) as (staging, columns, source_sha256):
        content_hash = relation_sha256(staging, "incoming")
        rows = staging.execute("SELECT count(*) FROM incoming").fetchall()[0][0]
        min_ts, max_ts = _time_range(staging, spec, columns)
        arrow_rows = staging.sql(_ordered_select(spec, columns)).to_arrow_table()

    table_name = snapshot_table_name(spec, content_hash)
    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con, transaction(con):
        existing = con.execute(
            "SELECT created_at FROM raw_snapshots WHERE dataset = ? AND day = ? AND content_hash = ?",
            [spec.name, day, content_hash],
        ).fetchall()
        if not existing:
            con.register("arrow_rows", arrow_rows)
            con.execute(
                f"CREATE TABLE {SNAPSHOT_SCHEMA}.{quote(table_name)} AS SELECT * FROM arrow_rows"
            )
            con.unregister("arrow_rows")
            con.execute(
                "INSERT INTO raw_snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    spec.name, day, content_hash, table_name, rows, json.dumps(columns),
                    min_ts, max_ts, str(path), source_sha256, now, run_id,
                ],
            )
        con.execute(
            "INSERT INTO raw_ingestions VALUES (?, ?, ?, ?, ?, ?)",
            [spec.name, day, content_hash, str(path), now, run_id],
        )
        snapshot = Snapshot(
            spec.name, day, content_hash, table_name, rows, columns, min_ts, max_ts, str(path),
            source_sha256, existing[0][0] if existing else now, is_new=not existing,
        )
        if judge is not None:
            judge(con, snapshot)
    return snapshot


@contextmanager
def staged_file(spec: DatasetSpec, layout: StateLayout, path: Path, what: str = "landing file",
                error: type[Exception] = IngestionError) -> Iterator[tuple[Any, dict[str, str], str]]:
    """A landed file copied once into a private folder (hashing exactly the bytes copied) and read, as
    it arrived, into the table ``incoming`` of a fresh in-memory DuckDB: yields (connection, column
    types, sha256). A file that cannot be read raises ``error`` naming ``path`` and the problem."""
    import duckdb

    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=layout.cache_dir) as private:
        copy = Path(private) / path.name
        source_sha256 = copy_with_sha256(path, copy)
        if copy.stat().st_size == 0:
            raise error(f"cannot read {what} {path}: the file is empty (0 bytes), not even a header")
        staging = duckdb.connect()
        try:
            staging.execute("SET TimeZone='UTC'")
            try:
                staging.execute(f"CREATE TABLE incoming AS {read_landing_sql(spec, copy)}")
            except duckdb.Error as failure:
                diagnosis = _csv_problem(spec, copy) if spec.source.format == "csv" else None
                # DuckDB names the file it read: the private copy, which means nothing to the reader
                reason = _duckdb_reason(failure).replace(str(copy), str(path)) + (f" ({diagnosis})" if diagnosis else "")
                raise error(f"cannot read {what} {path}: {reason}") from failure
            columns = {row[0]: row[1] for row in staging.execute("DESCRIBE incoming").fetchall()}
            if spec.source.format == "csv":
                problem = _csv_layout_problem(spec, copy, list(columns))
                if problem:
                    raise error(f"cannot read {what} {path}: {problem}")
            yield staging, columns, source_sha256
        finally:
            staging.close()


def current_snapshot(con: Any, spec: DatasetSpec, day: dt.date) -> Snapshot | None:
    """The snapshot of ``day`` that the newest ingestion pointed at."""
    row = con.execute(
        """
        SELECT s.content_hash, s.table_name, s.rows, s.columns_json, s.min_timestamp, s.max_timestamp,
               s.source_file, s.source_sha256, s.created_at
        FROM raw_ingestions i JOIN raw_snapshots s USING (dataset, day, content_hash)
        WHERE i.dataset = ? AND i.day = ?
        ORDER BY i.ingested_at DESC LIMIT 1
        """,
        [spec.name, day],
    ).fetchall()
    return _snapshot_from_row(spec, day, row[0]) if row else None


def snapshot_by_hash(con: Any, spec: DatasetSpec, day: dt.date, content_hash: str) -> Snapshot | None:
    found = snapshots_by_hash(con, spec, {day: content_hash})
    return found[0] if found else None


def snapshots_by_hash(con: Any, spec: DatasetSpec, hashes: dict[dt.date, str]) -> list[Snapshot]:
    """The snapshots named by day and content hash, oldest day first, in one query (trailing rates
    and the key-uniqueness gate read every accepted day before the one they judge)."""
    if not hashes:
        return []
    rows = con.execute(
        """
        SELECT day, content_hash, table_name, rows, columns_json, min_timestamp, max_timestamp,
               source_file, source_sha256, created_at
        FROM raw_snapshots WHERE dataset = ? AND day >= ? AND day <= ?
        """,
        [spec.name, min(hashes), max(hashes)],
    ).fetchall()
    found = {}
    for row in rows:
        day = spec.grain.as_start(row[0])
        if hashes.get(day) == row[1]:
            found[day] = _snapshot_from_row(spec, day, row[1:])
    return [found[day] for day in sorted(found)]


def snapshot_versions(con: Any, spec: DatasetSpec, day: dt.date) -> list[Snapshot]:
    """Every distinct content ever ingested for ``day``, oldest first."""
    rows = con.execute(
        """
        SELECT content_hash, table_name, rows, columns_json, min_timestamp, max_timestamp,
               source_file, source_sha256, created_at
        FROM raw_snapshots WHERE dataset = ? AND day = ? ORDER BY created_at
        """,
        [spec.name, day],
    ).fetchall()
    return [_snapshot_from_row(spec, day, row) for row in rows]


def typed_snapshot_sql(spec: DatasetSpec, snapshot: Snapshot) -> str:
    """The snapshot with every spec column turned into its declared type (for snapshots that passed
    the schema gate, so nothing fails; if something did, it raises rather than becoming NULL)."""
    selected = ", ".join(
        f"{value_sql(spec, name, snapshot.columns.get(name, 'VARCHAR'), strict=True)} AS {quote(name)}"
        for name in spec.input_columns
    )
    return f"SELECT {selected} FROM {snapshot.qualified_table}"


def _snapshot_from_row(spec: DatasetSpec, day: dt.date, row: tuple) -> Snapshot:
    content_hash, table_name, rows, columns_json, min_ts, max_ts, source, source_sha, created = row
    return Snapshot(
        spec.name, day, content_hash, table_name, rows, json.loads(columns_json), min_ts, max_ts,
        source, source_sha, created,
    )


def _ordered_select(spec: DatasetSpec, columns: dict[str, str]) -> str:
    """Stored in timestamp order so DuckDB's zone maps prune well when days are scanned."""
    keys = [c for c in [spec.timestamp.column, *spec.entity_key] if c in columns]
    order = f" ORDER BY {', '.join(quote(c) for c in keys)}" if keys else ""
    return f"SELECT * FROM incoming{order}"


def _time_range(con: Any, spec: DatasetSpec, columns: dict[str, str]):
    import duckdb

    if spec.timestamp.column is not None and spec.timestamp.column not in columns:
        return None, None
    instant = instant_sql(spec, columns, strict=False)
    try:
        return con.execute(f"SELECT min({instant}), max({instant}) FROM incoming").fetchall()[0]
    except duckdb.Error:  # a derived timestamp over a column the file lacks: the gates name it
        return None, None


def _check_day(spec: DatasetSpec, day: dt.date) -> None:
    """A day that starts no partition, is outside the spec's partitions, or has not happened yet has
    no partition to ingest into (Dagster would refuse it too)."""
    import zoneinfo

    if not spec.grain.is_start(day):
        raise IngestionError(
            f"{spec.grain.label(day)} does not start a {spec.grain.name} partition of {spec.name} "
            f"(that one starts {spec.grain.label(spec.grain.partition_of(day))}): refusing to ingest it"
        )
    start, end = spec.partitions.start_date, spec.partitions.end_date
    start, end = spec.grain.as_start(start), end and spec.grain.as_start(end)
    if day < start or (end is not None and day >= end):
        until = f"before {spec.grain.label(end)}" if end else "open-ended"
        raise IngestionError(
            f"{spec.grain.label(day)} is outside the partitions of {spec.name} (from {start.isoformat()}, {until}): "
            "refusing to ingest it"
        )
    now = spec.grain.partition_of(dt.datetime.now(zoneinfo.ZoneInfo(spec.timestamp.timezone)).replace(tzinfo=None))
    if day > now:
        raise IngestionError(
            f"{spec.grain.label(day)} is a future {spec.grain.unit} (the current one is {spec.grain.label(now)} in "
            f"{spec.timestamp.timezone}): refusing to ingest it"
        )


def _duckdb_reason(error: BaseException) -> str:
    """DuckDB's reason without the echoed line (which may be megabytes), hints or the query."""
    kept = []
    for line in str(error).splitlines():
        if line.startswith(("Possible Solution", "LINE ", "The search space used was")):
            break
        if line.startswith("Original Line:"):
            line = line[:120] + ("..." if len(line) > 120 else "")
        kept.append(line)
    return " ".join(" ".join(kept).split())[:500]


def _csv_problem(spec: DatasetSpec, path: Path) -> str | None:
    """The first line that breaks the CSV layout, found with Python's csv module: a row with
    another number of fields than the header, an unterminated quote, or bytes that are not UTF-8."""
    import csv

    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=spec.source.csv.delimiter, strict=True)
            header = next(reader, None)
            if not header:
                return "no header line"
            for row in reader:
                if row and len(row) != len(header):
                    return f"line {reader.line_num} has {len(row)} field(s), the header has {len(header)}"
    except UnicodeDecodeError as error:
        return f"not UTF-8 text: byte {error.object[error.start:error.start + 1].hex()} cannot be decoded"
    except csv.Error as error:
        where = f"line {reader.line_num}: " if reader is not None else ""
        return f"{where}{error}"
    return None


def _csv_layout_problem(spec: DatasetSpec, path: Path, read_columns: list[str]) -> str | None:
    """DuckDB read the file, but not as the header says (its sniffer can take a ragged last row
    for the header), or the header is not split by the spec's delimiter."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, delimiter=spec.source.csv.delimiter), [])
    except (UnicodeDecodeError, csv.Error) as error:
        return f"unreadable header line: {error}"
    problem = _header_problem(header)
    if problem:
        return problem
    if header != read_columns:
        detail = _csv_problem(spec, path) or "the rows do not match the header line"
        return f"the header line names {len(header)} column(s) but the file reads as {read_columns[:8]}: {detail}"
    delimiter = spec.source.csv.delimiter
    if len(header) == 1 and len(spec.input_columns) > 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                return (
                    f"the file reads as a single column {header[0][:80]!r}: its fields look separated by "
                    f"{other!r}, but the spec's delimiter is {delimiter!r} (source.csv.delimiter)"
                )
    return None


def _header_problem(header: list[str]) -> str | None:
    """Header names the reader would silently rename (a second ``site`` becomes ``site_1``) or trim,
    so that the columns would not be the ones the file names."""
    for position, name in enumerate(header, start=1):
        if not name.strip():
            return f"header field {position} is empty: every column needs a name"
        if name != name.strip():
            return (
                f"header name {name!r} (field {position}) has leading or trailing spaces; columns are "
                f"matched by exact name, so write {name.strip()!r}"
            )
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            return f"the header line names {name!r} twice (fields {seen[name]} and {position}): every column needs its own name"
        seen[name] = position
    return None
