"""The Dagster code location: ``dagster dev``, ``dg`` and the CLI all load ``defs`` from here.

``defs`` is every model of the project (a ``ModelLifecycle`` folder under ``defs/models/``), each
dataset they are built on, once, and the resources they share. This module must import about as
fast as dagster itself: specs are validated without DuckDB here (their SQL is bound when a run
starts), and the heavy libraries load inside the steps that use them.
"""

from __future__ import annotations

import functools
import gc
import os
import warnings
from typing import Any

import dagster as dg

# Dagster's import leaves ~110,000 long-lived objects (modules, classes, functions) for the cyclic
# garbage collector to track. Building the definitions allocates enough to trigger a full
# collection that walks them all (~50 ms of CPU, a fifth of this module's import), as does every
# later full collection of the process, the one at exit included. They live as long as the
# process: move them out of the collector's reach once (benchmarks/results.md, "import").
gc.freeze()

from mlops_assets.defs.features import build_feature_checks, build_features_asset
from mlops_assets.defs.ingestion import build_data_gate_checks, build_raw_asset
from mlops_assets.defs.automation import (
    build_landing_sensor,
    build_retraining_sensor,
    build_schedules,
    run_failure_alert_sensor,
)
from mlops_assets.defs.jobs import build_ingest_job, build_monitoring_jobs, build_train_job
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets.defs.model import build_model_assets
from mlops_assets.defs.promotion_gates import build_gate_checks
from mlops_assets.defs.monitoring import MonitoringPolicy, build_monitoring_assets
from mlops_assets.defs.rollback import build_rollback_job
from mlops_assets.defs.resources import (
    GatePolicyResource,
    JsonHandleIOManager,
    ModelRegistryResource,
    StateResource,
    gate_policy_class,
)
from mlops_assets.core.spec import SPEC_ENV, DatasetSpec, SpecError, load_spec
from mlops_assets.train.tuning import TuningBudget

# Partitioned asset checks (the data gates run per day) are a preview feature in Dagster 1.13; we
# rely on them deliberately, so the warning is noise here.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*", category=dg.PreviewWarning)
# Backfill policies (ranged runs of the daily data assets) are beta; likewise deliberate.
warnings.filterwarnings("ignore", message=".*`backfill_policy`.*", category=dg.BetaWarning)


def build_dataset_definitions(spec: DatasetSpec) -> dg.Definitions:
    """A dataset's raw snapshots, data gates, features and feature checks, its ingest job and landing
    sensor: built once, whatever the number of models trained on it."""
    names = DatasetNames.of(spec)
    raw = build_raw_asset(spec)
    features = build_features_asset(spec, raw)
    definitions = dg.Definitions(
        assets=[raw, features],
        asset_checks=[build_data_gate_checks(spec, raw), build_feature_checks(spec, features)],
        jobs=[build_ingest_job(names, raw, features)],
        sensors=[build_landing_sensor(spec)],
    )
    if spec.labels is None:
        return definitions
    from mlops_assets.defs.jobs import build_labels_job
    from mlops_assets.defs.labels import build_label_checks, build_labels_asset

    labels = build_labels_asset(spec)
    return dg.Definitions.merge(definitions, dg.Definitions(
        assets=[labels], asset_checks=[build_label_checks(spec, labels)], jobs=[build_labels_job(names, labels)],
        sensors=[build_landing_sensor(spec, labels=True)],
    ))


def build_model_definitions(
    spec: DatasetSpec,
    monitoring_policy: MonitoringPolicy | None = None,
    gate_policy: GatePolicyResource | None = None,
    tuning: TuningBudget | None = None,
    schedules: Any = None,
) -> dg.Definitions:
    """One model's lifecycle (``spec.model``), under its own key prefix, group, job, sensor and
    schedule names and policy resources (``defs.names``); its dataset's assets are upstream by key."""
    names = ModelNames.of(spec)
    raw_key, features_key = dg.AssetKey(spec.raw_asset_name), dg.AssetKey(spec.features_asset_name)
    snapshot, candidate, evaluation, card, champion = build_model_assets(spec, features_key, tuning)
    monitoring_policy = monitoring_policy or MonitoringPolicy()
    monitoring = build_monitoring_assets(spec, raw_key, features_key, monitoring_policy.label_delay_days)
    batch_predictions, drift_report, live_performance, _ = monitoring
    train_job = build_train_job(names, [snapshot, candidate, evaluation, card, champion])
    score_job, performance_job, timeline_job = build_monitoring_jobs(names, *monitoring)
    return dg.Definitions(
        assets=[snapshot, candidate, evaluation, card, champion, *monitoring],
        asset_checks=[build_gate_checks(evaluation, spec)],
        jobs=[train_job, score_job, performance_job, timeline_job, build_rollback_job(spec)],
        sensors=[
            build_retraining_sensor(spec),
            dg.AutomationConditionSensorDefinition(
                names.automation_sensor,
                target=dg.AssetSelection.assets(batch_predictions, drift_report, live_performance),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description=f"Scores each day with the {names.model} champion, computes its drift and (once "
                "its labels are in) its live performance, as soon as the inputs exist and every blocking "
                "check upstream passed.",
            ),
        ],
        schedules=build_schedules(spec, score_job, train_job, schedules),
        resources={
            names.gate_policy: gate_policy or gate_policy_class()(),
            names.monitoring_policy: monitoring_policy,
        },
    )


