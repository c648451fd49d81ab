"""Plain-text summaries of what the warehouse holds, for the CLI and people reading a terminal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets.validate.data_gates import DATA_GATES, RAW_ASSET
from mlops_assets.features.checks import FEATURE_CHECKS, FEATURES_ASSET
from mlops_assets.features.build import current_feature_version
from mlops_assets.ingest.snapshots import current_snapshot
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import latest_verdicts
from mlops_assets.core.warehouse import connect


def data_summary(spec: DatasetSpec, layout: StateLayout, days: list[dt.date]) -> str:
    """One line per partition (named by its first day): rows, snapshot hash, data-gate verdicts, features;
    then where things are."""
    lines = [
        f"{spec.grain.unit:<10}  {'rows':>6}  {'snapshot':<12}  {'data gates':<14}  {'features':<12}  {'feature checks':<14}"
        + ("  outcomes" if spec.labels is not None else ""),
    ]
    failures: list[str] = []
    with connect(layout.warehouse_path) as con:
        labelled = _labelled_rows_by_day(con, spec)
        for day in days:
            snapshot = current_snapshot(con, spec, day)
            if snapshot is None:
                lines.append(f"{day.isoformat():<10}  {'-':>6}  {'not ingested':<12}")
                continue
            raw = latest_verdicts(con, dataset=spec.name, asset=RAW_ASSET, day=day, content_hash=snapshot.content_hash)
            feature_version = current_feature_version(con, spec, day)
            feature_cell, feature_checks = "not built", ""
            if feature_version:
                feature_cell = feature_version[0][:12]
                checks = latest_verdicts(con, dataset=spec.name, asset=FEATURES_ASSET, day=day,
                                         content_hash=feature_version[0])
                feature_checks = _verdict_cell(checks, FEATURE_CHECKS)
                failures += _failed(day, checks)
            outcomes = "" if spec.labels is None else (
                f"  {labelled[day]} landed" if day in labelled else "  not landed yet")
            lines.append(
                f"{day.isoformat():<10}  {snapshot.rows:>6}  {snapshot.content_hash[:12]:<12}  "
                f"{_verdict_cell(raw, DATA_GATES):<14}  {feature_cell:<12}  {feature_checks:<14}{outcomes}"
            )
            failures += _failed(day, raw)
    lines += [f"  FAILED {line}" for line in failures]
    lines.append(f"warehouse: {layout.warehouse_path}")
    lines.append(f"landing:   {layout.landing_dir_for(spec.name)}")
    return "\n".join(lines)


def _labelled_rows_by_day(con, spec: DatasetSpec) -> dict[dt.date, int]:
    from mlops_assets.core.warehouse import table_exists
    from mlops_assets.ingest.labels import labels_table

    if spec.labels is None or not table_exists(con, f"labels_{spec.name}"):
        return {}
    return dict(con.execute(f"SELECT _day, count(*) FROM {labels_table(spec)} GROUP BY 1").fetchall())


def _verdict_cell(verdicts: dict[str, tuple[bool, str]], required: Any) -> str:
    passed = sum(1 for name in required if verdicts.get(name, (False, ""))[0])
    return f"{passed}/{len(required)} passed"


def _failed(day: dt.date, verdicts: dict[str, tuple[bool, str]]) -> list[str]:
    return [f"{day.isoformat()} {name}: {summary}" for name, (ok, summary) in verdicts.items() if not ok]


def model_summary(spec: DatasetSpec, layout: StateLayout) -> str:
    """The champion, its test primary metric (binary: AUC) with interval, its gate verdicts, and where
    its card is."""

    from mlops_assets.promote import ledger
    from mlops_assets.evaluate.evaluation import load_evaluation
    from mlops_assets.core.registry import model_name
    from mlops_assets.core.secrets import redact
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY

    with connect(layout.warehouse_path) as con:
        entries = ledger.entries(con, spec.model.name)
        if not entries:
            return "no champion yet: no candidate has passed every gate"
        latest = entries[-1]
        evaluation = load_evaluation(con, spec.model.name, latest.model_sha256)
    primary = evaluation.primary_metric
    spoken = METRIC_REGISTRY[primary].spoken
    value = evaluation.metrics[primary]
    baseline = evaluation.baseline.get(primary)
    unit = spec.grain.unit
    lines = [
        f"champion: {model_name(spec)} version {latest.to_version} "
        f"(previous: {latest.from_version or 'none'}), model sha256 {latest.model_sha256[:12]}",
        f"test {spoken} {value['value']:.4f} [95% CI {value['low']:.4f}, {value['high']:.4f}] on "
        f"{evaluation.test_rows} rows; baseline {spoken} "
        f"{f'{baseline:.4f}' if isinstance(baseline, (int, float)) else baseline}",
        *([f"out-of-time {spoken} {evaluation.metric(primary, 'oot'):.4f} on {evaluation.oot_rows} rows of the "
           f"held-out {unit}s, {evaluation.oot_mean_daily_auc:.4f} averaged per {unit} (live {spoken} is held "
           "against this)"]
          if evaluation.oot_mean_daily_auc is not None and evaluation.metric(primary, "oot") is not None else []),
        "gates:",
    ]
    for verdict in latest.verdicts:
        lines.append(f"  {'PASS' if verdict['passed'] else 'FAIL'}  {verdict['gate']}: {verdict['reason']}")
    for override in latest.overrides:
        lines.append(f"  OVERRIDDEN {override['gate']} by {override['operator']} until {override['expires_at']}: "
                     f"{override['reason']}")
    card = layout.model_reports_dir(spec.model.name) / "cards" / latest.model_sha256[:16] / "model_card.html"
    lines.append(f"model card: {card}")
    lines.append(f"MLflow store: {redact(layout.mlflow_tracking_uri)}")
    return "\n".join(lines)
