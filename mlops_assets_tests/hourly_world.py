"""An hourly dataset brought as a YAML spec and one CSV the test writes: bike rides, one partition
per local hour (timestamps in UTC, hours in Paris), windows written in hours and days."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from mlops_assets_tests.conftest import write_csv

RIDES_FIRST_HOUR = dt.datetime(2024, 3, 10, 0)  # local (Paris) time: UTC+1 in March, before the clocks change
RIDES_HOURS = 30
RIDES_PER_HOUR = 100
RIDES_FIELDS = ["ride", "ts", "station", "temperature", "minutes"]
RIDES_SPEC_YAML = """\
name: rides
description: Hourly bike rides; does a ride last more than 20 minutes?
source: {files: data/rides.csv, format: csv}
timestamp: {column: ts, timezone: Europe/Paris}
partitions: {grain: hourly, start_date: 2024-03-10, end_date: 2024-03-12, backfill_days_per_run: 12}
entity_key: [ride]
target: {name: long_ride, expression: "minutes > 20"}
columns:
  ride: {type: int, min: 1, max_null_rate: 0}
  ts: {type: timestamp, max_null_rate: 0}
  station: {type: string, allowed: [a, b, c, d], max_null_rate: 0}
  temperature: {type: float, min: -30, max: 50, max_null_rate: 0}
  minutes: {type: float, min: 0, max_null_rate: 0}
forbidden_columns: [minutes]
features:
  station: {kind: categorical}
  temperature: {kind: numeric}
  station_long_rate_6h: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}
trailing_rates:
  - {name: station_long_rate_6h, group_by: [station], window: 6 hours}
slices: [station]
quality:
  row_count: {trailing: 6 hours, min_history: 3, min_ratio: 0.5, max_ratio: 2.0}
intended_use: Tests of the platform on an hourly grain.
limitations: [Synthetic data.]
"""

PARIS_OFFSET = dt.timedelta(hours=1)


def rides_hours(hours: int = RIDES_HOURS) -> list[dt.datetime]:
    return [RIDES_FIRST_HOUR + dt.timedelta(hours=index) for index in range(hours)]


def ride_rows(hour: dt.datetime, rides: int = RIDES_PER_HOUR) -> list[dict]:
    """Rides starting within the local ``hour``, written in UTC (``Z``): the first one is the UTC
    hour before, which the spec's timezone puts back in this hour."""
    rng = random.Random(f"rides-{hour.isoformat()}")
    first_id = int((hour - RIDES_FIRST_HOUR).total_seconds() // 3600) * rides + 1
    rows = []
    for index in range(rides):
        station = "abcd"[index % 4]
        temperature = round(rng.uniform(0, 30), 1)
        slow = (0.45 if station in "ab" else -0.25) + (temperature - 15) / 30 + rng.gauss(0, 0.6) > 0
        minutes = round(rng.uniform(21, 60) if slow else rng.uniform(2, 19), 1)
        started = hour + dt.timedelta(seconds=index * 3600 // rides) - PARIS_OFFSET
        rows.append({"ride": first_id + index, "ts": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "station": station,
                     "temperature": temperature, "minutes": minutes})
    return rows


def write_rides(folder: Path, hours: int = RIDES_HOURS) -> Path:
    """The rides as a user has them: one CSV of every hour, and the spec beside it; returns the spec path."""
    write_csv(folder / "data" / "rides.csv", [row for hour in rides_hours(hours) for row in ride_rows(hour)],
              RIDES_FIELDS)
    spec_path = folder / "rides.yaml"
    spec_path.write_text(RIDES_SPEC_YAML)
    return spec_path
