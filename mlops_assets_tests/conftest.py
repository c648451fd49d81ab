"""Shared fixtures: a throw-away state folder per test, the bundled flights extracted once per
session, the first real flight days landed (and built) once, and a tiny synthetic sensor dataset
that a user could bring as YAML alone."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import shutil
from pathlib import Path

import pytest

from mlops_assets.pipeline import ingest_day as day_pipeline
from mlops_assets.features import build as features
from mlops_assets.ingest import landing
from mlops_assets.ingest.sources import extracted_flights_csv
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, DatasetSpec, load_spec
from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout

FLIGHT_DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(4)]


# -- state ------------------------------------------------------------------------------------------


def _link_flights(layout: StateLayout, flights_csv: Path) -> None:
    """Give a state folder the already-extracted flights file, so replay never unzips again."""
    target = layout.cache_dir / flights_csv.name
    if not target.exists():
        target.symlink_to(flights_csv)


@pytest.fixture(scope="session")
def flights_csv(tmp_path_factory) -> Path:
    """The bundled flights table, extracted once per session (31 MB)."""
    return extracted_flights_csv(tmp_path_factory.mktemp("flights_cache"))


def outcomes_in_rows(spec: DatasetSpec) -> DatasetSpec:
    """``spec`` with its outcomes arriving in the same files as the rows (no label feed): what every
    spec without a ``labels`` section does, and the state most tests start from."""
    return spec.model_copy(update={"labels": None})


@pytest.fixture(scope="session")
def spec() -> DatasetSpec:
    """The built-in nycflights spec, its outcomes landing with the rows (``outcomes_in_rows``); the
    label feed the bundled spec declares is tested on its own (``ingest/test_labels.py``)."""
    return outcomes_in_rows(load_spec(DEFAULT_SPEC_NAME))


@pytest.fixture(scope="session")
def two_feed_spec() -> DatasetSpec:
    """The built-in nycflights spec as bundled: departures land first, their outcomes a day later."""
    return load_spec(DEFAULT_SPEC_NAME)


@pytest.fixture
def state(tmp_path, monkeypatch, flights_csv) -> StateLayout:
    """An empty state folder in tmp_path, with the environment pointing at it."""
    root = (tmp_path / "state").resolve()
    monkeypatch.setenv(STATE_DIR_ENV, str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    monkeypatch.delenv(SPEC_ENV, raising=False)
    layout = StateLayout.from_env().ensure()
    assert layout.root == root
    _link_flights(layout, flights_csv)
    return layout


# -- the first real flight days ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def flight_days() -> list[dt.date]:
    """The first real days of the built-in dataset that the tests use."""
    return list(FLIGHT_DAYS)


@pytest.fixture(scope="session")
def flight_landing(tmp_path_factory, flights_csv, spec) -> dict[dt.date, landing.LandedFile]:
    """FLIGHT_DAYS replayed once per session into a scratch state; tests copy the files they need."""
    layout = StateLayout(tmp_path_factory.mktemp("flight_landing")).ensure()
    _link_flights(layout, flights_csv)
    landed = landing.replay(spec, layout, FLIGHT_DAYS[0], len(FLIGHT_DAYS))
    return {item.day: item for item in landed}


@pytest.fixture
def land_flights(state, spec, flight_landing):
    """land_flights(*days) copies the replayed files of those days into this test's landing zone."""

    def land(*days: dt.date) -> list[Path]:
        paths = []
        for day in days:
            target = landing.landing_path(state, spec, day)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(flight_landing[day].path, target)
            paths.append(target)
        return paths

    return land


def ingest_and_gate(spec: DatasetSpec, layout: StateLayout, day: dt.date):
    """What the raw asset and its checks do, without Dagster; results by gate name."""
    snapshot, results = day_pipeline.ingest_and_gate(spec, layout, day)
    return snapshot, {result.check: result for result in results}


def snapshot_tables(layout: StateLayout) -> list[str]:
    """The immutable snapshot tables the warehouse holds, by name."""
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'snapshots' ORDER BY 1"
        ).fetchall()
    return [name for (name,) in rows]


@pytest.fixture(scope="session")
def gate():
    """The ingest-and-gate helper, as a fixture so test modules need not import conftest."""
    return ingest_and_gate


