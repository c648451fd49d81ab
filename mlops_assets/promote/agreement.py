"""The ledger and the registry must agree on the champion before any gate runs.

The ledger (in the warehouse) and the ``champion`` alias (in MLflow) live in different stores, and
either can be lost on its own. A registry that lost its store reports "no champion", so without
this check the champion and slice gates would pass by rule and a new "version 1" would be promoted
over a champion that still exists on paper. So: when the ledger names a champion (version and
model sha256), the registry must still hold that version with that sha256 and have a ``champion``
alias, or the run stops naming both sides. The way out is to restore the MLflow store, or to
acknowledge the reset (``mlops-assets acknowledge-registry-reset``): a ledger row saying who
accepted that the old champion is gone and why, after which a new first champion may be promoted.

A registry *ahead* of the ledger (the alias moved, the run died before its ledger row) is not a
disagreement: promotion writes the missing row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets.core.registry import MODEL_SHA_TAG, ModelRegistry
from mlops_assets.core.secrets import redact
from mlops_assets.promote import ledger

REGISTRY_RESET = "registry_reset"
RECOVERY = (
    "restore the MLflow store (MLFLOW_TRACKING_URI / <state>/mlflow), or, if the old champion is gone for good, "
    "record that with `mlops-assets acknowledge-registry-reset --reason \"...\"` and train again"
)


class ChampionDisagreement(RuntimeError):
    """The ledger names a champion the registry cannot produce; the message names both and the way out."""


def ledger_champion(entries: list[ledger.LedgerEntry]) -> ledger.LedgerEntry | None:
    """The ledger row that made the current champion, or None (never promoted, or reset acknowledged)."""
    moves = [e for e in entries if e.action in (*ledger.ALIAS_MOVES, REGISTRY_RESET)]
    if not moves or moves[-1].action == REGISTRY_RESET:
        return None
    return moves[-1]


def disagreement(con: Any, model: str, registry: ModelRegistry) -> str | None:
    """Why the registry cannot produce the ledger's champion, or None when they agree."""
    expected = ledger_champion(ledger.entries(con, model))
    if expected is None:
        return None
    names = f"the ledger's champion is {registry.model_name} version {expected.to_version} " \
            f"(model {expected.model_sha256[:12]}, {expected.action} at {expected.recorded_at:%Y-%m-%d %H:%M})"
    try:
        held = registry.version(expected.to_version)
    except Exception as error:  # noqa: BLE001 - MLflow's RestException, or a store that cannot be reached
        return f"{names}, but the registry at {_where(registry)} cannot produce it ({_first_line(error)})"
    held_sha = held.tags.get(MODEL_SHA_TAG, "")
    if held_sha != expected.model_sha256:
        return (f"{names}, but the registry's version {held.version} is model {held_sha[:12] or '(no sha256 tag)'}: "
                "a different model under the same number")
    if registry.champion() is None:
        return f"{names}, but the registry has no `champion` alias"
    return None


def check_agreement(con: Any, model: str, registry: ModelRegistry) -> None:
    """Raise ChampionDisagreement when the registry cannot produce the ledger's champion."""
    problem = disagreement(con, model, registry)
    if problem:
        raise ChampionDisagreement(f"{problem}. No gate was run and nothing was promoted; {RECOVERY}")


def acknowledge_reset(con: Any, model: str, registry: ModelRegistry, *, operator: str, reason: str) -> ledger.LedgerEntry:
    """Record, as a ledger row, that the ledger's champion is gone from the registry for good."""
    if not operator or not operator.strip():
        raise ChampionDisagreement("acknowledging a registry reset needs an operator: who accepts it")
    if not reason or not reason.strip():
        raise ChampionDisagreement("acknowledging a registry reset needs a reason")
    problem = disagreement(con, model, registry)
    if problem is None:
        raise ChampionDisagreement(
            f"the ledger and the registry {registry.model_name} agree on the champion: there is no reset to acknowledge"
        )
    lost = ledger_champion(ledger.entries(con, model))
    entry = ledger.LedgerEntry(
        model=model, action=REGISTRY_RESET, from_version=lost.to_version, to_version="",
        model_sha256=lost.model_sha256, snapshot_hash=lost.snapshot_hash,
        recorded_at=dt.datetime.now(dt.timezone.utc), operator=operator.strip(), dagster_run_id=None,
        reason=f"registry reset acknowledged: {reason.strip()} ({problem})", verdicts=[],
    )
    ledger.append(con, entry)
    return entry


def _where(registry: ModelRegistry) -> str:
    return redact(registry.tracking_uri)


def _first_line(error: BaseException) -> str:
    return redact(" ".join(str(error).split())[:200]) or type(error).__name__
