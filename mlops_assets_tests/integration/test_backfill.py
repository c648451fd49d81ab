"""Ranged runs through Dagster: one ingest_job run over several days stores and shows what one run
per day does (snapshots, data versions, verdicts, features, per-partition materializations and check
evaluations), and a day failing a data gate in the middle stops itself and the days after it, never
the days before it."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.defs.runs import QUIET_RUN_CONFIG, step_failure_message
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.common import range_tags
from mlops_assets_tests.flight_names import FLIGHTS, INGEST_JOB, LABELS_JOB
from mlops_assets.defs.resources import StateResource
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.ingest.landing import landing_path
from mlops_assets.validate.data_gates import DATA_GATES
from mlops_assets_tests.integration.test_data_lifecycle import stored_state

pytestmark = pytest.mark.integration

RAW = dg.AssetKey("raw_nycflights")
FEATURES = dg.AssetKey("nycflights_features")
POINTER = "dagster/input_event_pointer/raw_nycflights"


@dataclass
class Ingested:
    layout: StateLayout
    instance: dg.DagsterInstance
    results: list[dg.ExecuteInProcessResult]


def ingest(root, spec, flight_landing, days: list[dt.date], ranged: bool, spoil=None):
    """Land ``days`` in a fresh state folder and run ingest_job over them: one ranged run, or one run
    a day; ``spoil(day, path)`` may edit a landed file first. Yields an Ingested."""
    layout = StateLayout(root).ensure()
    for day in days:
        target = landing_path(layout, spec, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(flight_landing[day].path, target)
        if spoil:
            spoil(day, target)
    job = build_definitions(spec, StateResource(state_dir=str(layout.root))).resolve_job_def(INGEST_JOB)
    with dg.instance_for_test(temp_dir=str(layout.dagster_home)) as instance:
        selections = [{"tags": range_tags(days[0], days[-1])}] if ranged else [{"partition_key": d.isoformat()} for d in days]
        results = [job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG, **selection)
                   for selection in selections]
        yield Ingested(layout, instance, results)


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory, spec, flight_landing, flight_days):
    yield from ingest(tmp_path_factory.mktemp("day_by_day"), spec, flight_landing, flight_days, ranged=False)


@pytest.fixture(scope="module")
def ranged(tmp_path_factory, spec, flight_landing, flight_days):
    yield from ingest(tmp_path_factory.mktemp("ranged"), spec, flight_landing, flight_days, ranged=True)


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, day: dt.date):
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1).records
    return records[0] if records else None


def latest_evaluations(instance: dg.DagsterInstance) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check, partition) -> the newest evaluation, over every run of the instance."""
    latest = {}
    for run in reversed(instance.get_runs()):  # oldest first
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.dagster_event.event_specific_data
            latest[(evaluation.check_name, evaluation.partition)] = evaluation
    return latest


def verdicts(layout: StateLayout) -> set[tuple]:
    with connect(layout.warehouse_path) as con:
        return set(con.execute("SELECT asset, day, check_name, passed, content_hash FROM gate_results").fetchall())


def test_a_ranged_run_stores_what_day_by_day_runs_store(day_by_day, ranged, spec, flight_days):
    assert [r.success for r in day_by_day.results] == [True] * len(flight_days)
    (run,) = ranged.results
    assert run.success
    assert stored_state(ranged.layout, spec, flight_days) == stored_state(day_by_day.layout, spec, flight_days)
    assert verdicts(ranged.layout) == verdicts(day_by_day.layout)
    assert len(verdicts(ranged.layout)) == len(flight_days) * (len(DATA_GATES) + len(FEATURE_CHECKS))


