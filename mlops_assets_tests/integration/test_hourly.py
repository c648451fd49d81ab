"""An hourly dataset through Dagster, from the command line alone: a user's CSV of rides with UTC
timestamps is validated, replayed into one file per Paris hour, ingested in ranged runs of hourly
partitions, trained with the last six hours held out, promoted, and an hour is scored and drift-monitored."""

from __future__ import annotations

import dagster as dg
import pytest

from mlops_assets.cli import main as cli
from mlops_assets.core.spec import SPEC_ENV, load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets_tests.hourly_world import RIDES_HOURS, write_rides

pytestmark = pytest.mark.integration


def test_an_hourly_dataset_goes_from_its_csv_to_a_scored_champion(state, tmp_path, monkeypatch, capsys):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import DatasetNames, ModelNames

    spec_path = write_rides(tmp_path / "rides")
    monkeypatch.setenv(SPEC_ENV, str(spec_path))  # --spec sets it; restored after the test
    spec = load_spec(spec_path)
    options = ["--spec", str(spec_path), "--state-dir", str(state.root)]

    rides, long_ride = DatasetNames.of(spec), ModelNames.of(spec)
    partitions = build_definitions(spec).resolve_job_def(rides.ingest_job).partitions_def
    keys = partitions.get_partition_keys()
    assert partitions.timezone == "Europe/Paris"
    assert len(keys) == 48 and keys[:2] == ["2024-03-10-00:00", "2024-03-10-01:00"] and keys[-1] == "2024-03-11-23:00"

    assert cli.main([*options, "validate", str(spec_path)]) == 0
    assert cli.main([*options, "replay", "--start", "2024-03-10T00", "--days", str(RIDES_HOURS)]) == 0
    assert (state.landing_dir_for(spec.name) / "2024-03-11T05.csv").is_file()
    assert cli.main([*options, "backfill", "--start", "2024-03-10T00", "--days", str(RIDES_HOURS)]) == 0
    printed = capsys.readouterr().out
    # backfill_days_per_run: 12 hours a run
    assert f"{rides.ingest_job} 2024-03-10T00:00..2024-03-10T11:00: ok" in printed
    assert f"{rides.ingest_job} 2024-03-11T00:00..2024-03-11T05:00: ok" in printed

    assert cli.main([*options, "train", "--trials", "1", "--holdout-days", "6"]) == 0
    printed = capsys.readouterr().out
    assert "champion: rides_long_ride version 1" in printed
    with connect(state.warehouse_path) as con:
        windows = con.execute("SELECT start_day, end_day FROM training_snapshots").fetchall()
    assert [(start.isoformat(), end.isoformat()) for start, end in windows] == [
        ("2024-03-10T00:00:00", "2024-03-11T05:00:00")]

    assert cli.main([*options, "score", "--day", "2024-03-11T04:30"]) == 0  # any time of an hour names it
    printed = capsys.readouterr().out
    assert f"{long_ride.job('score')} 2024-03-11T04:00: ok" in printed
    with dg.DagsterInstance.get() as instance:
        drift = instance.fetch_materializations(long_ride.key("drift_report"), limit=1).records
    assert drift and drift[0].partition_key == "2024-03-11-04:00"
