"""One day of each monitoring asset: the plain monitoring call and the materialization it reports
(data version and metadata), the same whether the day runs alone or in a range (defs.ranges)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import dagster as dg

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.ranges import DayOutcome
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import DRIFT_STATISTICS


def day_errors() -> tuple[type[Exception], ...]:
    """What stops one day of monitoring and not the others: the day has no checked features or
    predictions, or its labels have not arrived (the same for every day: no champion)."""
    from mlops_assets.monitor.performance import LabelsNotArrived
    from mlops_assets.monitor.scoring import ScoringError

    return ScoringError, LabelsNotArrived


def scored_day(spec: DatasetSpec, layout: StateLayout, registry: Any, day: dt.date, run_id: str) -> DayOutcome:
    from mlops_assets.monitor.scoring import score_day

    scored = score_day(spec, layout, registry, day, run_id)
    return DayOutcome(day, f"{scored.model_sha256[:16]}-{scored.feature_hash[:16]}", {
        "rows": dg.MetadataValue.int(scored.rows),
        "champion_version": scored.model_version,
        "model_sha256": scored.model_sha256,
        "feature_hash": scored.feature_hash,
        "mean_score": dg.MetadataValue.float(scored.mean_score),
    })


def drift_day(spec: DatasetSpec, layout: StateLayout, registry: Any, day: dt.date, policy: LoopPolicy, run_id: str,
              *, evidently_report: bool, evidently_sample_rows: int) -> DayOutcome:
    from mlops_assets.monitor.drift import can_trigger_retraining, drift_for_day, write_evidently_report

    result, current = drift_for_day(spec, layout, registry, day, policy, run_id,
                                    sample_rows=evidently_sample_rows if evidently_report else 0)
    trigger = policy.drift_statistic

    def drifted(level: str) -> dg.MetadataValue:
        found = result.drifted(trigger, level)
        return dg.MetadataValue.json({f: round(v, 4) for f, v in found.items() if can_trigger_retraining(spec, f)})

    metadata: dict[str, Any] = {
        **{f"max_{name}": dg.MetadataValue.float(max(result.statistic(name).values())) for name in DRIFT_STATISTICS},
        "trigger_statistic": trigger,
        "high_drift": drifted("high"),  # of features that can trigger retraining
        "moderate_drift": drifted("moderate"),
        "statistics": _statistics_table(spec, result, trigger),
        "champion_version": result.champion_version,
        "reference_snapshot": result.reference_snapshot,
    }
    if evidently_report:
        path = layout.model_reports_dir(spec.model.name) / "drift" / f"{spec.grain.file_stem(day)}.html"
        write_evidently_report(layout, spec, result, current, path, evidently_sample_rows)
        metadata["evidently_report"] = dg.MetadataValue.path(str(path))
    return DayOutcome(day, f"{result.reference_snapshot[:16]}-{max(result.statistic(trigger).values()):.6f}", metadata)


def performance_day(spec: DatasetSpec, layout: StateLayout, registry: Any, day: dt.date, policy: LoopPolicy,
                    run_id: str) -> DayOutcome:
    from mlops_assets.monitor.performance import measure_day

    measured = measure_day(spec, layout, registry, day, label_delay_days=policy.label_delay_days,
                           policy=policy, as_of=None, run_id=run_id)
    # the measurement itself: a day re-measured with the same scores and labels is the same version
    version = hashlib.sha256(repr((measured.model_version, measured.rows, measured.auc, measured.ece,
                                   measured.reference_auc)).encode()).hexdigest()[:32]
    return DayOutcome(day, version, {
        # the task's primary metric (AUC for a binary model), and its out-of-time reference
        "metric": measured.metric,
        "auc": dg.MetadataValue.float(measured.auc if measured.auc is not None else float("nan")),
        "reference_auc": dg.MetadataValue.float(measured.reference_auc),
        "relative_drop": dg.MetadataValue.float(measured.relative_drop or 0.0),
        "degraded": measured.degraded,
        "ece": dg.MetadataValue.float(measured.ece or 0.0),
        "rows": dg.MetadataValue.int(measured.rows),
        "champion_version": measured.model_version,
    })


def _statistics_table(spec: DatasetSpec, result, trigger: str):
    """One row per feature: every statistic, the level of the triggering one, whether it can trigger."""
    from mlops_assets.defs.metadata import records_table
    from mlops_assets.monitor.drift import can_trigger_retraining

    rows = [{"feature": feature, **values, "level": result.levels[feature][trigger],
             "triggers_retraining": can_trigger_retraining(spec, feature)}
            for feature, values in sorted(result.values.items(), key=lambda kv: -kv[1][trigger])]
    columns = {"feature": ("string", "")}
    columns |= {name: ("float", f"{s.label}: {s.description}") for name, s in DRIFT_STATISTICS.items()}
    columns |= {"level": ("string", f"none / moderate / high, by {DRIFT_STATISTICS[trigger].label}"),
                "triggers_retraining": ("bool", "false when the spec opts the feature out")}
    return records_table(rows, columns)
