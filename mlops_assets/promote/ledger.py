"""The promotion ledger: an append-only table of every change to who the champion is."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from mlops_assets.core.warehouse import ensure_model_keyed

LEDGER_DDL = """
    CREATE TABLE IF NOT EXISTS promotion_ledger (
        model VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        from_version VARCHAR,
        to_version VARCHAR NOT NULL,
        model_sha256 VARCHAR NOT NULL,
        snapshot_hash VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        operator VARCHAR NOT NULL,
        dagster_run_id VARCHAR,
        reason VARCHAR NOT NULL,
        verdicts_json VARCHAR NOT NULL,
        overrides_json VARCHAR NOT NULL DEFAULT '[]'
    )
"""
# ledgers written before gate overrides existed gain the column in place
LEDGER_MIGRATION = "ALTER TABLE promotion_ledger ADD COLUMN IF NOT EXISTS overrides_json VARCHAR DEFAULT '[]'"
COLUMNS = ("model, action, from_version, to_version, model_sha256, snapshot_hash, recorded_at, operator, "
           "dagster_run_id, reason, verdicts_json, overrides_json")
# the actions that move the champion alias
ALIAS_MOVES = ("promote", "rollback")
# the run tags Dagster sets on a run a sensor or schedule requested, and the ones naming a launching user
SENSOR_TAG, SCHEDULE_TAG, AUTOMATION_TAG = "dagster/sensor_name", "dagster/schedule_name", "dagster/from_automation_condition"
USER_TAGS = ("user", "dagster/user")


@dataclass(frozen=True)
class LedgerEntry:
    model: str
    action: str
    from_version: str | None
    to_version: str
    model_sha256: str
    snapshot_hash: str
    recorded_at: dt.datetime
    operator: str
    dagster_run_id: str | None
    reason: str
    verdicts: list[dict[str, Any]]
    overrides: list[dict[str, Any]] = field(default_factory=list)


def run_operator(tags: Mapping[str, str], run_id: str, local_user: str | None = None) -> str:
    """Who acted, for the ledger: the sensor or schedule (and run) that requested an automatic run,
    else the user who launched it (a run tag, else ``local_user``: the OS user of the process that
    launched it), else the run alone. Never a bare "dagster": the ledger must say who to ask."""
    if tags.get(SENSOR_TAG):
        return f"sensor {tags[SENSOR_TAG]} (run {run_id})"
    if tags.get(SCHEDULE_TAG):
        return f"schedule {tags[SCHEDULE_TAG]} (run {run_id})"
    if tags.get(AUTOMATION_TAG):
        return f"automation condition (run {run_id})"
    user = next((tags[t].strip() for t in USER_TAGS if tags.get(t, "").strip()), None)
    if user:
        return user
    if local_user and local_user.strip():
        # the OS user of the process that ran it: the launcher for the CLI, the server's for the UI
        return f"{local_user.strip()} (run {run_id})"
    return f"unknown operator (run {run_id})"


def os_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (some containers)
        return None


def _ensure(con: Any) -> None:
    ensure_model_keyed(con, LEDGER_DDL)
    con.execute(LEDGER_MIGRATION)


def append(con: Any, entry: LedgerEntry) -> None:
    _ensure(con)
    con.execute(
        f"INSERT INTO promotion_ledger ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [entry.model, entry.action, entry.from_version, entry.to_version, entry.model_sha256,
         entry.snapshot_hash, entry.recorded_at, entry.operator, entry.dagster_run_id, entry.reason,
         json.dumps(entry.verdicts), json.dumps(entry.overrides)],
    )


def entries(con: Any, model: str) -> list[LedgerEntry]:
    _ensure(con)
    rows = con.execute(
        f"SELECT {COLUMNS} FROM promotion_ledger WHERE model = ? ORDER BY recorded_at", [model]
    ).fetchall()
    return [LedgerEntry(*row[:10], json.loads(row[10]), json.loads(row[11] or "[]")) for row in rows]


def last_move_to(con: Any, model: str, version: str, actions: tuple[str, ...] = ALIAS_MOVES) -> LedgerEntry | None:
    """The newest ledger row (of ``actions``) that made ``version`` the champion, if any."""
    moves = [e for e in entries(con, model) if e.action in actions and e.to_version == version]
    return moves[-1] if moves else None
