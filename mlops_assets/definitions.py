"""The Dagster code location: ``dagster dev``, ``dg`` and the CLI all load ``defs`` from here.

This module must import about as fast as dagster itself: the spec is validated without DuckDB here
(its SQL is bound when a run starts), and the heavy libraries load inside the steps that use them.
"""

from __future__ import annotations

import warnings

import dagster as dg

from mlops_assets.defs.features import build_feature_checks, build_features_asset
from mlops_assets.defs.ingestion import build_data_gate_checks, build_raw_asset
from mlops_assets.defs.jobs import build_ingest_job, build_train_job
from mlops_assets.defs.model import build_gate_checks, build_model_assets
from mlops_assets.defs.resources import GatePolicy, JsonHandleIOManager, ModelRegistryResource, StateResource
from mlops_assets.spec import DatasetSpec, load_spec

# Partitioned asset checks (the data gates run per day) are a preview feature in Dagster 1.13; we
# rely on them deliberately, so the warning is noise here.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*", category=dg.PreviewWarning)


def build_definitions(spec: DatasetSpec, state: StateResource | None = None) -> dg.Definitions:
    raw = build_raw_asset(spec)
    features = build_features_asset(spec, raw)
    snapshot, candidate, evaluation, card, champion, card_check = build_model_assets(spec, features)
    state = state or StateResource()
    return dg.Definitions(
        assets=[raw, features, snapshot, candidate, evaluation, card, champion],
        asset_checks=[
            *build_data_gate_checks(spec, raw),
            *build_feature_checks(spec, features),
            *build_gate_checks(evaluation, spec),
            card_check,
        ],
        jobs=[build_ingest_job(raw, features), build_train_job([snapshot, candidate, evaluation, card, champion])],
        resources={
            "state": state,
            "model_registry": ModelRegistryResource(),
            "gate_policy": GatePolicy(),
            "handles": JsonHandleIOManager(state_dir=state.state_dir),
        },
        # Chains of short steps: a fresh process per step would cost ~1.8 s each (PLATFORM.md).
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_spec(check_sql=False))
