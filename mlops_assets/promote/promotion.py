"""Promotion: moves the ``champion`` alias forward, only past every gate (or a recorded override).

The gates already blocked this run if any failed; promotion re-reads the verdict log anyway, so a
champion can never be set by a run that skipped its checks (a subset run, a bug, a hand-edit).
The only other code that moves the alias is ``rollback``, backwards, to a version that was gated.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

from mlops_assets.promote import ledger
from mlops_assets.gate.registry import PROMOTION_GATES, gates_for
from mlops_assets.promote.agreement import check_agreement
from mlops_assets.gate.overrides import GateOverride, active_overrides
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.registry import CHAMPION_ALIAS, MANIFEST_TAG, MODEL_SHA_TAG, ModelRegistry, verdicts_tag
from mlops_assets.core.verdicts import GateResult, evaluation_asset, unmet_gates_by_name
from mlops_assets.core.warehouse import connect


class PromotionRefused(RuntimeError):
    """The candidate may not become champion; the message says which gate stands in the way."""


def promote(
    *,
    spec: DatasetSpec,
    layout: StateLayout,
    registry: ModelRegistry,
    candidate: dict[str, Any],
    card: dict[str, Any],
    dagster_run_id: str,
    operator: str,
    rewrite_card: Callable[[str], tuple[Path, Path]] | None = None,
) -> ledger.LedgerEntry:
    """Register the candidate and move the alias; ``rewrite_card(version)`` re-renders the card
    with its registry version, so the card attached to the version names it.

    Safe to run again after a crash at any point: a version already registered for this MLflow run
    is reused, and an alias that moved without its ledger row gets the row now.
    """
    sha = candidate["model_sha256"]
    with connect(layout.warehouse_path) as con:
        check_agreement(con, spec.model.name, registry)
        unmet = unmet_gates_by_name(con, dataset=spec.name, asset=evaluation_asset(spec.model.name), day=None, content_hash=sha,
                                    required=list(gates_for(spec.model.task)))
        in_force = active_overrides(con, spec.model.name, sha)
        details = recorded_verdicts(con, spec.model.name, sha)
        moves = [e for e in ledger.entries(con, spec.model.name) if e.action in ledger.ALIAS_MOVES]
    blocking = {gate: reason for gate, reason in unmet.items() if gate not in in_force}
    if blocking:
        raise PromotionRefused(
            f"model {sha[:12]} did not pass every gate: "
            + "; ".join(f"{gate}: {reason}" for gate, reason in blocking.items())
            + " (a recorded gate override is the only way past a failed gate: `mlops-assets override --help`)"
        )
    overridden = [in_force[gate] for gate in unmet]
    if card.get("missing_sections"):
        raise PromotionRefused(f"model {sha[:12]}'s card is incomplete: {card['missing_sections']}")
    previous = registry.champion()
    if previous is not None and previous.tags.get(MODEL_SHA_TAG) == sha:
        if any(move.to_version == previous.version for move in moves):
            # retraining on unchanged data reproduces the champion byte for byte: nothing changes
            return ledger.LedgerEntry(
                spec.model.name, "unchanged", previous.version, previous.version, sha, candidate["snapshot_hash"],
                dt.datetime.now(dt.timezone.utc), operator, dagster_run_id,
                f"unchanged: the candidate is the champion v{previous.version} (same sha256); "
                "alias, ledger and its registered card untouched",
                [verdict.to_dict() for verdict in details],
            )
        # an earlier run moved the alias and died before writing its ledger row: write it now
        from_version = moves[-1].to_version if moves else None
        return _record_promotion(layout, spec, candidate, from_version, previous.version, details, overridden,
                                 operator, dagster_run_id)
    version = registry.version_of_run(candidate["mlflow_run_id"], sha) or registry.register(
        run_id=candidate["mlflow_run_id"],
        model_uri=candidate["model_uri"],
        tags={
            MODEL_SHA_TAG: sha,
            MANIFEST_TAG: candidate[MANIFEST_TAG],
            "snapshot_hash": candidate["snapshot_hash"],
            "dagster_run_id": dagster_run_id,
            "trained_by_run": candidate.get("dagster_run_id", ""),
            "code_version": candidate.get("code_version", ""),
            **({"threshold": str(candidate["threshold"])} if candidate["threshold"] is not None else {}),
            "gate_verdicts": verdicts_tag([verdict.to_dict() for verdict in details]),
            "gate_overrides": overrides_tag(overridden),
            "trigger_reason": candidate.get("trigger_reason", ""),
            "model_card": "model_card/model_card.html",
        },
        description="",
    )
    markdown_path = rewrite_card(version)[0] if rewrite_card else Path(card["markdown"])
    registry.log_artifacts(candidate["mlflow_run_id"], markdown_path.parent, "model_card")
    registry.describe(version, _strip_images(markdown_path.read_text(encoding="utf-8")))
    registry.set_alias(CHAMPION_ALIAS, version)
    return _record_promotion(layout, spec, candidate, previous.version if previous else None, version, details,
                             overridden, operator, dagster_run_id)


def _record_promotion(
    layout: StateLayout,
    spec: DatasetSpec,
    candidate: dict[str, Any],
    from_version: str | None,
    version: str,
    details: list[GateResult],
    overridden: list[GateOverride],
    operator: str,
    dagster_run_id: str,
) -> ledger.LedgerEntry:
    trigger = candidate.get("trigger_reason") or "manual run"
    if overridden:
        reason = ("promoted past failed gate(s) by override: " + "; ".join(o.sentence() for o in overridden)
                  + f"; trigger: {trigger}")
    else:
        reason = f"every gate passed; trigger: {trigger}"
    entry = ledger.LedgerEntry(
        model=spec.model.name,
        action="promote",
        from_version=from_version,
        to_version=version,
        model_sha256=candidate["model_sha256"],
        snapshot_hash=candidate["snapshot_hash"],
        recorded_at=dt.datetime.now(dt.timezone.utc),
        operator=operator,
        dagster_run_id=dagster_run_id,
        reason=reason,
        verdicts=[verdict.to_dict() for verdict in details],
        overrides=[o.to_dict() for o in overridden],
    )
    with connect(layout.warehouse_path) as con:
        ledger.append(con, entry)
    return entry


def overrides_tag(overridden: list[GateOverride]) -> str:
    return json.dumps({o.gate: f"{o.operator} until {o.expires_at.isoformat(timespec='minutes')}" for o in overridden})


def recorded_verdicts(con: Any, model: str, model_sha256: str) -> list[GateResult]:
    """The newest verdict of each promotion gate for this model, in gate order."""
    rows = con.execute(
        "SELECT check_name, arg_max(passed, checked_at), arg_max(summary, checked_at), "
        "arg_max(details_json, checked_at) FROM gate_results "
        "WHERE asset = ? AND content_hash = ? GROUP BY check_name",
        [evaluation_asset(model), model_sha256],
    ).fetchall()
    found = {row[0]: GateResult.from_record(*row) for row in rows}
    return [found[name] for name in PROMOTION_GATES if name in found]


def _strip_images(markdown: str) -> str:
    """MLflow's description field is for text: inline base64 plots would make it megabytes."""
    return "\n".join(line for line in markdown.splitlines() if "data:image/png;base64" not in line)
