"""The landing zone: replay lands whole local days atomically; only well-named regular files inside
the zone are ever read."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest

from mlops_assets.core import files
from mlops_assets.ingest import landing
from mlops_assets.ingest.landing import LandingError, landed_days, landed_file, landing_path, replay


@pytest.fixture(scope="module")
def flights_per_day(flights_csv) -> pd.Series:
    """Rows per scheduled local day in the full source, counted independently with pandas."""
    frame = pd.read_csv(flights_csv, usecols=["year", "month", "day"])
    return frame.groupby(["year", "month", "day"]).size()


def test_replay_lands_one_file_per_local_day_with_that_days_rows(flight_days, spec, flight_landing, flights_per_day):
    assert sorted(flight_landing) == flight_days
    for day, landed in flight_landing.items():
        assert landed.path.name == f"{day.isoformat()}.csv"
        frame = pd.read_csv(landed.path, na_values=["NA", ""], keep_default_na=False)
        assert len(frame) == landed.rows == flights_per_day[(day.year, day.month, day.day)]
        # year/month/day are the scheduled local date: time_hour (UTC) was cut in America/New_York
        assert set(zip(frame.year, frame.month, frame.day)) == {(day.year, day.month, day.day)}
        local = pd.to_datetime(frame.time_hour, utc=True).dt.tz_convert("America/New_York").dt.date
        assert set(local) == {day}
        assert landed.sha256 == landing.file_sha256(landed.path)
        assert list(frame.columns) == list(spec.columns)
    # late-evening departures are after midnight in UTC but still belong to the local day
    first = pd.read_csv(flight_landing[flight_days[0]].path)
    assert (pd.to_datetime(first.time_hour, utc=True).dt.date > flight_days[0]).any()


def test_replay_leaves_no_partial_files(flight_days, flight_landing):
    zone = flight_landing[flight_days[0]].path.parent
    assert sorted(p.name for p in zone.iterdir()) == [f"{d.isoformat()}.csv" for d in flight_days]


def test_replay_of_a_users_csv_files(state, sensors, sensor_spec):
    landed = replay(sensor_spec, state, sensors.days[0], 5)
    assert [item.day for item in landed] == sensors.days  # the two days without data are skipped
    assert all(item.rows == 50 for item in landed)
    assert [day for day, _ in landed_days(state, sensor_spec)] == sensors.days
    frame = pd.read_csv(landed[1].path)
    assert sorted(frame.columns) == sorted(["ts", "device_id", "reading", "site", "outcome"])
    assert pd.to_datetime(frame.ts).dt.date.unique().tolist() == [sensors.days[1]]


def test_replay_is_atomic_when_the_final_rename_fails(state, sensors, sensor_spec, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        replay(sensor_spec, state, sensors.days[0], 1)
    target = landing_path(state, sensor_spec, sensors.days[0])
    assert not target.exists()  # no reader ever sees half a day
    assert landed_days(state, sensor_spec) == []  # the partial file is not picked up
    assert list(target.parent.iterdir()) == []  # nor left behind


def test_replay_replaces_an_existing_day(state, sensors, sensor_spec):
    target = landing_path(state, sensor_spec, sensors.days[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("stale\n")
    (landed,) = replay(sensor_spec, state, sensors.days[0], 1)
    assert landed.path == target
    assert len(pd.read_csv(target)) == 50


def test_replay_needs_at_least_one_day(state, sensor_spec):
    with pytest.raises(ValueError, match="at least 1"):
        replay(sensor_spec, state, dt.date(2024, 3, 1), 0)


def test_landed_file_returns_a_regular_file(flight_days, state, spec, land_flights):
    (path,) = land_flights(flight_days[0])
    assert landed_file(state, spec, flight_days[0]) == path


def test_landed_file_refuses_a_missing_file_saying_how_to_land_it(state, spec):
    with pytest.raises(LandingError) as error:
        landed_file(state, spec, dt.date(2013, 2, 1))
    message = str(error.value)
    assert "no landing file for nycflights on 2013-02-01" in message
    assert str(landing_path(state, spec, dt.date(2013, 2, 1))) in message
    assert "replay --start 2013-02-01" in message


def test_landed_file_refuses_a_symlink(state, spec, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("carrier\nUA\n")
    path = landing_path(state, spec, dt.date(2013, 1, 5))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(secret)
    with pytest.raises(LandingError, match="is a symlink; refusing to follow it"):
        landed_file(state, spec, dt.date(2013, 1, 5))


def test_landed_file_refuses_a_dangling_symlink(state, spec, tmp_path):
    path = landing_path(state, spec, dt.date(2013, 1, 5))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(LandingError, match="symlink"):
        landed_file(state, spec, dt.date(2013, 1, 5))


def test_landed_file_refuses_a_directory(state, spec):
    path = landing_path(state, spec, dt.date(2013, 1, 5))
    path.mkdir(parents=True)
    with pytest.raises(LandingError, match="not a regular file"):
        landed_file(state, spec, dt.date(2013, 1, 5))


def test_landed_days_ignores_badly_named_and_unsafe_entries(flight_days, state, spec, land_flights, tmp_path):
    land_flights(flight_days[1], flight_days[0])
    zone = state.landing_dir_for(spec.name)
    outside = zone.parent / "x.csv"  # what "../x.csv" would point at
    outside.write_text("carrier\nUA\n")
    for name in [
        "2013-01-01.csv.bak",
        "notes.txt",
        "2013-1-3.csv",
        "2013-13-45.csv",  # well shaped, not a date
        "2013-01-03.parquet",  # the spec lands csv
        "x2013-01-03.csv",
        ".2013-01-03.csv.partial-123",
        "2013-01-03.CSV",
    ]:
        (zone / name).write_text("carrier\nUA\n")
    (zone / "2013-01-05.csv").symlink_to(outside)
    (zone / "2013-01-06.csv").symlink_to(zone / "2013-01-01.csv")
    (zone / "2013-01-07.csv").mkdir()
    assert landed_days(state, spec) == [
        (flight_days[0], zone / "2013-01-01.csv"),
        (flight_days[1], zone / "2013-01-02.csv"),
    ]


def test_landed_days_of_an_empty_or_missing_zone(state, spec):
    assert landed_days(state, spec) == []
    state.landing_dir_for(spec.name).mkdir(parents=True, exist_ok=True)
    assert landed_days(state, spec) == []


def test_landing_path_follows_the_spec_format(state, spec):
    path = landing_path(state, spec, dt.date(2013, 3, 9))
    assert path == state.landing_dir / "nycflights" / "2013-03-09.csv"
    assert os.path.commonpath([path, state.root]) == str(state.root)
