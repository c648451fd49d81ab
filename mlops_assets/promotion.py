"""Promotion: the only code that moves the ``champion`` alias, and only past every gate.

The gates already blocked this run if any failed; promotion re-reads the verdict log anyway, so a
champion can never be set by a run that skipped its checks (a subset run, a bug, a hand-edit).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

from mlops_assets import ledger
from mlops_assets.evaluation.gating import MODEL_GATES
from mlops_assets.spec import DatasetSpec
from mlops_assets.state import StateLayout
from mlops_assets.tracking import CHAMPION_ALIAS, MODEL_SHA_TAG, ModelRegistry, verdicts_tag
from mlops_assets.verdicts import EVALUATION_ASSET, unmet_gates
from mlops_assets.warehouse import connect

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
    with its registry version, so the card attached to the version names it."""
    sha = candidate["model_sha256"]
    with connect(layout.warehouse_path) as con:
        unmet = unmet_gates(con, dataset=spec.name, asset=EVALUATION_ASSET, day=None, content_hash=sha,
                            required=list(MODEL_GATES))
        details = recorded_verdicts(con, spec.name, sha)
    if unmet:
        raise PromotionRefused(f"model {sha[:12]} did not pass every gate: " + "; ".join(unmet))
    if card.get("missing_sections"):
        raise PromotionRefused(f"model {sha[:12]}'s card is incomplete: {card['missing_sections']}")
    previous = registry.champion()
    if previous is not None and previous.tags.get(MODEL_SHA_TAG) == sha:
        # retraining on unchanged data reproduces the champion byte for byte: nothing changes
        return ledger.LedgerEntry(
            spec.name, "unchanged", previous.version, previous.version, sha, candidate["snapshot_hash"],
            dt.datetime.now(dt.timezone.utc), operator, dagster_run_id,
            "the candidate is byte-identical to the champion; alias and ledger unchanged", details,
        )
    version = registry.register(
        run_id=candidate["mlflow_run_id"],
        model_uri=candidate["model_uri"],
        tags={
            MODEL_SHA_TAG: sha,
            "snapshot_hash": candidate["snapshot_hash"],
            "dagster_run_id": dagster_run_id,
            "trained_by_run": candidate.get("dagster_run_id", ""),
            "code_version": candidate.get("code_version", ""),
            "threshold": str(candidate["threshold"]),
            "gate_verdicts": verdicts_tag(details),
            "trigger_reason": candidate.get("trigger_reason", ""),
            "model_card": "model_card/model_card.html",
        },
        description="",
    )
    markdown_path = rewrite_card(version)[0] if rewrite_card else Path(card["markdown"])
    registry.log_artifacts(candidate["mlflow_run_id"], markdown_path.parent, "model_card")
    registry.describe(version, _strip_images(markdown_path.read_text(encoding="utf-8")))
    registry.set_alias(CHAMPION_ALIAS, version)
    entry = ledger.LedgerEntry(
        dataset=spec.name,
        action="promote",
        from_version=previous.version if previous else None,
        to_version=version,
        model_sha256=sha,
        snapshot_hash=candidate["snapshot_hash"],
        recorded_at=dt.datetime.now(dt.timezone.utc),
        operator=operator,
        dagster_run_id=dagster_run_id,
        reason=f"every gate passed; trigger: {candidate.get('trigger_reason', 'manual run')}",
        verdicts=details,
    )
    with connect(layout.warehouse_path) as con:
        ledger.append(con, entry)
    return entry


def recorded_verdicts(con: Any, dataset: str, model_sha256: str) -> list[dict[str, Any]]:
    """The newest verdict of each promotion gate for this model, in gate order."""
    rows = con.execute(
        "SELECT check_name, arg_max(details_json, checked_at) FROM gate_results "
        "WHERE dataset = ? AND asset = ? AND content_hash = ? GROUP BY check_name",
        [dataset, EVALUATION_ASSET, model_sha256],
    ).fetchall()
    found = {name: json.loads(details)["stats"] for name, details in rows}
    return [found[name] for name in MODEL_GATES if name in found]


def _strip_images(markdown: str) -> str:
    """MLflow's description field is for text: inline base64 plots would make it megabytes."""
    return "\n".join(line for line in markdown.splitlines() if "data:image/png;base64" not in line)