@pytest.fixture(scope="session")
def built_flights_root(tmp_path_factory, spec, flight_landing) -> Path:
    """A state with FLIGHT_DAYS ingested, gated and featurized in order, built once per session."""
    layout = StateLayout(tmp_path_factory.mktemp("built_flights")).ensure()
    for day in FLIGHT_DAYS:
        target = landing.landing_path(layout, spec, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(flight_landing[day].path, target)
        _snapshot, results = ingest_and_gate(spec, layout, day)
        assert all(result.passed for result in results.values()), results
        features.build_features(spec, layout, day)
    return layout.root


@pytest.fixture
def built_flights(state, built_flights_root) -> StateLayout:
    """This test's own copy of the built state (warehouse and landing files), free to mutate."""
    shutil.copytree(built_flights_root / "landing", state.landing_dir, dirs_exist_ok=True)
    for path in built_flights_root.glob("warehouse.duckdb*"):
        shutil.copyfile(path, state.root / path.name)
    return state


# -- a user's own dataset: synthetic sensor readings, configured in YAML only -----------------------

SENSOR_START = dt.date(2024, 3, 1)
SENSOR_SITES = ("north", "south", "east")

SENSOR_SPEC_YAML = """\
name: sensors
description: Synthetic readings of 25 devices on three sites; does a device report a failure?
source:
  files: data/*.csv
  format: csv
timestamp: {column: ts, timezone: UTC}
partitions: {start_date: 2024-03-01, end_date: 2024-04-01}
entity_key: [device_id, ts]
target: {name: failed, expression: "outcome = 'fail'"}
columns:
  ts: {type: timestamp, max_null_rate: 0}
  device_id: {type: string, max_null_rate: 0}
  reading: {type: float, min: -50, max: 150, max_null_rate: 0.1}
  site: {type: string, allowed: [north, south, east], max_null_rate: 0}
  outcome: {type: string, allowed: [ok, fail], max_null_rate: 0}
forbidden_columns: [outcome]
features:
  reading: {kind: numeric, min: -50, max: 150, max_null_rate: 0.1}
  site: {kind: categorical, max_null_rate: 0}
  site_failure_rate_2d: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}
trailing_rates:
  - {name: site_failure_rate_2d, group_by: [site], days: 2}
slices: [site]
quality:
  row_count: {trailing_days: 7, min_history: 3, min_ratio: 0.5, max_ratio: 2.0}
intended_use: Flag devices likely to fail, for the tests of the platform.
limitations: [Synthetic data.]
"""

SENSOR_FIELDS = ["ts", "device_id", "reading", "site", "outcome"]


def sensor_rows(day: dt.date, n: int = 50, seed: int = 0) -> list[dict]:
    """n readings spread over the day (UTC), one per device slot; failures follow high readings."""
    rng = random.Random(f"{day.isoformat()}-{seed}")
    start = dt.datetime.combine(day, dt.time())
    rows = []
    for i in range(n):
        device = i % 25
        reading = round(rng.uniform(0, 100), 2)
        rows.append({
            "ts": (start + dt.timedelta(seconds=i * 86400 // n)).strftime("%Y-%m-%d %H:%M:%S"),
            "device_id": f"d{device:02d}",
            "reading": reading,
            "site": SENSOR_SITES[device % 3],
            "outcome": "fail" if reading > 80 or rng.random() < 0.05 else "ok",
        })
    return rows


def write_csv(path: Path, rows: list[dict], fields: list[str] | None = None) -> Path:
    """Write rows as CSV; None becomes an empty cell (a null)."""
    fields = fields or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return path


class SensorDataset:
    """A folder holding sensors.yaml and data/<day>.csv: all a user brings, no Python."""

    days = [SENSOR_START + dt.timedelta(days=i) for i in range(3)]

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for day in self.days:
            write_csv(folder / "data" / f"{day.isoformat()}.csv", sensor_rows(day), SENSOR_FIELDS)
        self.spec_path = folder / "sensors.yaml"
        self.spec_path.write_text(SENSOR_SPEC_YAML)

    rows = staticmethod(sensor_rows)

    @staticmethod
    def land(layout: StateLayout, spec: DatasetSpec, day: dt.date, rows: list[dict], fields=None) -> Path:
        """Drop a hand-made file for ``day`` into the landing zone."""
        return write_csv(landing.landing_path(layout, spec, day), rows, fields or SENSOR_FIELDS)


@pytest.fixture
def sensors(tmp_path) -> SensorDataset:
    return SensorDataset(tmp_path / "sensors")


@pytest.fixture
def sensor_spec(sensors) -> DatasetSpec:
    return load_spec(sensors.spec_path)


@pytest.fixture(autouse=True)
def _environment_restored():
    """Every test leaves the environment as it found it. The CLI points MLflow and Dagster at its
    state folder through the environment (``cli.common.state_layout``); a test that runs it in process
    must not leave a later test's fixtures reading another test's MLflow store."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
