"""The monitoring loop: batch_predictions, drift_report and live_performance (daily), and the
monitoring_timeline that shows the loop's history in one place."""

from typing import Any

import dagster as dg
from pydantic import Field

from mlops_assets.defs.config import derived_config
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, backfill_policy, partitions_definition
from mlops_assets.defs.monitoring_days import day_errors, drift_day, performance_day, scored_day
from mlops_assets.defs.names import ModelNames
from mlops_assets.defs.ranges import independent_days
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import DRIFT_STATISTICS

MONITORING_CODE_VERSIONS = {
    # 2: the champion predicts through its registered pyfunc class; 3: a range of days in one run;
    # 4: stores the task's score (and classes)
    "batch_predictions": "4",
    # 2: every statistic of the registry, recorded one row per statistic; 3: the champion predicts through
    # its registered pyfunc class; 4: a range of days in one run; 5: prediction drift on the task's score
    "drift_report": "5",
    # 2: held against the champion's out-of-time AUC averaged per day, with an absolute noise band;
    # 3: also a data version, the measurement's hash; 4: the task's primary metric, in its direction,
    # with its noise band
    "live_performance": "4",
    # 2: drift by the policy's statistic, only features that can trigger; 3: live AUC's out-of-time reference;
    # 4: a run that rebuilt the champion is "unchanged"
    "monitoring_timeline": "4",
}
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


def _labels_dependency(spec: DatasetSpec, raw_key: dg.AssetKey, label_delay: int) -> tuple[dg.AssetDep, int]:
    """What live performance waits for, so the automation waits (it does not run and fail): with a
    label feed, the partition's own labels (measured again whenever more land); otherwise the raw
    partition ``label_delay`` later, by which time the day's outcomes count as arrived."""
    if spec.labels is not None:
        from mlops_assets.defs.names import DatasetNames

        return dg.AssetDep(dg.AssetKey(DatasetNames.of(spec).labels_asset)), 0
    if partitions_definition(spec) is None:  # one table: its outcomes came with it
        return dg.AssetDep(raw_key), 0
    mapping = dg.TimeWindowPartitionMapping(start_offset=label_delay, end_offset=label_delay)
    return dg.AssetDep(raw_key, partition_mapping=mapping), label_delay


