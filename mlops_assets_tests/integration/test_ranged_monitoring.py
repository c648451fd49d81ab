"""Ranged monitoring runs through Dagster: one run over several days stores the same predictions,
drift rows and performance rows and shows the same per-day materializations as one run per day; a
day that cannot be scored in the middle of a range stops only itself (its drift and performance),
never the other days', and the run names it and why."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mlops_assets_tests.conftest import outcomes_in_rows

from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.common import range_tags
from mlops_assets_tests.flight_names import INGEST_JOB, LATE, TRAIN_JOB
from mlops_assets.defs.resources import StateResource
from mlops_assets.defs.runs import quiet, step_failure_message
from mlops_assets.features.checks import FEATURES_ASSET
from mlops_assets.ingest.landing import replay

pytestmark = pytest.mark.integration

START = dt.date(2013, 1, 1)
TRAIN_DAYS = 14
MONITORED = [START + dt.timedelta(days=TRAIN_DAYS + i) for i in range(5)]  # labels of the last: the day after
PREDICTIONS, DRIFT, PERFORMANCE = (LATE.key(name) for name in ("batch_predictions", "drift_report", "live_performance"))
MONITORING = [PREDICTIONS, DRIFT, PERFORMANCE]
POINTER = "dagster/input_event_pointer/"
# Evidently's HTML report is for people and its path names the state folder; the numbers are ours
RUN_CONFIG = quiet(LATE.run_config({"drift_report": {"evidently_report": False}}))
# the pointer tags name the parent's key (a model's carry its prefix)
SCORES = PREDICTIONS.to_user_string()
PARENTS = {PREDICTIONS: {"nycflights_features": 0}, DRIFT: {"nycflights_features": 0, SCORES: 0},
           PERFORMANCE: {SCORES: 0, "raw_nycflights": 1}}


@pytest.fixture(scope="module")
def world(tmp_path_factory, flights_csv):
    """Twenty landed and ingested days, a champion trained on the first fourteen."""
    root = (tmp_path_factory.mktemp("ranged_monitoring") / "state").resolve()
    layout = StateLayout(root).ensure()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STATE_DIR_ENV, str(root))
        mp.setenv("DAGSTER_HOME", str(layout.dagster_home))
        mp.setenv("MLFLOW_TRACKING_URI", layout.mlflow_tracking_uri)
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.delenv(SPEC_ENV, raising=False)
        (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
        spec = outcomes_in_rows(load_spec(DEFAULT_SPEC_NAME))
        landed = replay(spec, layout, START, len(MONITORED) + TRAIN_DAYS + 1)
        defs = build_definitions(spec, StateResource(state_dir=str(root)))
        instance = dg.DagsterInstance.ephemeral()
        assert defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, tags=range_tags(landed[0].day, landed[-1].day), run_config=quiet()).success
        end = START + dt.timedelta(days=TRAIN_DAYS - 1)
        assert defs.resolve_job_def(TRAIN_JOB).execute_in_process(instance=instance, run_config=quiet(LATE.run_config({
            "training_snapshot": {"start_date": START.isoformat(), "end_date": end.isoformat()},
            "candidate_model": {"trials": 1},
        }))).success
        yield layout, defs, instance


def monitor(world, **selection) -> dg.ExecuteInProcessResult:
    _layout, defs, instance = world
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=MONITORING, run_config=RUN_CONFIG, raise_on_error=False, **selection)


def latest(instance: dg.DagsterInstance, key: dg.AssetKey, day: dt.date):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1).records
    return records[0]


def partition_view(instance: dg.DagsterInstance) -> dict:
    """(asset, day) -> the latest materialization's tags and metadata. The event pointer to the scores
    (materialized in the run) is checked to be the day's own scores, then left out: storage ids
    differ between runs."""
    view = {}
    for key in MONITORING:
        for day in MONITORED:
            record = latest(instance, key, day)
            tags = dict(record.event_log_entry.tags)
            if key != PREDICTIONS:
                assert tags.pop(POINTER + SCORES) == str(latest(instance, PREDICTIONS, day).storage_id)
            assert set(PARENTS[key]) == {tag.removeprefix(POINTER) for tag in tags if tag.startswith(POINTER)} | (
                {SCORES} if key != PREDICTIONS else set())
            assert tags["dagster/data_version"], (key, day)
            view[(key, day)] = (tags, dict(record.asset_materialization.metadata))
    return view


def stored_rows(layout: StateLayout) -> dict[str, set[tuple]]:
    """The monitoring tables' rows, without the times and run ids that differ between runs."""
    found = {}
    with connect(layout.warehouse_path) as con:
        for table in ("predictions_nycflights_late", "drift_history", "performance_history"):
            columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()
                       if c[0] not in ("scored_at", "computed_at", "run_id")]
            found[table] = set(con.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall())
    return found


