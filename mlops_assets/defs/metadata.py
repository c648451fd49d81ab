"""Turning gate results into what people read in the Dagster UI: summaries and tables."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from mlops_assets.core.verdicts import GateResult

FAILURE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("column", "string"),
        dg.TableColumn("rule", "string"),
        dg.TableColumn("observed", "string"),
        dg.TableColumn("expected", "string"),
        dg.TableColumn("offending_rows", "string", description="a few rows that break the rule"),
    ]
)


def check_result(
    result: GateResult, extra: dict[str, Any] | None = None, asset_key: dg.AssetKey | None = None
) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {"summary": dg.MetadataValue.text(result.summary)}
    if result.failures:
        metadata["failures"] = dg.MetadataValue.table(
            records=[
                dg.TableRecord(
                    {
                        "column": failure.column or "",
                        "rule": failure.rule,
                        "observed": failure.observed,
                        "expected": failure.expected,
                        "offending_rows": json.dumps(failure.samples, default=str),
                    }
                )
                for failure in result.failures
            ],
            schema=FAILURE_SCHEMA,
        )
    for key, value in result.stats.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metadata[key] = value
    metadata.update(extra or {})
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=result.check,
        passed=result.passed,
        metadata=metadata,
        description=result.summary,
        severity=dg.AssetCheckSeverity.ERROR,
    )


def records_table(rows: list[dict[str, Any]], columns: dict[str, tuple[str, str]]) -> dg.TableMetadataValue:
    """Rows as a typed table for the UI; ``columns``: name -> (type, description). Numbers that
    are missing stay empty cells, not zeros."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, kind, description=description or None) for name, (kind, description) in columns.items()]
    )
    return dg.MetadataValue.table(
        records=[dg.TableRecord({name: _cell(row.get(name), kind) for name, (kind, _) in columns.items()}) for row in rows],
        schema=schema,
    )


def _cell(value: Any, kind: str) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if kind == "float":
        return round(float(value), 6)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def table_schema(columns: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns.items()])
