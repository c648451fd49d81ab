"""The Dagster code location: ``dagster dev``, ``dg`` and the CLI all load ``defs`` from here.

This module must import about as fast as dagster itself: the spec is validated without DuckDB here
(its SQL is bound when a run starts), and the heavy libraries load inside the steps that use them.
"""

from __future__ import annotations

import warnings

import dagster as dg

from mlops_assets.defs.features import build_feature_checks, build_features_asset
from mlops_assets.defs.ingestion import build_data_gate_checks, build_raw_asset
from mlops_assets.defs.automation import (
    build_landing_sensor,
    build_retraining_sensor,
    build_schedules,
    run_failure_alert_sensor,
)
from mlops_assets.defs.jobs import build_ingest_job, build_monitoring_jobs, build_train_job
from mlops_assets.defs.model import build_gate_checks, build_model_assets
from mlops_assets.defs.monitoring import MonitoringPolicy, build_monitoring_assets
from mlops_assets.defs.rollback import build_rollback_job
from mlops_assets.defs.resources import (
    GatePolicyResource,
    JsonHandleIOManager,
    ModelRegistryResource,
    StateResource,
    gate_policy_class,
)
from mlops_assets.core.spec import DatasetSpec, load_spec

# Partitioned asset checks (the data gates run per day) are a preview feature in Dagster 1.13; we
# rely on them deliberately, so the warning is noise here.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*", category=dg.PreviewWarning)
# Backfill policies (ranged runs of the daily data assets) are beta; likewise deliberate.
warnings.filterwarnings("ignore", message=".*`backfill_policy`.*", category=dg.BetaWarning)


def build_definitions(
    spec: DatasetSpec,
    state: StateResource | None = None,
    monitoring_policy: MonitoringPolicy | None = None,
    gate_policy: GatePolicyResource | None = None,
) -> dg.Definitions:
    raw = build_raw_asset(spec)
    features = build_features_asset(spec, raw)
    snapshot, candidate, evaluation, card, champion = build_model_assets(spec, features)
    monitoring = build_monitoring_assets(spec, raw, features)
    batch_predictions, drift_report, live_performance, _ = monitoring
    state = state or StateResource()
    ingest_job = build_ingest_job(raw, features)
    train_job = build_train_job([snapshot, candidate, evaluation, card, champion])
    score_job, performance_job, timeline_job = build_monitoring_jobs(*monitoring)
    return dg.Definitions(
        assets=[raw, features, snapshot, candidate, evaluation, card, champion, *monitoring],
        asset_checks=[
            build_data_gate_checks(spec, raw),
            build_feature_checks(spec, features),
            build_gate_checks(evaluation, spec),
        ],
        jobs=[ingest_job, train_job, score_job, performance_job, timeline_job, build_rollback_job(spec)],
        sensors=[
            build_landing_sensor(spec),
            build_retraining_sensor(spec),
            run_failure_alert_sensor,
            dg.AutomationConditionSensorDefinition(
                "monitoring_automation_sensor",
                target=dg.AssetSelection.assets(batch_predictions, drift_report, live_performance),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Scores each day, computes its drift and (once its labels are in) its live AUC, "
                "as soon as the inputs exist and every blocking check upstream passed.",
            ),
        ],
        schedules=build_schedules(spec, score_job, train_job),
        resources={
            "state": state,
            "model_registry": ModelRegistryResource(),
            "gate_policy": gate_policy or gate_policy_class()(),
            "monitoring_policy": monitoring_policy or MonitoringPolicy(),
            "handles": JsonHandleIOManager(state_dir=state.state_dir),
        },
        # Chains of short steps: a fresh process per step would cost ~1.8 s each (PLATFORM.md).
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_spec(check_sql=False))
