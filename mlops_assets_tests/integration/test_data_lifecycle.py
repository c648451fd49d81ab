"""The data half of the lifecycle through Dagster for real: real flight days are ingested, gated
and featurized by the ingest job; identical content keeps its data version, changed content gets a
new one, and a bad day is stopped at the gates without touching the days before it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.cli.main import main
from mlops_assets.defs.runs import QUIET_RUN_CONFIG
from mlops_assets.validate.data_gates import DATA_GATES
from mlops_assets.definitions import build_definitions
from mlops_assets_tests.flight_names import INGEST_JOB, LABELS_JOB
from mlops_assets.defs.resources import StateResource
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.features.build import current_feature_version
from mlops_assets.core.hashing import relation_sha256
from mlops_assets.ingest.snapshots import current_snapshot, snapshot_versions
from mlops_assets.ingest.landing import landing_path
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect
from mlops_assets_tests.conftest import snapshot_tables

pytestmark = pytest.mark.integration

RAW = dg.AssetKey("raw_nycflights")
FEATURES = dg.AssetKey("nycflights_features")
ALL_CHECKS = {*DATA_GATES, *FEATURE_CHECKS}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Lifecycle:
    layout: StateLayout
    instance: dg.DagsterInstance
    job: dg.JobDefinition
    days: list[dt.date]
    results: dict[dt.date, dg.ExecuteInProcessResult]

    def run(self, day: dt.date) -> dg.ExecuteInProcessResult:
        return self.job.execute_in_process(
            partition_key=day.isoformat(), instance=self.instance, raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )


def only_materialization(result: dg.ExecuteInProcessResult, node: str) -> dg.AssetMaterialization:
    (materialization,) = result.asset_materializations_for_node(node)
    return materialization


def data_version(materialization: dg.AssetMaterialization) -> str:
    return materialization.tags["dagster/data_version"]


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def stored_state(layout: StateLayout, spec, days: list[dt.date]) -> dict:
    """What the warehouse holds for ``days``: snapshot hash and rows, feature version and the
    sha256 of the feature rows actually stored."""
    found = {}
    with connect(layout.warehouse_path) as con:
        for day in days:
            snapshot = current_snapshot(con, spec, day)
            rows = relation_sha256(
                con, f"(SELECT * FROM features_nycflights WHERE _day = DATE '{day.isoformat()}')"
            )
            found[day] = (snapshot.content_hash, snapshot.rows, current_feature_version(con, spec, day), rows)
    return found


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory, spec, flight_landing, flight_days):
    """The ingest job run through Dagster on the first three real days, in one state folder."""
    layout = StateLayout(tmp_path_factory.mktemp("lifecycle")).ensure()
    for day in flight_days:
        target = landing_path(layout, spec, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(flight_landing[day].path, target)
    (landing_path(layout, spec, flight_days[3])).unlink()  # the fourth day has not arrived yet
    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)))
    job = defs.resolve_job_def(INGEST_JOB)
    with dg.instance_for_test(temp_dir=str(layout.dagster_home)) as instance:
        state = Lifecycle(layout, instance, job, flight_days, {})
        for day in flight_days[:3]:
            state.results[day] = state.run(day)
        yield state


def test_every_check_passes_on_the_first_days(lifecycle, spec, flight_landing):
    with connect(lifecycle.layout.warehouse_path) as con:
        for day in lifecycle.days[:3]:
            result = lifecycle.results[day]
            assert result.success, day
            evaluations = check_evaluations(result)
            assert {name: e.passed for name, e in evaluations.items()} == {name: True for name in ALL_CHECKS}

            raw = only_materialization(result, "raw_nycflights")
            content_hash = raw.metadata["content_hash"].value
            assert HEX64.match(content_hash)
            assert data_version(raw) == content_hash
            assert raw.partition == day.isoformat()
            assert raw.metadata["rows"].value == flight_landing[day].rows
            assert raw.metadata["new_version"].value is True
            assert raw.metadata["dagster/row_count"].value == flight_landing[day].rows
            stored = {v.content_hash: v.rows for v in snapshot_versions(con, spec, day)}
            assert stored[content_hash] == flight_landing[day].rows
            # every data gate judged exactly this snapshot
            assert {evaluations[name].metadata["content_hash"].value for name in DATA_GATES} == {content_hash}

            features = only_materialization(result, "nycflights_features")
            assert features.metadata["raw_snapshot_hash"].value == content_hash
            assert features.metadata["rows"].value == flight_landing[day].rows
            assert features.metadata["trailing_history_days"].value == lifecycle.days.index(day)
            assert HEX64.match(data_version(features))
            assert data_version(features) == features.metadata["content_hash"].value
            built = con.execute(
                "SELECT content_hash FROM feature_versions WHERE day = ? ORDER BY created_at", [day]
            ).fetchall()
            assert (data_version(features),) in built
    # the three days' snapshots are three different contents
    hashes = {data_version(only_materialization(r, "raw_nycflights")) for r in lifecycle.results.values()}
    assert len(hashes) == 3


def run_one_check(lifecycle, spec, check: dg.AssetCheckKey, day: dt.date) -> dg.ExecuteInProcessResult:
    """Execute one check alone for one day, as "Execute" on a check does in the UI."""
    job = dg.define_asset_job(f"rerun_{check.name}", selection=dg.AssetSelection.checks(check))
    defs = dg.Definitions.merge(build_definitions(spec, StateResource(state_dir=str(lifecycle.layout.root))),
                                dg.Definitions(jobs=[job]))
    # a checks-only job has no partitions definition of its own: the day travels as the run's tag
    return defs.resolve_job_def(job.name).execute_in_process(
        tags={"dagster/partition": day.isoformat()}, instance=lifecycle.instance, run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )


def test_one_data_gate_reruns_alone_for_one_day(lifecycle, spec):
    # the gates share a step but not a fate: one of them re-runs for one day, nothing else does
    day = lifecycle.days[1]
    result = run_one_check(lifecycle, spec, dg.AssetCheckKey(RAW, "check_row_count"), day)
    assert result.success
    evaluations = check_evaluations(result)
    assert list(evaluations) == ["check_row_count"] and evaluations["check_row_count"].passed
    assert evaluations["check_row_count"].partition == day.isoformat()
    assert result.get_asset_materialization_events() == []
    with connect(lifecycle.layout.warehouse_path) as con:
        recorded = con.execute(
            "SELECT check_name FROM gate_results WHERE run_id = ? AND day = ?", [result.run_id, day]
        ).fetchall()
    assert recorded == [("check_row_count",)]


def test_checks_on_a_day_never_ingested_fail_naming_the_missing_asset(lifecycle, spec):
    from mlops_assets.defs.runs import step_failure_message

    day = dt.date(2013, 6, 1)  # never landed here
    gate = run_one_check(lifecycle, spec, dg.AssetCheckKey(RAW, "check_schema"), day)
    assert not gate.success
    assert f"no snapshot of nycflights for {day}; materialize raw_nycflights first" in step_failure_message(gate)
    check = run_one_check(lifecycle, spec, dg.AssetCheckKey(FEATURES, "check_no_leakage"), day)
    assert not check.success
    assert f"no features of nycflights for {day}; materialize nycflights_features first" in step_failure_message(check)


def test_reingesting_identical_content_keeps_the_data_version(lifecycle, spec):
    day = lifecycle.days[0]
    first = lifecycle.results[day]
    tables_before = snapshot_tables(lifecycle.layout)
    again = lifecycle.run(day)
    assert again.success
    raw_before, raw_after = (only_materialization(r, "raw_nycflights") for r in (first, again))
    assert data_version(raw_after) == data_version(raw_before)
    assert raw_after.metadata["content_hash"] == raw_before.metadata["content_hash"]
    assert raw_after.metadata["new_version"].value is False
    features_before, features_after = (only_materialization(r, "nycflights_features") for r in (first, again))
    assert data_version(features_after) == data_version(features_before)
    with connect(lifecycle.layout.warehouse_path) as con:
        (snapshot,) = snapshot_versions(con, spec, day)
        assert snapshot.content_hash == data_version(raw_before)
        (ingestions,) = con.execute("SELECT count(*) FROM raw_ingestions WHERE day = ?", [day]).fetchall()
        assert ingestions[0] >= 2  # the ingestion itself was logged again
    assert snapshot_tables(lifecycle.layout) == tables_before  # but no new snapshot table
    # the instance's two materializations of the partition carry one data version
    records = lifecycle.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW, asset_partitions=[day.isoformat()]), limit=10
    ).records
    assert len(records) >= 2
    assert {r.asset_materialization.tags["dagster/data_version"] for r in records} == {data_version(raw_before)}


def test_a_changed_file_is_a_new_version_and_the_old_one_stays_readable(lifecycle, spec):
    day = lifecycle.days[2]
    original = only_materialization(lifecycle.results[day], "raw_nycflights")
    path = landing_path(lifecycle.layout, spec, day)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "arr_delay"] = "999"  # a late correction of one arrival
    frame.to_csv(path, index=False)

    changed = lifecycle.run(day)
    assert changed.success
    new = only_materialization(changed, "raw_nycflights")
    assert data_version(new) != data_version(original)
    assert new.metadata["new_version"].value is True
    assert new.metadata["rows"] == original.metadata["rows"]
    new_features = only_materialization(changed, "nycflights_features")
    old_features = only_materialization(lifecycle.results[day], "nycflights_features")
    assert data_version(new_features) != data_version(old_features)
    with connect(lifecycle.layout.warehouse_path) as con:
        versions = snapshot_versions(con, spec, day)
        assert [v.content_hash for v in versions] == [data_version(original), data_version(new)]
        assert current_snapshot(con, spec, day).content_hash == data_version(new)
        old_table = versions[0].qualified_table
        # the old snapshot is still there, unchanged: same rows, same hash
        assert relation_sha256(con, old_table) == data_version(original)
        (rows,) = con.execute(f"SELECT count(*) FROM {old_table}").fetchall()
        assert rows[0] == original.metadata["rows"].value
        delays = con.execute(
            f"SELECT count(*) FILTER (WHERE arr_delay = 999) FROM {old_table}"
        ).fetchall()[0][0]
        assert delays == 0


def test_a_bad_day_is_stopped_at_the_gates(lifecycle, spec, flight_landing):
    earlier = lifecycle.days[:3]
    bad_day = lifecycle.days[3]
    before = stored_state(lifecycle.layout, spec, earlier)

    frame = pd.read_csv(flight_landing[bad_day].path, dtype=str, keep_default_na=False)
    rows = len(frame)
    blank = frame.sample(frac=0.4, random_state=7).index
    frame.loc[blank, "carrier"] = ""  # a burst of nulls in a column that allows none
    far = frame.index[::50]
    frame.loc[far, "distance"] = "far"  # text in an integer column
    path = landing_path(lifecycle.layout, spec, bad_day)
    frame.to_csv(path, index=False)

    result = lifecycle.run(bad_day)
    assert not result.success
    evaluations = check_evaluations(result)
    assert set(FEATURE_CHECKS).isdisjoint(evaluations)  # the feature checks never ran

    schema = evaluations["check_schema"]
    assert schema.passed is False
    failures = schema.metadata["failures"].value.records
    distance = [r.data for r in failures if r.data["column"] == "distance"]
    assert distance and "far" in distance[0]["observed"]
    assert distance[0]["expected"] == "values of type int"
    assert '"distance": "far"' in distance[0]["offending_rows"]
    assert "distance" in schema.metadata["summary"].value

    nulls = evaluations["check_null_rates"]
    assert nulls.passed is False
    carrier = [r.data for r in nulls.metadata["failures"].value.records if r.data["column"] == "carrier"]
    assert carrier[0]["observed"] == f"{len(blank) / rows:.2%} nulls"
    assert carrier[0]["expected"] == "at most 0.00%"
    assert nulls.metadata["null_rate.carrier"].value == pytest.approx(len(blank) / rows, abs=1e-6)

    # the raw snapshot was stored (it is the evidence), but no features came from it
    raw = only_materialization(result, "raw_nycflights")
    assert result.asset_materializations_for_node("nycflights_features") == []
    materialized = lifecycle.instance.get_materialized_partitions(FEATURES)
    assert bad_day.isoformat() not in materialized
    assert {d.isoformat() for d in earlier} <= materialized
    assert bad_day.isoformat() in lifecycle.instance.get_materialized_partitions(RAW)
    with connect(lifecycle.layout.warehouse_path) as con:
        assert current_feature_version(con, spec, bad_day) is None
        (count,) = con.execute("SELECT count(*) FROM features_nycflights WHERE _day = ?", [bad_day]).fetchall()
        assert count == (0,)
        (failed,) = con.execute(
            "SELECT count(*) FROM gate_results WHERE day = ? AND content_hash = ? AND NOT passed",
            [bad_day, raw.metadata["content_hash"].value],
        ).fetchall()
        assert failed[0] >= 2

    # the days before it are untouched: same snapshots, same features, same rows
    assert stored_state(lifecycle.layout, spec, earlier) == before


# -- the command line --------------------------------------------------------------------------------


def test_cli_demo_lands_ingests_and_summarizes(state, spec, flight_landing, flight_days, capsys):
    # the data half only: training in the demo belongs to the model half's tests. The project's models
    # use two datasets: 3 partitions of each, in its own grain (days of flights, weeks of weather)
    assert main(["--state-dir", str(state.root), "demo", "--days", "3", "--skip-training"]) == 0
    out = capsys.readouterr().out
    total = sum(flight_landing[d].rows for d in flight_days[:3])
    assert f"landed 3 days of nycflights ({total} rows)" in out
    assert "landed 3 weeks of nycweather (1434 rows)" in out  # 1-6 January, then two full weeks of 504 hours
    weeks = [dt.date(2012, 12, 31), dt.date(2013, 1, 7), dt.date(2013, 1, 14)]
    # each dataset's partitions are ingested in one ranged run; the flights' outcomes of the first two
    # days (the third's land tomorrow) in another
    assert re.search(rf"{INGEST_JOB} {flight_days[0]}..{flight_days[2]}: ok", out)
    assert re.search(rf"nycweather_ingest_job {weeks[0]}..{weeks[2]}: ok", out)
    assert f"landed the outcomes of 2 of them ({flight_days[0]}..{flight_days[1]})" in out
    assert re.search(rf"{LABELS_JOB} {flight_days[0]}..{flight_days[1]}: ok", out)
    for day in flight_days[:3]:
        line = next(line for line in out.splitlines() if line.startswith(day.isoformat()))
        assert f"{flight_landing[day].rows:>6}" in line
        assert "5/5 passed" in line and "2/2 passed" in line
    for week in weeks:
        line = next(line for line in out.splitlines() if line.startswith(week.isoformat()))
        assert "5/5 passed" in line and "2/2 passed" in line
    assert "FAILED" not in out
    assert f"warehouse: {state.warehouse_path}" in out
    # the runs were recorded in the state's own Dagster instance
    with dg.DagsterInstance.from_config(str(state.dagster_home)) as instance:
        assert instance.get_runs_count() == 3  # flights, their outcomes, weather
        assert instance.get_materialized_partitions(FEATURES) == {d.isoformat() for d in flight_days[:3]}
        assert instance.get_materialized_partitions(dg.AssetKey("nycweather_features")) == {
            w.isoformat() for w in weeks}
    # the outcomes were stored before the departures' features were built: the third day's trailing
    # rates average the first day's outcomes (the second's were due only on the third day)
    with connect(state.warehouse_path) as con:
        rated = con.execute("SELECT _day, count(carrier_late_rate_7d) FROM features_nycflights GROUP BY 1").fetchall()
    assert dict(rated)[flight_days[2]] > 0 and dict(rated)[flight_days[0]] == 0


def test_cli_validate_refuses_a_broken_spec(state, sensors, capsys):
    assert main(["validate", str(sensors.spec_path)]) == 0
    assert "spec 'sensors' is valid" in capsys.readouterr().out
    broken = sensors.spec_path.with_name("broken.yaml")
    broken.write_text(sensors.spec_path.read_text().replace("slices: [site]", "slices: [sight]"))
    assert main(["validate", str(broken)]) == 2
    assert "slices[0]: unknown column 'sight'" in capsys.readouterr().err


# -- the code location ---------------------------------------------------------------------------------


def test_every_asset_and_check_is_described_and_governed():
    from mlops_assets.definitions import defs

    specs = list(defs.resolve_all_asset_specs())
    assert {RAW, FEATURES} <= {s.key for s in specs}
    for asset in specs:
        where = asset.key.to_user_string()
        assert asset.group_name and asset.group_name != "default", where
        assert asset.kinds, where
        assert asset.owners, where
        assert asset.code_version, where
        assert asset.description and len(asset.description) > 40, where
    graph = defs.resolve_asset_graph()
    checks = list(graph.asset_check_keys)
    assert {(k.asset_key, k.name) for k in checks} >= {
        *((RAW, name) for name in DATA_GATES), *((FEATURES, name) for name in FEATURE_CHECKS),
    }
    for key in checks:
        check = graph.get_check_spec(key)
        assert check.blocking, key
        assert check.description, key
    assert defs.resolve_job_def(INGEST_JOB).name == INGEST_JOB


def test_importing_the_definitions_stays_light(tmp_path):
    heavy = ["numpy", "pandas", "duckdb", "mlflow", "xgboost", "evidently", "pandera", "matplotlib"]
    code = (
        "import json, sys\n"
        "import mlops_assets.definitions as d\n"
        "assert d.defs is not None\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "MLOPS_STATE_DIR": str(tmp_path / "state"), "DAGSTER_HOME": str(tmp_path)}
    env.pop("MLOPS_DATASET_SPEC", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
