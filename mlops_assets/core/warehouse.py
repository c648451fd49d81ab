"""The DuckDB warehouse: short connections, one writer at a time, and the catalog tables.

DuckDB allows one read-write process per file. Every step opens a connection only for as long as
it needs one and retries while another process holds the lock, so concurrent runs queue for a few
seconds instead of failing. Multi-statement writes run inside one transaction: a reader sees either
all of a snapshot (or a day's features) or none of it.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

SNAPSHOT_SCHEMA = "snapshots"
LOCK_WAIT_SECONDS = 120.0
# DuckDB's own default is 80% of RAM before it spills to disk, so sorting a 10M-row snapshot (its
# content hash, the training split's stable order) would hold gigabytes resident. Bounded, large
# sorts spill to <warehouse>.tmp instead; small days never come near the limit.
MEMORY_LIMIT_ENV = "MLOPS_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"

# A partition is stored by its start: a TIMESTAMP, so an hour is told from the next (the date grains
# store midnight, and read it back as their date: ``core.grain.Grain.as_start``). Catalogs written
# when every partition was a day held DATE columns; ``widen_partition_columns`` converts them.
CATALOG_PARTITION_COLUMNS = {table: ("day",) for table in ("raw_snapshots", "raw_ingestions", "gate_results",
                                                           "feature_versions")}
CATALOG_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SNAPSHOT_SCHEMA}",
    """
    CREATE TABLE IF NOT EXISTS raw_snapshots (
        dataset VARCHAR NOT NULL,
        day TIMESTAMP NOT NULL,
        content_hash VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        columns_json VARCHAR NOT NULL,
        min_timestamp TIMESTAMPTZ,
        max_timestamp TIMESTAMPTZ,
        source_file VARCHAR NOT NULL,
        source_sha256 VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by_run VARCHAR,
        PRIMARY KEY (dataset, day, content_hash)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS raw_ingestions (
        dataset VARCHAR NOT NULL,
        day TIMESTAMP NOT NULL,
        content_hash VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS gate_results (
        dataset VARCHAR NOT NULL,
        asset VARCHAR NOT NULL,
        day TIMESTAMP,
        content_hash VARCHAR NOT NULL,
        check_name VARCHAR NOT NULL,
        passed BOOLEAN NOT NULL,
        summary VARCHAR NOT NULL,
        details_json VARCHAR NOT NULL,
        checked_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR
    )
    """,
    # the fingerprint of the spec rules a verdict was given under (NULL: before verdicts named them)
    "ALTER TABLE gate_results ADD COLUMN IF NOT EXISTS rules VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS feature_versions (
        dataset VARCHAR NOT NULL,
        day TIMESTAMP NOT NULL,
        content_hash VARCHAR NOT NULL,
        raw_hash VARCHAR NOT NULL,
        inputs_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR
    )
    """,
)


class WarehouseBusyError(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


class WarehouseUnreadableError(RuntimeError):
    """The warehouse file is empty, truncated or not a DuckDB database; the message names the file
    and how to recover."""

    def __init__(self, path: Path, problem: str):
        super().__init__(
            f"the warehouse {path} is unreadable: {problem}. Nothing was read from it or written to it; "
            f"restore it from a backup, or move it aside and re-run ingest_job for every landed day "
            f"(the landing files are kept) and train_job"
        )


class WarehouseNotWritableError(RuntimeError):
    """The state folder (or the warehouse file in it) cannot be written."""


# DuckDB's storage layout: a file header (magic bytes at 8) and two database headers, then blocks
_HEADERS_BYTES = 3 * 4096
_MAGIC, _MAGIC_OFFSET = b"DUCK", 8
_UNREADABLE_MARKERS = ("not a valid duckdb database", "could not read enough bytes", "corrupt", "checksum",
                       "serialization error", "invalid block")
_NOT_WRITABLE_MARKERS = ("permission denied", "read-only file system", "read only file system")


def _is_lock_conflict(error: Exception) -> bool:
    text = str(error).lower()
    return "could not set lock" in text or "conflicting lock" in text or "database is locked" in text


@contextlib.contextmanager
def connect(path: Path, *, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[Any]:
    """A short-lived read-write connection, waiting (with jitter) while another process writes."""
    import duckdb

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseNotWritableError(f"cannot create the warehouse's folder {path.parent}: {error.strerror}") from error
    promised = _check_file(path) if path.is_file() else None
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), config={"memory_limit": memory_limit()})
            break
        except duckdb.Error as error:
            if not _is_lock_conflict(error) or time.monotonic() > deadline:
                if _is_lock_conflict(error):
                    raise WarehouseBusyError(
                        f"the warehouse {path} stayed locked by another process for {wait_seconds:.0f}s"
                    ) from error
                _raise_diagnosed(path, error)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
    try:
        try:
            if promised is not None:
                _check_complete(con, path, promised)
            con.execute("SET TimeZone='UTC'")
            widen_partition_columns(con, CATALOG_PARTITION_COLUMNS, CATALOG_DDL)
        except duckdb.Error as error:
            _raise_diagnosed(path, error)
        yield con
    finally:
        con.close()


def _check_file(path: Path) -> int | None:
    """Refuse a file that is not a DuckDB database before DuckDB opens it (handed a SQLite file it
    would try to download its sqlite extension). Returns the size in bytes that the newer of its
    two database headers promises (headers + block count x block size), for ``_check_complete``."""
    import struct

    with open(path, "rb") as handle:
        head = handle.read(_HEADERS_BYTES)
    if not head:
        raise WarehouseUnreadableError(path, "the file is empty (0 bytes)")
    if head[_MAGIC_OFFSET:_MAGIC_OFFSET + len(_MAGIC)] != _MAGIC:
        what = "a SQLite database" if head.startswith(b"SQLite format 3") else "something else"
        raise WarehouseUnreadableError(path, f"not a valid DuckDB database file (it holds {what})")
    if len(head) < _HEADERS_BYTES:
        raise WarehouseUnreadableError(path, f"the file is truncated ({len(head)} bytes: not even its headers)")
    # each database header: checksum, iteration, meta block, free list, block count, block size
    headers = [struct.unpack_from("<6Q", head, offset) for offset in (4096, 8192)]
    _, _, _, _, block_count, block_size = max(headers, key=lambda header: header[1])
    if not 4096 <= block_size <= 1 << 30 or block_count > 1 << 40:
        return None  # a layout this check does not know: leave the verdict to DuckDB
    return _HEADERS_BYTES + block_count * block_size


def _check_complete(con: Any, path: Path, promised: int) -> None:
    """A file cut short (a full disk, a partial copy) can still open when the blocks DuckDB reads
    first survived. DuckDB trims free blocks off the end of its file, so the file may fall short of
    its header's promise by its free blocks, never by more. Not checked while a WAL is pending."""
    if Path(f"{path}.wal").exists():
        return
    block_size, free_blocks = con.execute("SELECT block_size, free_blocks FROM pragma_database_size()").fetchall()[0]
    actual = path.stat().st_size
    if actual < promised - free_blocks * block_size:
        raise WarehouseUnreadableError(
            path, f"the file is truncated ({actual} bytes; its header promises {promised} bytes, "
                  f"{free_blocks} free block(s) excepted)"
        )


def _raise_diagnosed(path: Path, error: Exception) -> None:
    """Re-raise DuckDB's error as one naming the warehouse file when it is about the file itself."""
    text = " ".join(str(error).split())
    lowered = text.lower()
    if any(marker in lowered for marker in _NOT_WRITABLE_MARKERS):
        raise WarehouseNotWritableError(
            f"the warehouse {path} cannot be opened for writing ({text[:200]}); "
            f"make the state folder {path.parent} writable, or point --state-dir / MLOPS_STATE_DIR elsewhere"
        ) from error
    if any(marker in lowered for marker in _UNREADABLE_MARKERS):
        raise WarehouseUnreadableError(path, text[:200]) from error
    raise error


def memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)


