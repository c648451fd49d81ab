"""How a stored value becomes the instant (or date) the spec declares: one definition, used by the
schema gate (which finds the values it cannot turn), the typed snapshot the features read, the
partition rule and replay.

Text is read in one format only, ISO 8601, never guessed (a sniffer reading ``03/04/2024`` as the
3rd of April is a silent error). A value with a UTC offset is that instant. A value without one is
local time in the spec's ``timestamp.timezone`` (``offsets: local``), unless the spec says
``offsets: required``, when the schema gate refuses it; a local time that the clock skipped or
repeated (a daylight-saving change) is refused too, since no single instant is meant.
"""

from __future__ import annotations

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sections import ColumnType
from mlops_assets.core.sql import quote, sql_string

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_OFFSET = r"(Z|[+-]\d{2}(:?\d{2})?)"
TIMESTAMP_PATTERN = rf"{_DATE}([T ]{_TIME}{_OFFSET}?)?"
DATE_PATTERN = _DATE
WITH_OFFSET_PATTERN = rf"{_TIME}{_OFFSET}$"
EXPECTED_FORMAT = {
    ColumnType.TIMESTAMP: (
        "ISO 8601: YYYY-MM-DD HH:MM[:SS[.ffffff]] ('T' or a space between), optionally with a UTC "
        "offset (Z, +HH, +HHMM or +HH:MM)"
    ),
    ColumnType.DATE: "ISO 8601 date: YYYY-MM-DD",
}
TEXT_TYPES = ("VARCHAR",)


def is_temporal(column_type: ColumnType) -> bool:
    return column_type in (ColumnType.TIMESTAMP, ColumnType.DATE)


def value_sql(spec: DatasetSpec, name: str, stored_type: str, *, strict: bool) -> str:
    """SQL turning column ``name`` (stored as ``stored_type``) into its declared type.

    ``strict`` raises on a value it cannot turn (for snapshots that passed the schema gate, where
    none is left); otherwise such a value becomes NULL, which is how the gate finds it.
    """
    column, declared = quote(name), spec.columns[name].type
    cast = "CAST" if strict else "TRY_CAST"
    if not is_temporal(declared):
        return f"{cast}({column} AS {declared.duckdb_type})"
    stored = stored_type.upper()
    unreadable = (
        f"error({sql_string(f'{name}: a value is not in the format {EXPECTED_FORMAT[declared]}')})"
        if strict else "NULL"
    )
    unreadable = f"CAST({unreadable} AS {declared.duckdb_type})"
    if declared is ColumnType.DATE:
        if stored == "DATE":
            return column
        if stored in TEXT_TYPES:
            return (
                f"CASE WHEN {column} IS NULL THEN NULL WHEN regexp_full_match({column}, {sql_string(DATE_PATTERN)}) "
                f"THEN {cast}({column} AS DATE) ELSE {unreadable} END"
            )
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE {unreadable} END"
    zone = sql_string(spec.timestamp.timezone)
    if stored.startswith("TIMESTAMP WITH TIME ZONE"):
        return column
    if stored.startswith("TIMESTAMP") or stored == "DATE":
        return f"timezone({zone}, CAST({column} AS TIMESTAMP))"
    if stored in TEXT_TYPES:
        return (
            f"CASE WHEN {column} IS NULL THEN NULL "
            f"WHEN NOT regexp_full_match({column}, {sql_string(TIMESTAMP_PATTERN)}) THEN {unreadable} "
            f"WHEN regexp_matches({column}, {sql_string(WITH_OFFSET_PATTERN)}) THEN {cast}({column} AS TIMESTAMPTZ) "
            f"ELSE timezone({zone}, {cast}({column} AS TIMESTAMP)) END"
        )
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {unreadable} END"  # numbers are not instants


def naive_sql(name: str, stored_type: str) -> str:
    """True for a value of column ``name`` that names no UTC offset (local time)."""
    column, stored = quote(name), stored_type.upper()
    if stored.startswith("TIMESTAMP WITH TIME ZONE"):
        return "false"
    if stored in TEXT_TYPES:
        return f"({column} IS NOT NULL AND NOT regexp_matches({column}, {sql_string(WITH_OFFSET_PATTERN)}))"
    return f"({column} IS NOT NULL)"


def local_time_problem_sql(spec: DatasetSpec, name: str, stored_type: str) -> str:
    """'skipped' or 'repeated' for a naive value the spec's timezone has no single instant for
    (a daylight-saving change), NULL otherwise. Read in the timezone, the instant must give back the
    same wall time (else the clock skipped it), and no instant one offset change away may give it
    too (else the clock repeated it)."""
    zone = sql_string(spec.timestamp.timezone)
    local = f"CAST({_naive_text_sql(name, stored_type)} AS TIMESTAMP)"
    instant = f"timezone({zone}, {local})"

    def wall(at: str) -> str:
        return f"timezone({zone}, {at})"

    def offset(at: str) -> str:
        return f"({wall(at)} - timezone('UTC', {at}))"

    change = f"({offset(f'{instant} - INTERVAL 1 DAY')} - {offset(f'{instant} + INTERVAL 1 DAY')})"
    return (
        f"CASE WHEN {wall(instant)} <> {local} THEN 'skipped' "
        f"WHEN {change} <> INTERVAL 0 SECOND AND ({wall(f'{instant} + {change}')} = {local} "
        f"OR {wall(f'{instant} - {change}')} = {local}) THEN 'repeated' END"
    )


def _naive_text_sql(name: str, stored_type: str) -> str:
    column = quote(name)
    if stored_type.upper() in TEXT_TYPES:
        return f"TRY_CAST({column} AS TIMESTAMP)"
    return column


def instant_sql(spec: DatasetSpec, stored_types: dict[str, str], *, strict: bool) -> str:
    """The spec's timestamp column as a TIMESTAMPTZ (or DATE), given how the relation stores it; a
    derived timestamp (``timestamp.derive``) is its SQL over the row, read as a local wall time."""
    if spec.timestamp.derive:
        return f"CAST(({spec.timestamp.derive}) AS TIMESTAMP)"
    name = spec.timestamp.column
    return value_sql(spec, name, stored_types.get(name, "VARCHAR"), strict=strict)


def partition_sql(spec: DatasetSpec, instant: str) -> str:
    """SQL for a row's partition (its first day), from its timestamp already read by ``instant_sql``:
    the grain's partition holding the row's wall time in the spec's timezone. A date, or a derived
    timestamp, is already a wall time."""
    if spec.timestamp.derive or spec.columns[spec.timestamp.column].type is ColumnType.DATE:
        local = f"CAST({instant} AS TIMESTAMP)"
    else:
        local = f"timezone({sql_string(spec.timestamp.timezone)}, {instant})"
    return spec.grain.start_sql(local)
