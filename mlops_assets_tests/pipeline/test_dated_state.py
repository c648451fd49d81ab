"""A warehouse written when every partition was a day (its catalog's partition columns DATEs) keeps
working: the first connection widens them to TIMESTAMPs in place, rows kept, and a day still reads
as a day, so what a daily dataset built before trains to the same snapshot."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.core.warehouse import CATALOG_DDL, CATALOG_PARTITION_COLUMNS, connect, table_columns
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import TRAINING_SNAPSHOTS_DDL, build_training_snapshot, load_training_snapshot
from mlops_assets.train.window import TrainingWindow, passed_feature_days
from mlops_assets.validate.data_gates import accepted_hashes

DATED = {**CATALOG_PARTITION_COLUMNS, "training_snapshots": ("start_day", "end_day")}


def _as_dates_were(con) -> None:
    """Rebuild the catalog as the daily-only code created it: the same tables with DATE columns."""
    for statement in (*CATALOG_DDL, TRAINING_SNAPSHOTS_DDL):
        for table in DATED:
            if f"CREATE TABLE IF NOT EXISTS {table} " in statement:
                con.execute(f"ALTER TABLE {table} RENAME TO {table}__now")
                dated = statement
                for column in DATED[table]:
                    dated = dated.replace(f"{column} TIMESTAMP", f"{column} DATE")
                con.execute(dated)
                for later in CATALOG_DDL:  # the columns added to it since (gate_results.rules)
                    if later.strip().startswith(f"ALTER TABLE {table} "):
                        con.execute(later)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {table}__now")
                con.execute(f"DROP TABLE {table}__now")


@pytest.fixture
def dated_state(state, spec, land_flights, flight_days):
    for day in flight_days[:3]:
        land_flights(day)
        assert all(r.passed for r in ingest_and_featurize(spec, state, day))
    before = build_training_snapshot(spec, state, TrainingWindow(min_days=2, holdout_days=1))
    import duckdb

    con = duckdb.connect(str(state.warehouse_path))  # not platform's connect: it would widen them again
    try:
        _as_dates_were(con)
        assert table_columns(con, "raw_snapshots")["day"] == "DATE"
    finally:
        con.close()
    return before


def test_a_catalog_of_dates_is_widened_in_place_and_days_read_as_days(dated_state, state, spec, flight_days,
                                                                    land_flights):
    with connect(state.warehouse_path) as con:
        for table in CATALOG_PARTITION_COLUMNS:
            assert table_columns(con, table)["day"] == "TIMESTAMP", table
        hashes = accepted_hashes(con, spec, flight_days[0], flight_days[3])
        assert sorted(hashes) == flight_days[:3] and all(type(day) is dt.date for day in hashes)
        assert sorted(passed_feature_days(con, spec, None, None)) == flight_days[:3]
    # the same days freeze to the same snapshot, and its dates are dates
    again = build_training_snapshot(spec, state, TrainingWindow(min_days=2, holdout_days=1))
    assert again.content_hash == dated_state.content_hash and again.days == dated_state.days
    loaded = load_training_snapshot(state, spec.name, dated_state.content_hash)
    assert (loaded.start, loaded.end) == (flight_days[0], flight_days[2]) and type(loaded.start) is dt.date
    with connect(state.warehouse_path) as con:
        assert table_columns(con, "training_snapshots")["start_day"] == "TIMESTAMP"
    # a new day is gated against the widened history (its row-count gate reads the earlier days)
    land_flights(flight_days[3])
    results = {r.check: r for r in ingest_and_featurize(spec, state, flight_days[3])}
    assert all(r.passed for r in results.values()) and results["check_row_count"].stats["trailing_partitions"] == 3
    with connect(state.warehouse_path) as con:
        assert sorted(passed_feature_days(con, spec, None, None)) == flight_days
