"""Collects a model card's facts from the upstream assets' records (nothing is typed in by hand)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

from mlops_assets.promote import card
from mlops_assets.evaluate.evaluation import Evaluation
from mlops_assets.evaluate.tasks import METRIC_REGISTRY, task_of
from mlops_assets.core.registry import model_name
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.verdicts import GateResult
from mlops_assets.core.paths import PROJECT_ROOT
from mlops_assets.train.snapshot import TrainingSnapshot


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def framework_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("xgboost", "mlflow", "dagster", "duckdb", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def build_card(
    *,
    spec: DatasetSpec,
    snapshot: TrainingSnapshot,
    candidate: dict[str, Any],
    evaluation: Evaluation,
    verdicts: list[GateResult],
    dagster_run_id: str,
    code_versions: dict[str, str],
    version: str | None = None,
    overrides: list[Any] = (),
) -> card.ModelCard:
    """``candidate`` is the candidate_model handle (params, MLflow ids, trigger reason, features);
    ``overrides`` the gate overrides granted for this model (overrides.GateOverride)."""
    task = task_of(evaluation.task)
    metrics, oot_metrics = (
        [card.MetricRow(name, values["value"], values.get("low"), values.get("high"))
         for name, values in (found or {}).items() if values.get("value") is not None]
        for found in (evaluation.metrics, evaluation.oot_metrics)
    )
    comparison = []
    if evaluation.champion_metrics:
        for name, paired in evaluation.paired.items():
            candidate_value = evaluation.compared_metric(name)
            champion_value = evaluation.champion_metric(name)
            if None in (candidate_value, champion_value, paired.get("value")):
                continue
            comparison.append(
                card.ChampionComparisonRow(name, candidate_value, champion_value, paired["value"],
                                           paired.get("low"), paired.get("high"))
            )
    slices = slice_rows(evaluation.slices, task.primary_metric)
    return card.ModelCard(
        model_details=card.ModelDetails(
            name=model_name(spec),
            version=version,
            model_type=f"xgboost gradient-boosted trees (hist), {task.describes}",
            created_at=dt.datetime.now(dt.timezone.utc),
            framework_versions=framework_versions(),
            hyperparameters={**candidate["params"], "trees": candidate["best_rounds"],
                             **({"decision_threshold": round(candidate["threshold"], 4)}
                                if candidate["threshold"] is not None else {})},
        ),
        intended_use=spec.intended_use.strip(),
        limitations=list(spec.limitations),
        training_data=card.TrainingData(
            snapshot_hash=snapshot.content_hash,
            start=snapshot.start,
            end=snapshot.end,
            rows_per_split=dict(snapshot.rows),
            label_rate_per_split=dict(snapshot.label_rates),
            label_statistic=task.label_statistic.replace("_", " ").capitalize(),
            features=list(candidate["features"]),
        ),
        metrics=metrics,
        champion_comparison=comparison,
        slices=slices,
        gate_verdicts=list(verdicts),
        lineage=card.Lineage(
            dagster_run_id=dagster_run_id,
            mlflow_run_id=candidate["mlflow_run_id"],
            mlflow_model_uri=candidate.get("model_uri"),
            code_versions=code_versions,
            git_commit=git_commit(),
        ),
        overrides=[card.Override(o.operator, o.reason, o.expires_at, o.gate) for o in overrides],
        trigger_reason=candidate.get("trigger_reason"),
        plots={name: Path(path) for name, path in evaluation.plots.items()},
        champion_note=evaluation.champion_note,
        oot_metrics=oot_metrics,
        gated_on=gated_on(evaluation, spec.grain.unit),
        slice_metric=METRIC_REGISTRY[task.primary_metric].spoken,
    )


def gated_on(evaluation: Evaluation, unit: str = "day") -> str:
    """Which test each promotion gate judged on (declared with the gate), and the comparison's rows."""
    from mlops_assets.gate.registry import SPLITS, gates_for

    by_split: dict[str, list[str]] = {}
    for gate in gates_for(evaluation.task).values():
        by_split.setdefault(gate.split, []).append(gate.check)
    parts = [f"{', '.join(checks)} judged on the {SPLITS[split]}" for split, checks in by_split.items()]
    text = "Gated: " + "; ".join(parts) + "."
    if evaluation.comparison_rows:
        text += (f" The champion comparison and slices used {evaluation.comparison_rows} {evaluation.comparison_split} "
                 f"rows of {', '.join(evaluation.comparison_days)}.")
    spoken = METRIC_REGISTRY[evaluation.primary_metric].spoken
    if evaluation.oot_mean_daily_auc is not None:
        text += (f" Out-of-time {spoken} averaged per {unit}: {evaluation.oot_mean_daily_auc:.3f} over "
                 f"{len(evaluation.oot_daily_auc)} {unit}(s), the reference live {spoken} is held against.")
    elif evaluation.no_out_of_time:
        text += (f" No out-of-time test is possible ({evaluation.no_out_of_time}): the champion comparison ran on "
                 f"the in-period test, and live {spoken} is held against its pooled {spoken}.")
    else:
        text += f" No out-of-time test was held out: live {spoken} is held against the pooled in-period test {spoken}."
    return text


def slice_rows(slices: list[dict[str, Any]], metric: str = "auc") -> list[card.SliceRow]:
    """The card's slice rows from an evaluation's slice table, on ``metric`` (the task's primary: the
    binary table's AUC); a slice not found big enough (or with both classes) to trust is marked not gated."""
    return [
        card.SliceRow(str(row["slice"]), str(row["value"]), int(row["rows"]), row.get(metric),
                      row.get(f"champion_{metric}"), row.get(f"{metric}_delta"),
                      gated=bool(row.get("enough_rows", True)))
        for row in slices
    ]
