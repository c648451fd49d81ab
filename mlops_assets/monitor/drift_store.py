"""Where drift lives in the warehouse: the pinned reference bins (a cache per champion and bins
version) and ``drift_history``, one row per (day, feature, statistic), drifted or not.

``drift_history`` was once wide, a ``psi`` column per row: a state folder that still has that
shape is migrated in place the first time the tables are used, in one transaction, its values
becoming the ``psi`` rows of the long table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain
from mlops_assets.core.warehouse import ensure_model_keyed, table_columns, table_exists, transaction

REFERENCE_BINS_DDL = """
    CREATE TABLE IF NOT EXISTS drift_reference_bins (
        model VARCHAR NOT NULL, snapshot_hash VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL,
        bins_version VARCHAR NOT NULL, feature VARCHAR NOT NULL, bins_json VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
"""
HISTORY_DDL = """
    CREATE TABLE IF NOT EXISTS drift_history (
        model VARCHAR NOT NULL, day TIMESTAMP NOT NULL, feature VARCHAR NOT NULL, statistic VARCHAR NOT NULL,
        value DOUBLE NOT NULL, level VARCHAR NOT NULL, reference_snapshot VARCHAR NOT NULL,
        champion_version VARCHAR NOT NULL, computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR
    )
"""
HISTORY_COLUMNS = (
    "model", "day", "feature", "statistic", "value", "level", "reference_snapshot", "champion_version",
    "computed_at", "run_id",
)
WIDE_STATISTIC = "psi"  # the only statistic the wide table held


def ensure_drift_tables(con: Any) -> None:
    """Create the drift tables, or migrate a wide ``drift_history`` to the long shape."""
    migrate_wide_history(con)
    ensure_model_keyed(con, REFERENCE_BINS_DDL)
    ensure_model_keyed(con, HISTORY_DDL, partition_columns=("day",))


def migrate_wide_history(con: Any) -> None:
    """A wide ``drift_history`` becomes the long table, keeping its owner column (``dataset`` in a
    state folder from before models, which ``core.migrate`` then renames)."""
    if _is_wide(con):
        with transaction(con):
            if _is_wide(con):  # checked again inside: another process may have migrated meanwhile
                _migrate_wide_history(con)


def _is_wide(con: Any) -> bool:
    return table_exists(con, "drift_history") and "statistic" not in table_columns(con, "drift_history")


def _migrate_wide_history(con: Any) -> None:
    owner = "model" if "model" in table_columns(con, "drift_history") else "dataset"
    con.execute("ALTER TABLE drift_history RENAME TO drift_history_wide")
    con.execute(HISTORY_DDL.replace("model VARCHAR", f"{owner} VARCHAR", 1))
    columns = ", ".join(HISTORY_COLUMNS).replace("model", owner, 1)
    con.execute(
        f"INSERT INTO drift_history ({columns}) "
        f"SELECT {owner}, day, feature, '{WIDE_STATISTIC}', psi, level, reference_snapshot, champion_version, "
        "computed_at, run_id FROM drift_history_wide"
    )
    con.execute("DROP TABLE drift_history_wide")


def record_day(con: Any, model: str, day: dt.date, rows: list[tuple[str, str, float, str]],
               reference_snapshot: str, champion_version: str, run_id: str | None) -> None:
    """Replace ``day``'s drift with ``rows`` of (feature, statistic, value, level), atomically."""
    ensure_drift_tables(con)
    now = dt.datetime.now(dt.timezone.utc)
    with transaction(con):
        con.execute("DELETE FROM drift_history WHERE model = ? AND day = ?", [model, day])
        con.executemany(
            f"INSERT INTO drift_history ({', '.join(HISTORY_COLUMNS)}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})",
            [[model, day, feature, statistic, value, level, reference_snapshot, champion_version, now, run_id]
             for feature, statistic, value, level in rows],
        )


def drift_history(con: Any, model: str, since: dt.date | None = None, statistic: str | None = None, *,
                  grain: Grain = GRAINS[DEFAULT_GRAIN]) -> list[tuple[dt.date, str, str, float, str]]:
    """(day, feature, statistic, value, level) rows, oldest first; of one statistic if named. Days
    are partition starts of the model's ``grain`` (any date grain reads them as dates)."""
    ensure_drift_tables(con)
    rows = con.execute(
        "SELECT day, feature, statistic, value, level FROM drift_history WHERE model = ? "
        "AND (? IS NULL OR day >= ?) AND (? IS NULL OR statistic = ?) ORDER BY day, feature, statistic",
        [model, since, since, statistic, statistic],
    ).fetchall()
    return [(grain.as_start(day), *rest) for day, *rest in rows]