def test_the_partition_view_looks_as_if_the_days_ran_one_by_one(day_by_day, ranged, flight_days):
    for key in (RAW, FEATURES):
        for day in flight_days:
            expected = latest_materialization(day_by_day.instance, key, day)
            found = latest_materialization(ranged.instance, key, day)
            expected_tags, found_tags = (dict(r.event_log_entry.tags) for r in (expected, found))
            if key == FEATURES:
                # the input's event pointer is a storage id of each instance: the day's own raw materialization
                for ingested, tags in ((day_by_day, expected_tags), (ranged, found_tags)):
                    assert tags.pop(POINTER) == str(latest_materialization(ingested.instance, RAW, day).storage_id)
            assert found_tags == expected_tags, (key, day)
            assert found_tags["dagster/data_version"] == found.asset_materialization.metadata["content_hash"].value
            expected_meta, found_meta = (r.asset_materialization.metadata for r in (expected, found))
            assert set(found_meta) == set(expected_meta)
            for name, value in expected_meta.items():
                if name != "source_file":  # each state folder has its own landing zone
                    assert found_meta[name] == value, (key, day, name)
    expected, found = latest_evaluations(day_by_day.instance), latest_evaluations(ranged.instance)
    assert set(found) == {(check, day.isoformat()) for check in (*DATA_GATES, *FEATURE_CHECKS) for day in flight_days}
    assert set(found) == set(expected)
    for key, evaluation in found.items():
        assert (evaluation.passed, evaluation.description, evaluation.metadata, evaluation.severity) == (
            expected[key].passed, expected[key].description, expected[key].metadata, expected[key].severity)
        # each evaluation points at the day's own materialization
        asset = RAW if key[0] in DATA_GATES else FEATURES
        target = latest_materialization(ranged.instance, asset, dt.date.fromisoformat(key[1]))
        assert evaluation.target_materialization_data.storage_id == target.storage_id
    assert ranged.instance.get_materialized_partitions(FEATURES) == {d.isoformat() for d in flight_days}


def _duplicate_a_flight_on(bad_day: dt.date):
    def spoil(day: dt.date, path) -> None:
        if day == bad_day:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame.loc[len(frame)] = frame.loc[10]
            frame.to_csv(path, index=False)
    return spoil


def test_a_day_failing_a_gate_stops_itself_and_later_days_not_earlier_ones(
    tmp_path, spec, flight_landing, flight_days, day_by_day
):
    bad = flight_days[1]
    for spoiled in ingest(tmp_path, spec, flight_landing, flight_days, ranged=True, spoil=_duplicate_a_flight_on(bad)):
        (run,) = spoiled.results
        assert not run.success
        message = step_failure_message(run)
        assert f"features stopped at {bad}" in message and "check_unique_entity_key" in message
        assert f"Built {flight_days[0]}..{flight_days[0]}; not built: {bad}..{flight_days[-1]}" in message

        # every day was snapshotted and judged; only the bad day failed a gate
        assert spoiled.instance.get_materialized_partitions(RAW) == {d.isoformat() for d in flight_days}
        evaluations = latest_evaluations(spoiled.instance)
        failed = {key for key, e in evaluations.items() if not e.passed}
        assert failed == {("check_unique_entity_key", bad.isoformat())}
        # the day before it has its features and their verdicts, the same as day-by-day runs give it
        assert spoiled.instance.get_materialized_partitions(FEATURES) == {flight_days[0].isoformat()}
        assert {k for k in evaluations if k[0] in FEATURE_CHECKS} == {(c, flight_days[0].isoformat()) for c in FEATURE_CHECKS}
        assert stored_state(spoiled.layout, spec, flight_days[:1]) == stored_state(day_by_day.layout, spec, flight_days[:1])
        with connect(spoiled.layout.warehouse_path) as con:
            built = {row[0] for row in con.execute("SELECT DISTINCT CAST(day AS DATE) FROM feature_versions").fetchall()}
        assert built == {flight_days[0]}


