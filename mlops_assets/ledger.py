"""The promotion ledger: an append-only table of every change to who the champion is."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

LEDGER_DDL = """
    CREATE TABLE IF NOT EXISTS promotion_ledger (
        dataset VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        from_version VARCHAR,
        to_version VARCHAR NOT NULL,
        model_sha256 VARCHAR NOT NULL,
        snapshot_hash VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        operator VARCHAR NOT NULL,
        dagster_run_id VARCHAR,
        reason VARCHAR NOT NULL,
        verdicts_json VARCHAR NOT NULL
    )
"""


@dataclass(frozen=True)
class LedgerEntry:
    dataset: str
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


def append(con: Any, entry: LedgerEntry) -> None:
    con.execute(LEDGER_DDL)
    con.execute(
        "INSERT INTO promotion_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [entry.dataset, entry.action, entry.from_version, entry.to_version, entry.model_sha256,
         entry.snapshot_hash, entry.recorded_at, entry.operator, entry.dagster_run_id, entry.reason,
         json.dumps(entry.verdicts)],
    )


def entries(con: Any, dataset: str) -> list[LedgerEntry]:
    con.execute(LEDGER_DDL)
    rows = con.execute(
        "SELECT * FROM promotion_ledger WHERE dataset = ? ORDER BY recorded_at", [dataset]
    ).fetchall()
    return [LedgerEntry(*row[:10], json.loads(row[10])) for row in rows]
