"""A column's value rules on a snapshot, with the offending rows shown as people read them: ranges,
allowed sets, string lengths and control characters in SQL, types through pandera (the schema gate,
``validate.data_gates.check_schema``), and the sample rows every data gate's failures carry."""

from __future__ import annotations

from typing import Any

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sections import ColumnType
from mlops_assets.core.sql import quote, sql_string
from mlops_assets.core.verdicts import RuleFailure
from mlops_assets.ingest.snapshots import Snapshot

CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{80}-\x{9f}]"


def value_failures(con: Any, spec: DatasetSpec, snapshot: Snapshot, checked: list[str]) -> list[RuleFailure]:
    """What pandera lets through: NaN and infinity in a float column (pandas reads NaN as a missing
    value, and a range check skips it), and string values too long to be data."""
    failures = []
    limit = spec.quality.max_string_length
    for name in checked:
        column_type = spec.columns[name].type
        value = f"TRY_CAST({quote(name)} AS DOUBLE)"
        if column_type is ColumnType.FLOAT:
            condition = f"(isnan({value}) OR isinf({value}))"
            count, examples = con.execute(
                f"SELECT count(*), list(DISTINCT CAST({value} AS VARCHAR)) FROM {snapshot.qualified_table} WHERE {condition}"
            ).fetchall()[0]
            if count:
                failures.append(
                    RuleFailure(name, "finite values", f"{count} NaN or infinite value(s), e.g. {', '.join(sorted(examples))}",
                                "finite numbers (a missing value is an empty cell)",
                                sample_rows(con, spec, snapshot, condition, [name]))
                )
        elif column_type is ColumnType.STRING:
            condition = f"regexp_matches(CAST({quote(name)} AS VARCHAR), {sql_string(CONTROL_CHARACTERS)})"
            count = con.execute(f"SELECT count(*) FROM {snapshot.qualified_table} WHERE {condition}").fetchall()[0][0]
            if count:
                # a NUL or an escape code is invisible in a report and makes equal-looking keys differ
                failures.append(
                    RuleFailure(name, "no control characters", f"{count} value(s) holding control characters",
                                "printable text (no NUL, other C0 or C1 control character or DEL; tab and "
                                "line breaks are allowed)", sample_rows(con, spec, snapshot, condition, [name]))
                )
            condition = f"length(CAST({quote(name)} AS VARCHAR)) > {limit}"
            count, longest = con.execute(
                f"SELECT count(*), max(length(CAST({quote(name)} AS VARCHAR))) FROM {snapshot.qualified_table} WHERE {condition}"
            ).fetchall()[0]
            if count:
                failures.append(
                    RuleFailure(name, "string length", f"{count} value(s) longer than {limit} characters (longest {longest})",
                                f"at most {limit} characters (quality.max_string_length)",
                                sample_rows(con, spec, snapshot, condition, [name]))
                )
    return failures


def pandera_column(pa: Any, spec: DatasetSpec, name: str) -> Any:
    column = spec.columns[name]
    checks = []
    if column.min is not None:
        checks.append(pa.Check.ge(column.min))
    if column.max is not None:
        checks.append(pa.Check.le(column.max))
    if column.allowed is not None:
        checks.append(pa.Check.isin(column.allowed))
    return pa.Column(_pandas_dtype(column.type), nullable=True, checks=checks)


def _pandas_dtype(column_type: ColumnType) -> Any:
    import pandas as pd

    return {
        ColumnType.INT: "Int64",
        ColumnType.FLOAT: "Float64",
        ColumnType.STRING: str,
        ColumnType.BOOL: "boolean",
        ColumnType.TIMESTAMP: pd.DatetimeTZDtype("ns", "UTC"),
        ColumnType.DATE: "datetime64[ns]",
    }[column_type]


def pandera_failures(failure_cases: Any, frame: Any, spec: DatasetSpec) -> list[RuleFailure]:
    """Group pandera's failure cases into one RuleFailure per (column, rule), with sample rows."""
    failures = []
    limit = spec.quality.failure_samples
    key_columns = [c for c in spec.entity_key if c in frame.columns]
    for (column, check), group in failure_cases.groupby(["column", "check"], sort=False, dropna=False):
        column_name = None if column is None or column != column else str(column)
        if column_name in spec.columns and str(check).startswith("dtype("):
            # a failed coercion is reported once, as coerce_dtype, with the offending values
            if ((failure_cases["column"] == column) & failure_cases["check"].astype(str).str.startswith("coerce_dtype")).any():
                continue
        if group["failure_case"].astype(str).str.startswith("TypeError(").all():
            # a range check that could not compare a wrongly typed value: the type failure says it
            continue
        values = [_shorten(str(v)) for v in group["failure_case"].head(limit)]
        indices = [int(i) for i in group["index"].dropna().head(limit)] if "index" in group else []
        samples = []
        for index in indices:
            if 0 <= index < len(frame):
                record = {c: frame.iloc[index][c] for c in key_columns}
                if column_name in frame.columns:
                    record[column_name] = frame.iloc[index][column_name]
                samples.append({k: plain(v) for k, v in record.items()})
        expected = _expected_for(spec, column_name, str(check))
        failures.append(
            RuleFailure(
                column_name, str(check), f"{len(group)} failing value(s), e.g. {', '.join(values)}", expected, samples
            )
        )
    return failures


def _expected_for(spec: DatasetSpec, column: str | None, check: str) -> str:
    if column not in spec.columns:
        return "the declared schema"
    rules = spec.columns[column]
    if "dtype" in check:
        return f"values of type {rules.type.value}"
    if "greater_than" in check or "ge(" in check:
        return f">= {rules.min:g}"
    if "less_than" in check or "le(" in check:
        return f"<= {rules.max:g}"
    if "isin" in check:
        return f"one of {rules.allowed}"
    return "the declared rule"


def sample_rows(con: Any, spec: DatasetSpec, snapshot: Snapshot, condition: str, extra: list[str]) -> list[dict]:
    columns = [c for c in dict.fromkeys([*spec.entity_key, *extra]) if c in snapshot.columns]
    if not columns:
        return []
    cursor = con.execute(
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {snapshot.qualified_table} "
        f"WHERE {condition} LIMIT {spec.quality.failure_samples}"
    )
    return [{c: plain(v) for c, v in zip(columns, row)} for row in cursor.fetchall()]


def plain(value: Any) -> Any:
    """JSON-friendly scalars for metadata."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()  # numpy scalars
        except (ValueError, TypeError):
            pass
    if isinstance(value, str):
        return _shorten(value if value.isprintable() else value.encode("unicode_escape").decode("ascii"))
    if value is None or isinstance(value, (bool, int, float)):
        return None if isinstance(value, float) and value != value else value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return _shorten(str(value))


def _shorten(text: str, limit: int = 120) -> str:
    """A value fit for a summary or metadata: an enormous string is cut, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