def shared_definitions(state: StateResource | None = None) -> dg.Definitions:
    """What every dataset and model of the code location shares: the state folder, the registry,
    the handle store, the failed-run alerts, and the in-process executor."""
    state = state or StateResource()
    return dg.Definitions(
        sensors=[run_failure_alert_sensor],
        resources={
            "state": state,
            "model_registry": ModelRegistryResource(),
            "handles": JsonHandleIOManager(state_dir=state.state_dir),
        },
        # Chains of short steps: a fresh process per step would cost ~1.8 s each (PLATFORM.md).
        executor=dg.in_process_executor,
    )


def build_definitions(
    spec: DatasetSpec,
    state: StateResource | None = None,
    monitoring_policy: MonitoringPolicy | None = None,
    gate_policy: GatePolicyResource | None = None,
) -> dg.Definitions:
    """One dataset and one model on it (``spec.model``: a bare spec's own model): what the CLI and
    the tests run. The code location loads every model of the project (``defs/models``)."""
    return dg.Definitions.merge(
        build_dataset_definitions(spec),
        build_model_definitions(spec, monitoring_policy, gate_policy),
        shared_definitions(state),
    )


# The project's component tree as pyproject.toml declares it for `dg` ([tool.dg.project]; a test
# holds the two together): built from them directly, as ComponentTree.for_project would find and
# parse pyproject.toml (with tomlkit, ~10 ms) on every import of the code location.
MODELS_MODULE = "mlops_assets.defs.models"
CODE_LOCATION_NAME = "mlops_assets"


@functools.cache
def _project_models() -> tuple[dg.Definitions, tuple]:
    """The models under ``defs/models/``, loaded once per process: their definitions and components."""
    import importlib
    from pathlib import Path

    from mlops_assets.defs.lifecycle import ModelLifecycle

    with warnings.catch_warnings():
        # Dagster's own loader uses its beta and preview APIs (code references, module loading)
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        tree = dg.ComponentTree(defs_module=importlib.import_module(MODELS_MODULE),
                                project_root=Path(__file__).parents[1], code_location_name=CODE_LOCATION_NAME)
        # each model folder, not the tree's root: the root also lists every component type of every
        # installed Dagster library for the UI (~0.1-0.5 s on each import of the code location)
        models = [tree.build_defs_at_path(decl.loc) for decl in tree.find_root_decl().iterate_child_component_decls()]
        return (dg.Definitions.merge(*models, dg.Definitions(component_tree=tree)),
                tuple(tree.get_all_components(ModelLifecycle)))


def project_models() -> dict[str, DatasetSpec]:
    """Every model of the project by name: its dataset as the model sees it."""
    return {lifecycle.name: lifecycle.model_spec() for lifecycle in _project_models()[1]}


def project_definitions(state: StateResource | None = None) -> dg.Definitions:
    """The code location: every model under ``defs/models/`` (a ``ModelLifecycle`` each), every
    dataset they are built on, once, and what they share."""
    models, _ = _project_models()
    datasets: dict[str, DatasetSpec] = {}
    for name, spec in project_models().items():
        known = datasets.setdefault(spec.name, spec)
        if known.model_dump(mode="json") != spec.model_dump(mode="json"):
            raise SpecError(f"two different specs are both named {spec.name!r} (model {name} and another model "
                            "of the project): a dataset's name must identify one spec")
    return dg.Definitions.merge(
        models, *(build_dataset_definitions(spec) for spec in datasets.values()), shared_definitions(state),
    )


def _code_location() -> dg.Definitions:
    # MLOPS_DATASET_SPEC names one spec to look at on its own (its one model), as before models were components
    if os.environ.get(SPEC_ENV):
        return build_definitions(load_spec(check_sql=False))
    return project_definitions()


defs = _code_location()