def test_cli_backfill_ingests_the_landed_days_in_one_ranged_run(state, two_feed_spec, flight_days, capsys):
    from mlops_assets.cli.main import main
    from mlops_assets.ingest.landing import replay

    replay(two_feed_spec, state, flight_days[0], 2)  # two days of departures, the first day's outcomes
    assert main(["--state-dir", str(state.root), "backfill", "--start", flight_days[0].isoformat(), "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert f"no landing file for 1 day(s), skipped: {flight_days[2]}" in out
    assert f"{INGEST_JOB} {flight_days[0]}..{flight_days[1]}: ok" in out
    assert f"{LABELS_JOB} {flight_days[0]}: ok" in out
    with dg.DagsterInstance.from_config(str(state.dagster_home)) as instance:
        assert instance.get_runs_count() == 2  # the departures in one ranged run, the outcomes in another
        assert instance.get_materialized_partitions(FEATURES) == {d.isoformat() for d in flight_days[:2]}
        assert instance.get_materialized_partitions(dg.AssetKey(FLIGHTS.labels_asset)) == {flight_days[0].isoformat()}
    assert main(["--state-dir", str(state.root), "backfill", "--start", "2013-06-01", "--days", "2"]) == 2
    assert "nothing landed" in capsys.readouterr().err


def test_a_ranged_run_of_the_raw_asset_alone_fails_naming_the_failed_gates(tmp_path, spec, flight_landing, flight_days):
    # nothing downstream of the snapshots in the run refuses the bad day, so the gates step fails itself
    bad = flight_days[2]
    layout = StateLayout(tmp_path).ensure()
    for day in flight_days:
        target = landing_path(layout, spec, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(flight_landing[day].path, target)
        _duplicate_a_flight_on(bad)(day, target)
    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)))
    with dg.instance_for_test(temp_dir=str(layout.dagster_home)) as instance:
        run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[RAW], tags=range_tags(flight_days[0], flight_days[-1]),
            raise_on_error=False, run_config=QUIET_RUN_CONFIG,
        )
        assert not run.success
        message = step_failure_message(run)
        assert "1 check(s) of raw_nycflights failed:" in message
        assert f"{bad} check_unique_entity_key" in message
        assert instance.get_materialized_partitions(RAW) == {d.isoformat() for d in flight_days}
        assert {e.partition for e in run.get_asset_check_evaluations()} == {d.isoformat() for d in flight_days}


def test_an_unreadable_file_stops_ingestion_at_its_day(tmp_path, spec, flight_landing, flight_days):
    bad = flight_days[1]

    def empty(day: dt.date, path) -> None:
        if day == bad:
            path.write_bytes(b"")

    for spoiled in ingest(tmp_path, spec, flight_landing, flight_days, ranged=True, spoil=empty):
        (run,) = spoiled.results
        assert not run.success
        message = step_failure_message(run)
        assert f"ingestion stopped at {bad}" in message and "the file is empty" in message
        assert f"Snapshotted {flight_days[0]}..{flight_days[0]}; not ingested: {bad}..{flight_days[-1]}" in message
        # the day before it is snapshotted and shows as materialized, with its own data version
        assert spoiled.instance.get_materialized_partitions(RAW) == {flight_days[0].isoformat()}
        record = latest_materialization(spoiled.instance, RAW, flight_days[0])
        assert record.event_log_entry.tags["dagster/data_version"] == record.asset_materialization.metadata["content_hash"].value


def test_a_bad_label_file_stops_a_labels_range_at_its_day_and_keeps_the_days_before(tmp_path, two_feed_spec):
    from mlops_assets.ingest.landing import replay

    days = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    layout = StateLayout(tmp_path).ensure()
    replay(two_feed_spec, layout, days[0], len(days) + 1)  # the outcomes of the three days land
    bad = days[1]
    path = landing_path(layout, two_feed_spec, bad, labels=True)
    pd.read_csv(path, dtype=str, keep_default_na=False).assign(arr_delay="late").to_csv(path, index=False)
    defs = build_definitions(two_feed_spec, StateResource(state_dir=str(layout.root)))
    labels = dg.AssetKey(FLIGHTS.labels_asset)
    with dg.instance_for_test(temp_dir=str(layout.dagster_home)) as instance:
        run = defs.resolve_job_def(LABELS_JOB).execute_in_process(
            instance=instance, tags=range_tags(days[0], days[-1]), raise_on_error=False, run_config=QUIET_RUN_CONFIG,
        )
        assert not run.success
        message = step_failure_message(run)
        assert f"labels of {bad} not stored" in message and "arr_delay" in message
        # the day before it is stored and materialized with its own data version; none after it
        assert instance.get_materialized_partitions(labels) == {days[0].isoformat()}
    with connect(layout.warehouse_path) as con:
        stored = con.execute("SELECT DISTINCT CAST(day AS DATE) FROM label_versions ORDER BY 1").fetchall()
    assert [day for (day,) in stored] == [days[0]]
