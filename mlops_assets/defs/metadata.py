"""What people read in the Dagster UI: gate results, a training run's trials and an evaluation's metrics and
slices as summaries and typed tables."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from mlops_assets.core.spec import DatasetSpec
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


def label_statistic(spec: DatasetSpec) -> str:
    from mlops_assets.evaluate.tasks import task_of

    return task_of(spec.model.task).label_statistic


def rounded(value: Any) -> Any:
    return {k: rounded(v) for k, v in value.items()} if isinstance(value, dict) else round(value, 4)


def trials_table(trials: list[dict[str, Any]]):
    if not trials:
        return None
    validation = next(name for name in trials[0] if name.startswith("validation_"))  # the task's primary metric
    columns = {"trial": ("int", ""), validation: ("float", ""), "rounds": ("int", "trees kept by early stopping")}
    for name in trials[0]:
        if name not in columns:
            kind = "float" if isinstance(trials[0][name], float) else "int" if isinstance(trials[0][name], int) else "string"
            columns[name] = (kind, "")
    return records_table(trials, columns)


# the candidate's metrics table, beside the champion's on the same rows
METRICS_COLUMNS = {
    "metric": ("string", ""),
    "candidate": ("float", "on the in-period test split"),
    "candidate_low": ("float", "95% bootstrap interval"),
    "candidate_high": ("float", "95% bootstrap interval"),
    "candidate_oot": ("float", "on the out-of-time days"),
    "champion": ("float", "the champion on the compared rows (held-out days neither model trained on)"),
    "paired_delta": ("float", "candidate minus champion, paired on the same rows"),
    "delta_low": ("float", "95% paired bootstrap interval"),
    "delta_high": ("float", "95% paired bootstrap interval"),
}


def slices_columns(metric: str, spoken: str) -> dict[str, tuple[str, str]]:
    """The slice table's columns on the task's primary metric (binary: AUC)."""
    return {
        "slice": ("string", "the column sliced on"),
        "value": ("string", ""),
        "rows": ("int", "test rows in the slice"),
        metric: ("float", f"candidate {spoken}"),
        f"champion_{metric}": ("float", ""),
        f"{metric}_delta": ("float", "candidate minus champion"),
    }


def evaluation_metadata(evaluation) -> dict[str, Any]:
    from mlops_assets.evaluate.plots import png_markdown

    metrics = []
    for name, values in evaluation.metrics.items():
        champion = (evaluation.champion_metrics or {}).get(name) or {}
        paired = evaluation.paired.get(name) or {}
        metrics.append({
            "metric": name, "candidate": values.get("value"), "candidate_low": values.get("low"),
            "candidate_high": values.get("high"), "candidate_oot": evaluation.metric(name, "oot"),
            "champion": champion.get("value"),
            "paired_delta": paired.get("value"), "delta_low": paired.get("low"), "delta_high": paired.get("high"),
        })
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY, task_of

    task = task_of(evaluation.task)
    metrics += [{"metric": f"baseline ({task.baseline_name}) {name}", "candidate": evaluation.baseline.get(name)}
                for name in task.paired_metrics]
    plots = "\n\n".join(png_markdown(path, name) for name, path in evaluation.plots.items())
    primary = task.primary_metric
    return {
        f"test_{primary}": dg.MetadataValue.float(float(evaluation.metric(primary) or 0.0)),
        "test_rows": dg.MetadataValue.int(evaluation.test_rows),
        f"oot_{primary}": dg.MetadataValue.float(float(evaluation.metric(primary, "oot") or 0.0)),
        f"oot_mean_daily_{primary}": dg.MetadataValue.float(float(evaluation.oot_mean_daily_auc or 0.0)),
        "oot_rows": dg.MetadataValue.int(evaluation.oot_rows),
        "comparison": f"{evaluation.comparison_rows} {evaluation.comparison_split} rows of "
                      f"{', '.join(evaluation.comparison_days) or 'no day'}",
        "champion_version": evaluation.champion_version or "none",
        "champion_status": evaluation.champion_status.value,
        "champion_note": evaluation.champion_note,
        "metrics": records_table(metrics, METRICS_COLUMNS),
        "slices": records_table(evaluation.slices, slices_columns(primary, METRIC_REGISTRY[primary].spoken)),
        "plots": dg.MetadataValue.md(plots),
        **({"roc_plot": dg.MetadataValue.path(evaluation.plots["roc"])} if "roc" in evaluation.plots else {}),
    }
