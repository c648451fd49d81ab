"""Gate overrides: a person accepting one failed promotion gate for one model, for a limited time.

An override never changes a verdict: the gate stays failed in the verdict log, in Dagster (as a
warning instead of an error) and on the model card. It only lets promotion (or a rollback) go past
that gate until it expires. Overrides are append-only rows: who, why, when, until when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

from mlops_assets.core.warehouse import ensure_model_keyed

MAX_OVERRIDE_DAYS = 90

OVERRIDES_DDL = """
    CREATE TABLE IF NOT EXISTS gate_overrides (
        model VARCHAR NOT NULL,
        model_sha256 VARCHAR NOT NULL,
        gate VARCHAR NOT NULL,
        operator VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        granted_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )
"""


class OverrideRefused(ValueError):
    """The override request is incomplete or unsafe; the message says which field."""


@dataclass(frozen=True)
class GateOverride:
    model: str
    model_sha256: str
    gate: str
    operator: str
    reason: str
    granted_at: dt.datetime
    expires_at: dt.datetime

    def active(self, now: dt.datetime) -> bool:
        return self.granted_at <= now < self.expires_at

    def to_dict(self) -> dict[str, str]:
        return {"gate": self.gate, "operator": self.operator, "reason": self.reason,
                "granted_at": self.granted_at.isoformat(timespec="seconds"),
                "expires_at": self.expires_at.isoformat(timespec="seconds")}

    def sentence(self) -> str:
        return (f"{self.gate} overridden by {self.operator} until "
                f"{self.expires_at.isoformat(timespec='minutes')}: {self.reason}")


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``YYYY-MM-DD`` (end of that day, UTC) or an ISO timestamp; naive times are UTC."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise OverrideRefused(f"override expiry {text!r} is not a date (YYYY-MM-DD) or an ISO timestamp") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def grant(
    con: Any,
    *,
    model: str,
    model_sha256: str,
    gates: Sequence[str],
    operator: str,
    reason: str,
    expires_at: dt.datetime,
    known_gates: Sequence[str],
    now: dt.datetime | None = None,
) -> list[GateOverride]:
    """Record one override per gate; refuses an anonymous, unexplained, endless or unknown one."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not operator or not operator.strip():
        raise OverrideRefused("an override needs an operator: who accepts the failed gate")
    if not reason or not reason.strip():
        raise OverrideRefused("an override needs a reason: why the failed gate may be ignored")
    if expires_at.tzinfo is None:
        raise OverrideRefused("override expiry must carry a time zone")
    if expires_at <= now:
        raise OverrideRefused(f"override expiry {expires_at.isoformat()} is not in the future")
    if expires_at - now > dt.timedelta(days=MAX_OVERRIDE_DAYS):
        raise OverrideRefused(f"an override may last at most {MAX_OVERRIDE_DAYS} days; got until {expires_at.date()}")
    unknown = sorted(set(gates) - set(known_gates))
    if unknown or not gates:
        raise OverrideRefused(f"unknown gate(s) {unknown or '[]'}; the promotion gates are {list(known_gates)}")
    granted = [GateOverride(model, model_sha256, gate, operator.strip(), reason.strip(), now, expires_at)
               for gate in gates]
    ensure_model_keyed(con, OVERRIDES_DDL)
    for item in granted:
        con.execute(
            "INSERT INTO gate_overrides VALUES (?, ?, ?, ?, ?, ?, ?)",
            [item.model, item.model_sha256, item.gate, item.operator, item.reason, item.granted_at, item.expires_at],
        )
    return granted


def overrides_for(con: Any, model: str, model_sha256: str) -> list[GateOverride]:
    """Every override ever granted for this model, oldest first (expired ones included)."""
    ensure_model_keyed(con, OVERRIDES_DDL)
    rows = con.execute(
        "SELECT * FROM gate_overrides WHERE model = ? AND model_sha256 = ? ORDER BY granted_at",
        [model, model_sha256],
    ).fetchall()
    return [GateOverride(*row[:5], _utc(row[5]), _utc(row[6])) for row in rows]


def active_overrides(
    con: Any, model: str, model_sha256: str, now: dt.datetime | None = None
) -> dict[str, GateOverride]:
    """gate -> the override in force now (the one lasting longest, if several)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    active: dict[str, GateOverride] = {}
    for item in overrides_for(con, model, model_sha256):
        if item.active(now) and (item.gate not in active or item.expires_at > active[item.gate].expires_at):
            active[item.gate] = item
    return active


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
