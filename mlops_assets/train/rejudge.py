"""Before a training window is frozen: every day in it must have been judged under the spec's
current rules. A spec edited after ingestion (a tightened allowed set, a lower null ceiling) does
not change verdicts already recorded, so a day judged under the old rules could bring rows the
current spec forbids into training.

Each data-gate verdict records the fingerprint of the spec rules it was given under
(``validate.data_gates.data_gate_rules``). A day whose feature build's snapshot was judged under
other rules is re-judged now, on its stored snapshot, and the new verdicts are recorded; a day that
fails them is refused. A day whose features were built under another feature definition (the
features code version) is rebuilt and re-checked. The training snapshot names both lists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.warehouse import connect


@dataclass
class DayCurrency:
    """What bringing a window's days up to the current spec did: day -> why."""

    rejudged: dict[str, str] = field(default_factory=dict)
    rebuilt: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def rejudge_stale_days(
    spec: DatasetSpec, layout: StateLayout, start: dt.date, end: dt.date, run_id: str | None = None
) -> DayCurrency:
    """Re-judge the days in [start, end] whose verdicts or features predate the current spec."""
    from mlops_assets.core.verdicts import latest_rules, unmet_gates
    from mlops_assets.features.build import features_code_version
    from mlops_assets.ingest.snapshots import snapshot_by_hash
    from mlops_assets.pipeline.ingest_day import featurize_and_check, judge_snapshot
    from mlops_assets.validate.data_gates import DATA_GATES, RAW_ASSET, data_gate_rules

    rules, feature_version = data_gate_rules(spec), features_code_version(spec)
    outcome = DayCurrency()
    to_rebuild = []
    with connect(layout.warehouse_path) as con:
        builds = con.execute(
            "SELECT day, arg_max(raw_hash, created_at), arg_max(code_version, created_at) FROM feature_versions "
            "WHERE dataset = ? AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
            [spec.name, start, end],
        ).fetchall()
        for day, raw_hash, code_version in builds:
            day = spec.grain.as_start(day)
            judged_under = latest_rules(con, dataset=spec.name, asset=RAW_ASSET, day=day, content_hash=raw_hash)
            stale = any(judged_under.get(gate) != rules for gate in DATA_GATES)
            if stale:
                judge_snapshot(con, spec, snapshot_by_hash(con, spec, day, raw_hash), run_id)
            unmet = unmet_gates(con, dataset=spec.name, asset=RAW_ASSET, day=day, content_hash=raw_hash,
                                required=list(DATA_GATES))
            if unmet:
                outcome.refused[spec.grain.label(day)] = "fails the current spec's data gates: " + "; ".join(unmet)
                continue
            if stale:
                outcome.rejudged[spec.grain.label(day)] = "judged under an earlier spec; passes the current data gates"
            if stale or code_version != feature_version:
                to_rebuild.append(day)
    for day in to_rebuild:  # in day order: a day's trailing rates read the days before it
        _build, checks = featurize_and_check(spec, layout, day, run_id)
        failed = [r for r in checks if not r.passed]
        if failed:
            outcome.refused[spec.grain.label(day)] = (
                "its features fail the current feature checks: " + "; ".join(f"{r.check}: {r.summary}" for r in failed))
        else:
            outcome.rebuilt[spec.grain.label(day)] = "features rebuilt under the current spec"
    return outcome