def build_monitoring_assets(spec: DatasetSpec, raw_key: dg.AssetKey, features_key: dg.AssetKey,
                            label_delay: int = LoopPolicy().label_delay_days) -> list[dg.AssetsDefinition]:
    """The model's monitoring loop, under its own key prefix; the dataset's assets upstream by key.
    ``label_delay``: the model's declared label delay in partitions, which the automation waits for."""
    partitions = partitions_definition(spec)
    names = ModelNames.of(spec)
    registered_name = spec.model.name
    labels_dep, labels_offset = _labels_dependency(spec, raw_key, label_delay)
    # the loop policy is the model's own resource (its key carries the model's name)
    resources = {"state", "model_registry", names.monitoring_policy}

    def model_resources(context) -> tuple:
        layout = context.resources.state.layout()
        registry = context.resources.model_registry.registry(layout, registered_name)
        return layout, registry, getattr(context.resources, names.monitoring_policy).plain()

    @dg.asset(
        partitions_def=partitions,
        deps=[features_key],
        key_prefix=names.prefix,
        group_name=names.group,
        required_resource_keys=resources,
        kinds={"xgboost", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["batch_predictions"],
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
        automation_condition=EAGER_AFTER_GATES,
        description=(
            "The day's features scored by the current champion (loaded by the `champion` alias, its "
            "artifact sha256 checked), stored with the model version and artifact hash beside every "
            "row. Reads the same feature table training read. Data version: model sha256 + feature hash."
        ),
    )
    def batch_predictions(context: dg.AssetExecutionContext):
        layout, registry, policy = model_resources(context)
        run_id = context.run.run_id
        # a day that cannot be scored skips drift and performance of the whole range: do the others' here
        drift_config = DriftReportConfig(
            **context.run.run_config.get("ops", {}).get(names.op("drift_report"), {}).get("config", {}))
        yield from independent_days(
            context, lambda day: scored_day(spec, layout, registry, day, run_id), scored_parents, day_errors(),
            downstream=[
                (drift_report, lambda day: _drift(layout, registry, day, policy, run_id, drift_config), drift_parents),
                (live_performance, lambda day: performance_day(spec, layout, registry, day, policy, run_id),
                 performance_parents),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        deps=[features_key, batch_predictions],
        key_prefix=names.prefix,
        group_name=names.group,
        required_resource_keys=resources,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["drift_report"],
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
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
    def drift_report(context: dg.AssetExecutionContext, config: DriftReportConfig):
        layout, registry, policy = model_resources(context)
        yield from independent_days(
            context, lambda day: _drift(layout, registry, day, policy, context.run.run_id, config), drift_parents,
            day_errors(),
        )

    @dg.asset(
        partitions_def=partitions,
        deps=[batch_predictions, labels_dep],
        automation_condition=EAGER_AFTER_GATES,
        key_prefix=names.prefix,
        group_name=names.group,
        required_resource_keys=resources,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["live_performance"],
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
        description=(
            "The champion's AUC and calibration error on the day once its labels have arrived (a "
            "configurable delay, simulated on replayed data), compared with its out-of-time AUC "
            "averaged per day; more than the policy's noise band below it is degradation. Recorded in "
            "performance_history. Data version: a hash of the measurement."
        ),
    )
    def live_performance(context: dg.AssetExecutionContext):
        layout, registry, policy = model_resources(context)
        yield from independent_days(
            context, lambda day: performance_day(spec, layout, registry, day, policy, context.run.run_id),
            performance_parents, day_errors(),
        )

    def _drift(layout, registry, day, policy, run_id, config: DriftReportConfig):
        return drift_day(spec, layout, registry, day, policy, run_id, evidently_report=config.evidently_report,
                         evidently_sample_rows=config.evidently_sample_rows)

    scored_parents = {features_key: 0}
    drift_parents = {features_key: 0, batch_predictions.key: 0}
    performance_parents = {batch_predictions.key: 0, labels_dep.asset_key: labels_offset}

    @dg.asset(
        key_prefix=names.prefix,
        group_name=names.group,
        required_resource_keys={"state", names.monitoring_policy},
        kinds={"python"},
        owners=OWNERS,
        code_version=MONITORING_CODE_VERSIONS["monitoring_timeline"],
        description=(
            "The loop's history in one place: which days drifted, which retraining runs were "
            "requested and why, which challengers were promoted or rejected (and by which gate), "
            "and the champion's live AUC over time, as a table and a plot."
        ),
    )
    def monitoring_timeline(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from mlops_assets.monitor.timeline import build_timeline, plot_timeline, timeline_markdown
        from mlops_assets.evaluate.plots import png_markdown

        layout = context.resources.state.layout()
        policy = getattr(context.resources, names.monitoring_policy).plain()
        timeline = build_timeline(spec, layout, retraining_runs(context.instance, names), policy)
        plot = plot_timeline(timeline, layout.model_reports_dir(spec.model.name) / "timeline.png")
        return dg.MaterializeResult(
            metadata={
                "timeline": dg.MetadataValue.md(timeline_markdown(timeline)),
                "plot": dg.MetadataValue.md(png_markdown(plot, "champion live AUC over time")),
                "retraining_requests": dg.MetadataValue.int(len(timeline.retrainings)),
                "promotions": dg.MetadataValue.int(sum(1 for p in timeline.promotions if p["action"] == "promote")),
            },
        )

    return [batch_predictions, drift_report, live_performance, monitoring_timeline]


def retraining_runs(instance: dg.DagsterInstance, names: ModelNames) -> list[dict[str, Any]]:
    """The model's training runs with their trigger tags and outcome, from the Dagster instance."""
    from mlops_assets.defs.model import TRIGGER_TAG

    runs = instance.get_runs(filters=dg.RunsFilter(job_name=names.train_job))
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

