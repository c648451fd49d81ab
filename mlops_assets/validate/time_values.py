"""The schema gate's rules for date and timestamp columns: every value is read the one way the
typed snapshot reads it (``core.timestamps``), so a value that passes here cannot fail later.

A value in another format, a value without a UTC offset when the spec requires one, and a local
time the spec's timezone skipped or repeated are each reported with the column, the expected form
and sample rows.
"""

from __future__ import annotations

from typing import Any, Callable

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sections import ColumnType
from mlops_assets.core.sql import quote
from mlops_assets.core.timestamps import EXPECTED_FORMAT, local_time_problem_sql, naive_sql, value_sql
from mlops_assets.core.verdicts import RuleFailure

SampleRows = Callable[[str, list[str]], list[dict]]
EXAMPLES = 3


def time_value_failures(
    con: Any, spec: DatasetSpec, table: str, name: str, stored_type: str, sample_rows: SampleRows
) -> list[RuleFailure]:
    column_type = spec.columns[name].type
    column = quote(name)
    parsed = value_sql(spec, name, stored_type, strict=False)
    unreadable = f"{column} IS NOT NULL AND ({parsed}) IS NULL"
    failures = []
    count, examples = _count(con, table, unreadable, column)
    if count:
        failures.append(
            RuleFailure(name, f"{column_type.value} format", f"{count} value(s) not in the expected format, "
                        f"e.g. {examples}", EXPECTED_FORMAT[column_type], sample_rows(unreadable, [name]))
        )
    if column_type is not ColumnType.TIMESTAMP:
        return failures
    naive = f"{naive_sql(name, stored_type)} AND NOT ({unreadable})"
    zone = spec.timestamp.timezone
    if spec.timestamp.offsets == "required":
        count, examples = _count(con, table, naive, column)
        if count:
            failures.append(
                RuleFailure(name, "UTC offset present", f"{count} value(s) without a UTC offset, e.g. {examples}",
                            "every value with its UTC offset, e.g. 2024-03-04 10:00:00+00:00 "
                            "(timestamp.offsets: required)", sample_rows(naive, [name]))
            )
        return failures
    problem = local_time_problem_sql(spec, name, stored_type)
    for kind, meaning in (("skipped", "skipped by the clock change"), ("repeated", "repeated by the clock change")):
        condition = f"{naive} AND ({problem}) = '{kind}'"
        count, examples = _count(con, table, condition, column)
        if count:
            failures.append(
                RuleFailure(name, f"local time exists once in {zone}",
                            f"{count} local time(s) {meaning}, e.g. {examples}",
                            f"a local time that exists once in {zone}, or a value with its UTC offset",
                            sample_rows(condition, [name]))
            )
    return failures


def _count(con: Any, table: str, condition: str, column: str) -> tuple[int, str]:
    count, examples = con.execute(
        f"SELECT count(*), list(DISTINCT CAST({column} AS VARCHAR) ORDER BY CAST({column} AS VARCHAR)) "
        f"FROM {table} WHERE {condition}"
    ).fetchall()[0]
    shown = ", ".join(repr(_visible(v)) for v in (examples or [])[:EXAMPLES])
    return count, shown


def _visible(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
