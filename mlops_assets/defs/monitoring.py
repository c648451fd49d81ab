"""The monitoring loop: batch_predictions, drift_report and live_performance (daily), and the
monitoring_timeline that shows the loop's history in one place."""

from typing import Any

import dagster as dg
from pydantic import Field

from mlops_assets.defs.config import derived_config
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, partitions_definition, partition_day
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.core.registry import model_name
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import DRIFT_STATISTICS

MONITORING_CODE_VERSIONS = {
    "batch_predictions": "2",  # 2: the champion predicts through its registered pyfunc class
    # 2: every statistic of the registry, recorded one row per statistic; 3: the champion predicts through
    # its registered pyfunc class
    "drift_report": "3",
    # 2: held against the champion's out-of-time AUC averaged per day, with an absolute noise band
    "live_performance": "2",
    # 2: drift by the policy's statistic, only features that can trigger; 3: live AUC's out-of-time reference;
    # 4: a run that rebuilt the champion is "unchanged"
    "monitoring_timeline": "4",
}
LABEL_ARRIVAL_OFFSET_DAYS = 1
# Run a day as soon as its inputs exist and every blocking check upstream passed. eager() alone only
# looks at the latest time window on the wall clock; replayed (or late, or backfilled) days are
# history, so the condition keeps eager's parts without that window.
EAGER_AFTER_GATES = (
    dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("eager_any_day_after_gates")


class MonitoringPolicy(derived_config(LoopPolicy, dg.ConfigurableResource)):
    """Thresholds of the monitoring loop: drift levels, label delay, degradation, retraining
    (fields, defaults and descriptions from monitor.policy.LoopPolicy)."""


class DriftReportConfig(dg.Config):
    evidently_report: bool = Field(default=True, description="also write Evidently's HTML drift report (for people)")
    evidently_sample_rows: int = Field(default=5000, description="rows sampled from each side for that report")


def build_monitoring_assets(
    spec: DatasetSpec, raw_asset: dg.AssetsDefinition, features_asset: dg.AssetsDefinition
) -> list[dg.AssetsDefinition]:
    partitions = partitions_definition(spec)
    registered_name = model_name(spec)

    @dg.asset(
        partitions_def=partitions,
        deps=[features_asset],
        group_name="monitoring",
        kinds={"xgboost", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["batch_predictions"],
        pool=WAREHOUSE_POOL,
        automation_condition=EAGER_AFTER_GATES,
        description=(
            "The day's features scored by the current champion (loaded by the `champion` alias, its "
            "artifact sha256 checked), stored with the model version and artifact hash beside every "
            "row. Reads the same feature table training read. Data version: model sha256 + feature hash."
        ),
    )
    def batch_predictions(context: dg.AssetExecutionContext, state: StateResource,
                          model_registry: ModelRegistryResource) -> dg.MaterializeResult:
        from mlops_assets.monitor.scoring import score_day

        layout = state.layout()
        scored = score_day(spec, layout, model_registry.registry(layout, registered_name), partition_day(context),
                           context.run.run_id)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(f"{scored.model_sha256[:16]}-{scored.feature_hash[:16]}"),
            metadata={
                "rows": dg.MetadataValue.int(scored.rows),
                "champion_version": scored.model_version,
                "model_sha256": scored.model_sha256,
                "feature_hash": scored.feature_hash,
                "mean_score": dg.MetadataValue.float(scored.mean_score),
            },
        )

    @dg.asset(
        partitions_def=partitions,
        deps=[features_asset, batch_predictions],
        group_name="monitoring",
        kinds={"python", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["drift_report"],
        pool=WAREHOUSE_POOL,
        automation_condition=EAGER_AFTER_GATES,
        description=(
            f"Every drift statistic ({', '.join(s.label for s in DRIFT_STATISTICS.values())}) of every "
            "feature and of the predictions against the "
            "champion's own training snapshot, with bins pinned from that reference (deciles, "
            "categories, a null bin), recorded in drift_history every day, one row per statistic. "
            "Levels are those of the statistic the monitoring policy names. An Evidently HTML report "
            "on a bounded sample is linked for people; the triggering numbers are our statistics."
        ),
    )
    def drift_report(context: dg.AssetExecutionContext, config: DriftReportConfig, state: StateResource,
                     model_registry: ModelRegistryResource, monitoring_policy: MonitoringPolicy) -> dg.MaterializeResult:
        from mlops_assets.monitor.drift import can_trigger_retraining, drift_for_day, write_evidently_report

        layout = state.layout()
        day = partition_day(context)
        policy = monitoring_policy.plain()
        result, current = drift_for_day(
            spec, layout, model_registry.registry(layout, registered_name), day, policy, context.run.run_id,
            sample_rows=config.evidently_sample_rows if config.evidently_report else 0,
        )
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
        if config.evidently_report:
            path = layout.reports_dir / spec.name / "drift" / f"{day.isoformat()}.html"
            write_evidently_report(layout, spec, result, current, path, config.evidently_sample_rows)
            metadata["evidently_report"] = dg.MetadataValue.path(str(path))
        return dg.MaterializeResult(
            data_version=dg.DataVersion(f"{result.reference_snapshot[:16]}-{max(result.statistic(trigger).values()):.6f}"),
            metadata=metadata,
        )

    @dg.asset(
        partitions_def=partitions,
        # A day's labels count as arrived once the next day has landed: the automation waits for
        # that; measure_day enforces the configured label_delay_days.
        deps=[batch_predictions, dg.AssetDep(raw_asset, partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=LABEL_ARRIVAL_OFFSET_DAYS, end_offset=LABEL_ARRIVAL_OFFSET_DAYS))],
        automation_condition=EAGER_AFTER_GATES,
        group_name="monitoring",
        kinds={"python", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["live_performance"],
        pool=WAREHOUSE_POOL,
        description=(
            "The champion's AUC and calibration error on the day once its labels have arrived (a "
            "configurable delay, simulated on replayed data), compared with its out-of-time AUC "
            "averaged per day; more than the policy's noise band below it is degradation. Recorded in "
            "performance_history."
        ),
    )
    def live_performance(context: dg.AssetExecutionContext, state: StateResource,
                         model_registry: ModelRegistryResource, monitoring_policy: MonitoringPolicy) -> dg.MaterializeResult:
        from mlops_assets.monitor.performance import measure_day

        layout = state.layout()
        measured = measure_day(
            spec, layout, model_registry.registry(layout, registered_name), partition_day(context),
            label_delay_days=monitoring_policy.label_delay_days,
            auc_noise_band=monitoring_policy.auc_noise_band, as_of=None, run_id=context.run.run_id,
        )
        return dg.MaterializeResult(
            metadata={
                "auc": dg.MetadataValue.float(measured.auc if measured.auc is not None else float("nan")),
                "reference_auc": dg.MetadataValue.float(measured.reference_auc),
                "relative_drop": dg.MetadataValue.float(measured.relative_drop or 0.0),
                "degraded": measured.degraded,
                "ece": dg.MetadataValue.float(measured.ece or 0.0),
                "rows": dg.MetadataValue.int(measured.rows),
                "champion_version": measured.model_version,
            },
        )

    @dg.asset(
        group_name="monitoring",
        kinds={"python"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["monitoring_timeline"],
        description=(
            "The loop's history in one place: which days drifted, which retraining runs were "
            "requested and why, which challengers were promoted or rejected (and by which gate), "
            "and the champion's live AUC over time, as a table and a plot."
        ),
    )
    def monitoring_timeline(context: dg.AssetExecutionContext, state: StateResource,
                            monitoring_policy: MonitoringPolicy) -> dg.MaterializeResult:
        from mlops_assets.monitor.timeline import build_timeline, plot_timeline, timeline_markdown
        from mlops_assets.evaluate.plots import png_markdown

        layout = state.layout()
        timeline = build_timeline(spec, layout, retraining_runs(context.instance), monitoring_policy.plain())
        plot = plot_timeline(timeline, layout.reports_dir / spec.name / "timeline.png")
        return dg.MaterializeResult(
            metadata={
                "timeline": dg.MetadataValue.md(timeline_markdown(timeline)),
                "plot": dg.MetadataValue.md(png_markdown(plot, "champion live AUC over time")),
                "retraining_requests": dg.MetadataValue.int(len(timeline.retrainings)),
                "promotions": dg.MetadataValue.int(sum(1 for p in timeline.promotions if p["action"] == "promote")),
            },
        )

    return [batch_predictions, drift_report, live_performance, monitoring_timeline]


def retraining_runs(instance: dg.DagsterInstance) -> list[dict[str, Any]]:
    """Training runs with their trigger tags and outcome, from the Dagster instance."""
    from mlops_assets.defs.jobs import TRAIN_JOB
    from mlops_assets.defs.model import TRIGGER_TAG

    runs = instance.get_runs(filters=dg.RunsFilter(job_name=TRAIN_JOB))
    return [
        {
            "run_id": run.run_id,
            "status": run.status.value,
            "trigger": run.tags.get(TRIGGER_TAG, "manual run"),
            "rule": run.tags.get("mlops/trigger_rule", ""),
            "day": run.tags.get("mlops/trigger_day", ""),
        }
        for run in reversed(runs)
    ]


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