@contextlib.contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """All-or-nothing: commit on success, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def widen_partition_columns(con: Any, columns: dict[str, tuple[str, ...]], ddl: Sequence[str]) -> None:
    """Run ``ddl`` (idempotent CREATE/ALTER statements); tables among ``columns`` (table -> its
    partition columns) that still hold one as a DATE are first rebuilt with TIMESTAMPs, rows kept,
    in one transaction. DuckDB cannot change the type of a column under a primary key, so the old
    table is renamed, created anew by ``ddl`` and refilled by column name."""
    dated = _dated_tables(con, columns)
    if not dated:
        for statement in ddl:
            con.execute(statement)
        return
    with transaction(con):
        dated = _dated_tables(con, columns)  # again inside: another process may have widened them
        for table in dated:
            con.execute(f"ALTER TABLE {table} RENAME TO {table}__dated")
        for statement in ddl:
            con.execute(statement)
        for table in dated:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {table}__dated")
            con.execute(f"DROP TABLE {table}__dated")


def _dated_tables(con: Any, columns: dict[str, tuple[str, ...]]) -> list[str]:
    columns = {table: names for table, names in columns.items() if names}
    if not columns:
        return []
    rows = con.execute(
        "SELECT DISTINCT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type = 'DATE' AND table_name IN "
        f"({', '.join('?' for _ in columns)})",
        list(columns),
    ).fetchall()
    return sorted({table for table, column in rows if column in columns[table]})


def table_exists(con: Any, name: str, schema: str = "main") -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def table_columns(con: Any, qualified_name: str) -> dict[str, str]:
    """Column name -> DuckDB type of a (validated, quoted) table name."""
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {qualified_name}").fetchall()}


class SingleModelStateError(RuntimeError):
    """The state folder was written before models were named; ``mlops-assets migrate`` converts it."""


MIGRATE_COMMAND = "mlops-assets migrate"


def ensure_model_keyed(con: Any, ddl: str, partition_columns: tuple[str, ...] = ()) -> None:
    """Create a model-level table from ``ddl`` (its ``partition_columns`` widened to TIMESTAMPs if
    an older state stored them as DATEs); refuse one that a single-model platform wrote (keyed by
    dataset), naming the one command that migrates the state folder in place."""
    import re

    name = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", ddl).group(1)
    if table_exists(con, name) and "model" not in table_columns(con, name):
        raise SingleModelStateError(
            f"the warehouse's {name} table was written before models were named (its rows are keyed by "
            f"dataset); run `{MIGRATE_COMMAND}` once to key this state folder by model"
        )
    widen_partition_columns(con, {name: partition_columns}, [ddl])
