"""An unpartitioned dataset brought as a YAML spec and one CSV the test writes: bike stations as
they are now, one table replaced whenever it is exported again (``partitions: {grain: none}``)."""

from __future__ import annotations

import random
from pathlib import Path

from mlops_assets_tests.conftest import write_csv

STATIONS = 3000
STATION_FIELDS = ["station", "updated_at", "district", "docks", "full_share"]
STATIONS_SPEC_YAML = """\
name: stations
description: Bike stations as they are now; is a station often full?
source: {files: data/stations.csv, format: csv}
timestamp: {column: updated_at, timezone: UTC}
partitions: {grain: none}
entity_key: [station]
target: {name: often_full, expression: "full_share > 0.3"}
columns:
  station: {type: int, min: 1, max_null_rate: 0}
  updated_at: {type: timestamp, max_null_rate: 0}
  district: {type: string, allowed: [north, south, east, west], max_null_rate: 0}
  docks: {type: int, min: 1, max: 80, max_null_rate: 0}
  full_share: {type: float, min: 0, max: 1, max_null_rate: 0}
forbidden_columns: [full_share]
features:
  district: {kind: categorical}
  docks: {kind: numeric}
slices: [district]
intended_use: Tests of the platform on an unpartitioned dataset.
limitations: [Synthetic data.]
"""


def station_rows(export: int = 0, stations: int = STATIONS) -> list[dict]:
    """The table as exported the ``export``-th time: every station, its share of full hours moved a little."""
    rng = random.Random(f"stations-{export}")
    rows = []
    for station in range(1, stations + 1):
        district = "nsew"[station % 4]
        docks = 5 + (station * 7) % 56
        busy = 0.5 if district in "ne" else 0.1
        share = min(1.0, max(0.0, busy + (30 - docks) / 100 + rng.gauss(0, 0.3)))
        rows.append({"station": station, "updated_at": f"2024-05-{1 + export:02d}T10:00:00Z",
                     "district": {"n": "north", "s": "south", "e": "east", "w": "west"}[district],
                     "docks": docks, "full_share": round(share, 3)})
    return rows


def write_stations(folder: Path, export: int = 0) -> Path:
    """The table as a user has it, and the spec beside it; returns the spec path."""
    write_csv(folder / "data" / "stations.csv", station_rows(export), STATION_FIELDS)
    spec_path = folder / "stations.yaml"
    spec_path.write_text(STATIONS_SPEC_YAML)
    return spec_path
