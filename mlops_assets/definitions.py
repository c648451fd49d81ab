"""The Dagster code location: ``dagster dev``, ``dg`` and the CLI all load ``defs`` from here.

This module must import about as fast as dagster itself: the spec is validated without DuckDB here
(its SQL is bound when a run starts), and the heavy libraries load inside the steps that use them.
"""

from __future__ import annotations

import dagster as dg

from mlops_assets.defs.features import build_feature_checks, build_features_asset
from mlops_assets.defs.ingestion import build_data_gate_checks, build_raw_asset
from mlops_assets.defs.jobs import build_ingest_job
from mlops_assets.defs.resources import StateResource
from mlops_assets.spec import DatasetSpec, load_spec


def build_definitions(spec: DatasetSpec, state: StateResource | None = None) -> dg.Definitions:
    raw = build_raw_asset(spec)
    features = build_features_asset(spec, raw)
    return dg.Definitions(
        assets=[raw, features],
        asset_checks=[*build_data_gate_checks(spec, raw), *build_feature_checks(spec, features)],
        jobs=[build_ingest_job(raw, features)],
        resources={"state": state or StateResource()},
        # Chains of short steps: a fresh process per step would cost ~1.8 s each (PLATFORM.md).
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_spec(check_sql=False))
