"""drift_history, one row per (day, feature, statistic): written and read by name; the old wide
table (a psi column) migrated to that shape in one transaction; a table keyed by dataset (written
before models were named) refused, naming the command that migrates it."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mlops_assets.core.warehouse import SingleModelStateError
from mlops_assets.monitor.drift_store import drift_history, migrate_wide_history, record_day

DAY = dt.date(2013, 7, 1)
NOW = dt.datetime(2013, 7, 2, tzinfo=dt.timezone.utc)
WIDE_DDL = """
    CREATE TABLE drift_history (
        dataset VARCHAR NOT NULL, day DATE NOT NULL, feature VARCHAR NOT NULL, psi DOUBLE NOT NULL,
        level VARCHAR NOT NULL, reference_snapshot VARCHAR NOT NULL, champion_version VARCHAR NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR
    )
"""


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _wide_history(con) -> None:
    con.execute(WIDE_DDL)
    con.executemany("INSERT INTO drift_history VALUES (?, ?, ?, ?, ?, 'snap', '1', ?, ?)", [
        ["nycflights", DAY, "origin_temp", 1.25, "high", NOW, "run-a"],
        ["nycflights", DAY, "carrier", 0.01, "none", NOW, "run-a"],
        ["nycflights", DAY + dt.timedelta(days=1), "origin_temp", 0.21, "moderate", NOW, None],
    ])


def test_a_wide_history_is_migrated_in_place_to_psi_rows(con):
    _wide_history(con)
    migrate_wide_history(con)
    rows = con.execute("SELECT day, feature, statistic, value, level FROM drift_history WHERE dataset = 'nycflights' "
                       "ORDER BY day, feature").fetchall()
    midnight = dt.datetime.combine(DAY, dt.time())  # the long table stores a partition's start as a TIMESTAMP
    assert rows == [
        (midnight, "carrier", "psi", 0.01, "none"),
        (midnight, "origin_temp", "psi", 1.25, "high"),
        (midnight + dt.timedelta(days=1), "origin_temp", "psi", 0.21, "moderate"),
    ]
    columns = [row[0] for row in con.execute("DESCRIBE drift_history").fetchall()]
    assert "psi" not in columns and {"statistic", "value"} <= set(columns)
    kept = con.execute("SELECT reference_snapshot, champion_version, computed_at, run_id FROM drift_history "
                       "WHERE feature = 'origin_temp' AND day = ?", [DAY]).fetchall()
    assert kept == [("snap", "1", NOW, "run-a")]
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "drift_history_wide" not in tables
    migrate_wide_history(con)  # idempotent: a second use changes nothing
    assert con.execute("SELECT count(*) FROM drift_history").fetchall() == [(3,)]


def test_a_history_keyed_by_dataset_is_refused_naming_the_migration(con):
    _wide_history(con)
    with pytest.raises(SingleModelStateError, match="run `mlops-assets migrate` once"):
        drift_history(con, "nycflights_late")
    assert con.execute("SELECT count(*) FROM drift_history").fetchall() == [(3,)]  # nothing lost


class FailsOn:
    """A connection that fails on the statement starting with ``prefix``, as a full disk would."""

    def __init__(self, con, prefix: str):
        self.con, self.prefix = con, prefix

    def execute(self, sql: str, *args):
        if sql.lstrip().startswith(self.prefix):
            raise OSError("disk full")
        return self.con.execute(sql, *args)


def test_a_failed_migration_leaves_the_wide_table_as_it_was(con):
    _wide_history(con)
    with pytest.raises(OSError, match="disk full"):  # the last step of the migration fails
        migrate_wide_history(FailsOn(con, "DROP TABLE drift_history_wide"))
    columns = [row[0] for row in con.execute("DESCRIBE drift_history").fetchall()]
    assert "psi" in columns and "statistic" not in columns  # one transaction: nothing half-migrated
    assert con.execute("SELECT count(*) FROM drift_history").fetchall() == [(3,)]
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"drift_history"}
    migrate_wide_history(con)  # and the next attempt migrates it
    assert con.execute("SELECT count(*) FROM drift_history WHERE statistic = 'psi'").fetchall() == [(3,)]


def test_a_day_is_replaced_whole_and_read_by_statistic(con):
    record_day(con, "nycflights", DAY, [("origin_temp", "psi", 0.5, "high"), ("origin_temp", "other", 0.1, "none")],
               "snap", "1", "run-a")
    record_day(con, "nycflights", DAY, [("origin_temp", "psi", 0.4, "high"), ("carrier", "psi", 0.0, "none")],
               "snap", "1", "run-b")
    assert drift_history(con, "nycflights") == [(DAY, "carrier", "psi", 0.0, "none"), (DAY, "origin_temp", "psi", 0.4, "high")]
    record_day(con, "nycflights", DAY + dt.timedelta(days=1), [("carrier", "other", 0.3, "high")], "snap", "1", None)
    assert drift_history(con, "nycflights", statistic="other") == [(DAY + dt.timedelta(days=1), "carrier", "other", 0.3, "high")]
    assert drift_history(con, "nycflights", since=DAY + dt.timedelta(days=1)) == drift_history(con, "nycflights", statistic="other")
    assert drift_history(con, "another_dataset") == []
