"""What ingest_job does for one day, as plain calls: for benchmarks, tests and scripted backfills.

Snapshot the landing file, run and record every data gate, and only if all passed build the
features and run and record every feature check. The Dagster job does the same through its assets
and blocking checks; this is the path without an instance.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets import verdicts
from mlops_assets.spec import DatasetSpec
from mlops_assets.state import StateLayout
from mlops_assets.verdicts import GateResult


def ingest_and_featurize(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None
) -> list[GateResult]:
    """Every gate and check result of the day, in order; features are skipped if a data gate failed."""
    _snapshot, results = ingest_and_gate(spec, layout, day, run_id)
    if not all(result.passed for result in results):
        return results
    _build, checks = featurize_and_check(spec, layout, day, run_id)
    return results + checks


def ingest_and_gate(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None
) -> tuple[Any, list[GateResult]]:
    """The raw asset and its data gates: snapshot the landing file, run and record every gate."""
    from mlops_assets.data_gates import DATA_GATES, RAW_ASSET
    from mlops_assets.ingestion import ingest_day
    from mlops_assets.warehouse import connect

    snapshot = ingest_day(spec, layout, day, run_id)
    results = []
    with connect(layout.warehouse_path) as con:
        for rule in DATA_GATES.values():
            result = rule(con, spec, snapshot)
            verdicts.record(con, dataset=spec.name, asset=RAW_ASSET, day=day,
                            content_hash=snapshot.content_hash, result=result, run_id=run_id)
            results.append(result)
    return snapshot, results


def featurize_and_check(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None
) -> tuple[Any, list[GateResult]]:
    """The features asset and its checks (refused, as there, if the day's data gates failed)."""
    from mlops_assets.feature_checks import FEATURE_CHECKS, FEATURES_ASSET
    from mlops_assets.features import build_features, current_feature_version
    from mlops_assets.warehouse import connect

    build = build_features(spec, layout, day, run_id)
    results = []
    with connect(layout.warehouse_path) as con:
        version = current_feature_version(con, spec, day)
        for rule in FEATURE_CHECKS.values():
            result = rule(con, spec, day)
            verdicts.record(con, dataset=spec.name, asset=FEATURES_ASSET, day=day,
                            content_hash=version[0], result=result, run_id=run_id)
            results.append(result)
    return build, results
