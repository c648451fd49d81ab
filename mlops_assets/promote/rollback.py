"""Rollback: move ``champion`` back to the previous champion or to a named version, safely.

Before the alias moves, the target must have passed every promotion gate (or carry a gate override
in force), its artifact must match the sha256 recorded at training, and it must reproduce the
predictions stored with it on its smoke sample. Every rollback is a ledger row: who, why, from, to.
Scoring loads the champion by alias, so its next run uses the rolled-back model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets.promote import ledger
from mlops_assets.gate.registry import gates_for
from mlops_assets.promote.agreement import ChampionDisagreement, check_agreement
from mlops_assets.gate.overrides import active_overrides, grant
from mlops_assets.promote.promotion import recorded_verdicts
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.registry import CHAMPION_ALIAS, MODEL_SHA_TAG, ModelRegistry
from mlops_assets.core.verdicts import evaluation_asset, unmet_gates_by_name
from mlops_assets.core.warehouse import connect


class RollbackRefused(RuntimeError):
    """The rollback would not be safe; the message says what is wrong with the target."""


def rollback(
    *,
    spec: DatasetSpec,
    layout: StateLayout,
    registry: ModelRegistry,
    operator: str,
    reason: str,
    to_version: str | None = None,
    override_until: dt.datetime | None = None,
    dagster_run_id: str | None = None,
) -> ledger.LedgerEntry:
    """Make ``to_version`` (default: the champion before the current one) the champion again.

    ``override_until`` lets a version that never passed the gates through, recorded as a gate
    override (operator, reason, expiry) for each unmet gate.
    """
    from mlops_assets.train.smoke import smoke_test

    if not operator or not operator.strip():
        raise RollbackRefused("a rollback needs an operator: who is rolling back")
    if not reason or not reason.strip():
        raise RollbackRefused("a rollback needs a reason")
    with connect(layout.warehouse_path) as con:
        try:
            check_agreement(con, spec.model.name, registry)
        except ChampionDisagreement as error:
            raise RollbackRefused(str(error)) from error
    current = registry.champion()
    if current is None:
        raise RollbackRefused(f"{registry.model_name} has no champion to roll back from")
    with connect(layout.warehouse_path) as con:
        target_version = to_version or _previous_champion(con, spec.model.name, current.version)
    if str(target_version) == current.version:
        raise RollbackRefused(f"version {current.version} is already the champion")
    try:
        target = registry.version(str(target_version))
    except Exception as error:  # noqa: BLE001 - MLflow's RestException for an unknown version
        raise RollbackRefused(f"{registry.model_name} has no version {target_version!r}") from error
    sha = target.tags.get(MODEL_SHA_TAG)
    if not sha:
        raise RollbackRefused(f"version {target.version} has no {MODEL_SHA_TAG} tag; its artifact cannot be verified")

    now = dt.datetime.now(dt.timezone.utc)
    with connect(layout.warehouse_path) as con:
        unmet = unmet_gates_by_name(con, dataset=spec.name, asset=evaluation_asset(spec.model.name), day=None, content_hash=sha,
                                    required=list(gates_for(spec.model.task)))
        in_force = active_overrides(con, spec.model.name, sha, now)
        verdicts = recorded_verdicts(con, spec.model.name, sha)
    uncovered = {gate: why for gate, why in unmet.items() if gate not in in_force}
    if uncovered and override_until is None:
        raise RollbackRefused(
            f"version {target.version} never passed the gates ("
            + "; ".join(f"{gate}: {why}" for gate, why in uncovered.items())
            + "); roll back to it only with an override (override_until)"
        )

    try:
        loaded = registry.load_version(target)  # checks the artifact's sha256 before loading
    except Exception as error:  # noqa: BLE001 - a missing or tampered artifact is the finding
        raise RollbackRefused(f"version {target.version} cannot be loaded safely: {error}") from error
    try:
        smoke_test(loaded, loaded.smoke_sample, f"version {target.version}")
    except Exception as error:  # noqa: BLE001
        raise RollbackRefused(str(error)) from error

    overrides = []
    with connect(layout.warehouse_path) as con:
        if uncovered:
            granted = grant(con, model=spec.model.name, model_sha256=sha, gates=list(uncovered), operator=operator,
                            reason=f"rollback: {reason}", expires_at=override_until, known_gates=list(gates_for(spec.model.task)),
                            now=now)
            overrides = [o.to_dict() for o in granted]
        overrides += [in_force[gate].to_dict() for gate in unmet if gate in in_force]
    registry.set_alias(CHAMPION_ALIAS, target.version)
    entry = ledger.LedgerEntry(
        model=spec.model.name,
        action="rollback",
        from_version=current.version,
        to_version=target.version,
        model_sha256=sha,
        snapshot_hash=target.tags.get("snapshot_hash", ""),
        recorded_at=dt.datetime.now(dt.timezone.utc),
        operator=operator.strip(),
        dagster_run_id=dagster_run_id,
        reason=reason.strip(),
        verdicts=[verdict.to_dict() for verdict in verdicts],
        overrides=overrides,
    )
    with connect(layout.warehouse_path) as con:
        ledger.append(con, entry)
    return entry


def _previous_champion(con: Any, model: str, current_version: str) -> str:
    """The champion that ``current_version`` replaced when it was promoted, per the ledger.

    Promotions only: rolling back twice walks further back in history instead of undoing itself.
    """
    move = ledger.last_move_to(con, model, current_version, actions=("promote",))
    if move is None or move.from_version is None:
        raise RollbackRefused(
            f"the ledger names no champion before version {current_version}; name the version to roll back to"
        )
    return move.from_version
