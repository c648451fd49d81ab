"""What ingest_job does for one day, as plain calls: for benchmarks, tests and scripted backfills.

Snapshot the landing file, run and record every data gate, and only if all passed build the
features and run and record every feature check. ingest_job's assets and blocking checks call the
same pieces (``gate_raw_day``, ``check_feature_day``); this is the path without an instance.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Collection

from mlops_assets.core import verdicts
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import Check, GateResult


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
    """The raw asset and its data gates: snapshot the landing file, run and record every gate, in
    one transaction (a write fault leaves no snapshot without its verdicts)."""
    from mlops_assets.ingest.snapshots import ingest_day

    results: list[GateResult] = []

    def judge(con: Any, snapshot: Any) -> None:
        results.extend(judge_snapshot(con, spec, snapshot, run_id))

    snapshot = ingest_day(spec, layout, day, run_id, judge=judge)
    return snapshot, results


def featurize_and_check(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None
) -> tuple[Any, list[GateResult]]:
    """The features asset and its checks (refused, as there, if the day's data gates failed)."""
    from mlops_assets.features.build import build_features

    build = build_features(spec, layout, day, run_id)
    _content_hash, results = check_feature_day(spec, layout, day, run_id)
    return build, results


class NotMaterializedError(LookupError):
    """A check ran before the day's asset was materialized."""


def gate_raw_day(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None, names: Collection[str] | None = None
) -> tuple[str, list[GateResult]]:
    """The data gates (all, or the named ones, in their order) on the day's current snapshot, in
    one warehouse connection. Returns the snapshot's content hash and the results.

    The verdicts this run already recorded when it ingested the snapshot (in the ingestion's own
    transaction) are returned as they are; gates run alone in a later run are run and recorded.
    """
    from mlops_assets.validate.data_gates import DATA_GATES, RAW_ASSET
    from mlops_assets.ingest.snapshots import current_snapshot
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        snapshot = current_snapshot(con, spec, day)
        if snapshot is None:
            raise NotMaterializedError(f"no snapshot of {spec.name} for {day}; materialize {spec.raw_asset_name} first")
        wanted = [name for name in DATA_GATES if names is None or name in names]
        recorded = verdicts.results_of_run(con, dataset=spec.name, asset=RAW_ASSET, day=day,
                                           content_hash=snapshot.content_hash, run_id=run_id)
        if run_id is not None and all(name in recorded for name in wanted):
            return snapshot.content_hash, [recorded[name] for name in wanted]
        results = judge_snapshot(con, spec, snapshot, run_id, names)
    return snapshot.content_hash, results


def judge_snapshot(
    con: Any, spec: DatasetSpec, snapshot: Any, run_id: str | None, names: Collection[str] | None = None
) -> list[GateResult]:
    """Run the data gates (all, or the named ones) on one snapshot and record each verdict with the
    fingerprint of the spec rules it was given under."""
    from mlops_assets.validate.data_gates import DATA_GATES, RAW_ASSET, data_gate_rules

    return _apply_and_record(con, spec, DATA_GATES, names, snapshot, asset=RAW_ASSET, day=snapshot.day,
                             content_hash=snapshot.content_hash, run_id=run_id,
                             rules_fingerprint=data_gate_rules(spec))


def check_feature_day(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None, names: Collection[str] | None = None
) -> tuple[str, list[GateResult]]:
    """Run and record the feature checks (all, or the named ones) on the day's current features, in
    one warehouse connection. Returns the features' content hash and the results."""
    from mlops_assets.features.checks import FEATURE_CHECKS, FEATURES_ASSET
    from mlops_assets.features.build import current_feature_version
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        version = current_feature_version(con, spec, day)
        if version is None:
            raise NotMaterializedError(f"no features of {spec.name} for {day}; materialize {spec.features_asset_name} first")
        results = _apply_and_record(con, spec, FEATURE_CHECKS, names, day, asset=FEATURES_ASSET, day=day,
                                    content_hash=version[0], run_id=run_id)
    return version[0], results


def check_labelled_features(
    spec: DatasetSpec, layout: StateLayout, day: dt.date, run_id: str | None = None, names: Collection[str] | None = None
) -> tuple[str, list[GateResult]]:
    """Judge the day's features again with the labels that landed for it: the feature checks that read
    outcomes (``OUTCOME_CHECKS``) have nothing to measure when the features are built before them, so
    a feature that gives the outcome away shows only now. Each verdict is recorded as the features'
    own, against their content hash, so a failure keeps the day out of training. Returns the
    features' content hash ("" when none are built yet: their checks will see these labels)."""
    from mlops_assets.features.checks import FEATURES_ASSET, OUTCOME_CHECKS
    from mlops_assets.features.build import current_feature_version
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        version = current_feature_version(con, spec, day)  # feature_versions is a catalog table: always there
        if version is None:
            return "", [
                GateResult(name, True, f"no features of {spec.grain.label(day)} built yet: their {name} will read "
                                       "these labels when they are")
                for name in OUTCOME_CHECKS if names is None or name in names
            ]
        results = _apply_and_record(con, spec, OUTCOME_CHECKS, names, day, asset=FEATURES_ASSET, day=day,
                                    content_hash=version[0], run_id=run_id)
    return version[0], results


def _apply_and_record(
    con: Any, spec: DatasetSpec, checks: dict[str, Check], names: Collection[str] | None,
    target: Any, *, asset: str, day: dt.date, content_hash: str, run_id: str | None,
    rules_fingerprint: str | None = None,
) -> list[GateResult]:
    """Apply the named checks (all when ``names`` is None) to ``target`` in their declared order,
    recording each verdict against ``content_hash``."""
    results = []
    for name, check in checks.items():
        if names is None or name in names:
            result = check.rule(con, spec, target)
            verdicts.record(con, dataset=spec.name, asset=asset, day=day, content_hash=content_hash,
                            result=result, run_id=run_id, rules=rules_fingerprint)
            results.append(result)
    return results