@pytest.fixture(scope="module")
def day_by_day_then_ranged(world):
    layout, _defs, instance = world
    runs = [monitor(world, partition_key=day.isoformat()) for day in MONITORED]
    assert [run.success for run in runs] == [True] * len(MONITORED), [step_failure_message(r) for r in runs]
    before = partition_view(instance), stored_rows(layout)
    ranged = monitor(world, tags=range_tags(MONITORED[0], MONITORED[-1]))
    return before, ranged, (partition_view(instance), stored_rows(layout))


def test_a_ranged_monitoring_run_stores_and_shows_what_day_by_day_runs_do(day_by_day_then_ranged):
    (view, rows), ranged, (ranged_view, ranged_rows) = day_by_day_then_ranged
    assert ranged.success, step_failure_message(ranged)
    assert {table: len(found) for table, found in rows.items()}["predictions_nycflights_late"] > 0
    assert all(rows[table] for table in rows)
    assert ranged_rows == rows
    assert set(ranged_view) == set(view)
    for key, (tags, metadata) in view.items():
        assert ranged_view[key][0] == tags, key
        assert ranged_view[key][1] == metadata, key
    # each day was reported as its own materialization (after the range's output, which Dagster writes)
    own = [e for e in ranged.get_asset_materialization_events()
           if "ranged_run" not in e.step_materialization_data.materialization.metadata]
    assert sorted((e.asset_key.to_user_string(), e.partition) for e in own) == sorted(
        (key.to_user_string(), day.isoformat()) for key in MONITORING for day in MONITORED)


def test_a_day_that_cannot_be_scored_stops_only_itself(world, day_by_day_then_ranged):
    layout, _defs, _instance = world
    bad = MONITORED[2]
    with connect(layout.warehouse_path) as con:  # the day's features lose their verdicts: not checked
        con.execute("DELETE FROM gate_results WHERE asset = ? AND day = ?", [FEATURES_ASSET, bad])
    run = monitor(world, tags=range_tags(MONITORED[0], MONITORED[-1]))
    assert not run.success
    message = step_failure_message(run)
    assert f"batch_predictions: 1 of {len(MONITORED)} day(s) failed, {len(MONITORED) - 1} done; {bad}:" in message
    assert "missing or did not pass their checks" in message
    assert "drift_report done here" in message and "live_performance done here" in message
    others = {day.isoformat() for day in MONITORED if day != bad}
    materialized = {}
    for event in run.get_asset_materialization_events():
        materialized.setdefault(event.asset_key, set()).add(event.partition)
    assert materialized == {key: others for key in MONITORING}
    with connect(layout.warehouse_path) as con:
        scored_in_run = {row[0] for row in con.execute(
            "SELECT DISTINCT _day FROM predictions_nycflights_late WHERE run_id = ?", [run.run_id]).fetchall()}
        measured_in_run = {row[0] for row in con.execute(
            "SELECT DISTINCT CAST(day AS DATE) FROM performance_history WHERE run_id = ?", [run.run_id]).fetchall()}
    assert {d.isoformat() for d in scored_in_run} == others == {d.isoformat() for d in measured_in_run}


def test_the_replay_loop_runs_the_days_one_automation_tick_asks_for_in_one_run(world, day_by_day_then_ranged):
    from mlops_assets.defs.simulation import Loop

    layout, defs, instance = world
    spec = outcomes_in_rows(load_spec(DEFAULT_SPEC_NAME))
    loop = Loop(spec, layout, instance, evidently_every=0, say=lambda _: None)
    loop.run_automation(0)  # switched on: records where things stand
    new = [item.day for item in replay(spec, layout, MONITORED[-1] + dt.timedelta(days=2), 3)]
    assert defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, tags=range_tags(new[0], new[-1]), run_config=quiet()).success
    loop.run_automation(1)
    runs = [run for run in loop.log.runs if run["kind"] == "automation"]
    assert all(run["success"] for run in runs), runs
    spans = {run["key"].split(" ")[0]: run["key"].split(" ")[1].split(",") for run in runs}
    # three new days scored (and their drift) in one run; the two whose labels came, measured in one
    assert SCORES in spans[f"{new[0]}..{new[-1]}"]
    assert spans[f"{new[0]}..{new[1]}"] == [PERFORMANCE.to_user_string()]
    assert len(runs) <= 3
    for key in MONITORING:
        materialized = instance.get_materialized_partitions(key)
        assert {d.isoformat() for d in new[:2 if key == PERFORMANCE else 3]} <= materialized, key
