"""Alerts: every failed run recorded with a readable reason, and posted to a webhook if configured."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

from mlops_assets.core.secrets import redact, redact_url
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect

ALERTS_DDL = """
    CREATE TABLE IF NOT EXISTS alerts (
        raised_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL, job VARCHAR NOT NULL,
        partition VARCHAR, reason VARCHAR NOT NULL, webhook_status VARCHAR NOT NULL
    )
"""


def record_alert(layout: StateLayout, *, run_id: str, job: str, partition: str | None, reason: str,
                 webhook_url: str | None) -> str:
    """Store the alert and post it; returns the webhook outcome ("not configured", "sent 200", ...)."""
    payload = {"run_id": run_id, "job": job, "partition": partition, "reason": reason}
    status = post_webhook(webhook_url, payload) if webhook_url else "not configured"
    with connect(layout.warehouse_path) as con:
        con.execute(ALERTS_DDL)
        con.execute("INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                    [dt.datetime.now(dt.timezone.utc), run_id, job, partition, reason, status])
    return status


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
    """POST JSON; an unreachable webhook is reported in the alert row, never raised."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"sent {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        # the URL (often holding its token) must not land in the alerts table
        return f"failed: {redact(str(error).replace(url, redact_url(url)))}"


def alerts(con: Any) -> list[tuple]:
    con.execute(ALERTS_DDL)
    return con.execute("SELECT raised_at, run_id, job, partition, reason, webhook_status FROM alerts ORDER BY raised_at").fetchall()


def readable_reason(step_failures: list[tuple[str, str]], fallback: str) -> str:
    """'step: first line of its error' for each failed step, else Dagster's run-level message."""
    if not step_failures:
        return fallback
    return "; ".join(f"{step}: {message.strip().splitlines()[0] if message.strip() else 'failed'}"
                     for step, message in step_failures)
