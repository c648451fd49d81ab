"""The bad-input corpus (issue 5): every kind of broken input the platform can be handed, each with
the outcome it must have.

A case either fails at the right gate (the snapshot is kept as evidence, recorded as failed, and no
features are built from it) or is refused before anything is written, with a message that names the
problem. Either way nothing partial is left behind, and the other days' snapshots and features, the
training snapshots and the champion alias are exactly as they were.

Most cases run the plain day pipeline (``ingest_and_featurize``) on a copy of one prepared state: a
synthetic sensor dataset, brought as YAML alone, with days around the bad one already ingested and
featurized and a small champion registered. A few re-land a real flight day; the training cases run
the train job through Dagster, where a champion could really move.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from mlops_assets_tests.flight_names import SENSOR_MODEL
from mlops_assets.validate.data_gates import DATA_GATES
from mlops_assets.features.build import FeatureError
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.ingest.landing import LandingError, landing_path
from mlops_assets.core.spec import SpecError, load_spec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect
from mlops_assets_tests.conftest import SENSOR_FIELDS, SENSOR_SPEC_YAML, sensor_rows, write_csv

pytestmark = pytest.mark.integration

SENSORS = "sensors"
BAD_DAY = dt.date(2024, 3, 4)  # arrives late: the days on both sides of it are already built
GOOD_DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(7) if i != 3]  # 03-01..03-07
ROWS_PER_DAY = 100
FLIGHT_DAY = dt.date(2013, 1, 4)  # re-landed broken over its good version


# -- the prepared states ------------------------------------------------------------------------------


def sensor_spec_text(**replace: str) -> str:
    text = SENSOR_SPEC_YAML
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def write_spec(folder: Path, text: str, name: str = "sensors.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sensor_world(tmp_path_factory) -> Path:
    """GOOD_DAYS of sensor readings ingested, gated and featurized."""
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    base = tmp_path_factory.mktemp("bad_input_world")
    spec = load_spec(write_spec(base / "spec", SENSOR_SPEC_YAML))
    layout = StateLayout((base / "state").resolve()).ensure()
    for day in GOOD_DAYS:
        write_csv(landing_path(layout, spec, day), sensor_rows(day, ROWS_PER_DAY), SENSOR_FIELDS)
        results = ingest_and_featurize(spec, layout, day)
        assert all(r.passed for r in results) and len(results) == len(DATA_GATES) + len(FEATURE_CHECKS), day
    return layout.root


@pytest.fixture(scope="module")
def champion_store(sensor_world, tmp_path_factory) -> Path:
    """An MLflow store whose ``champion`` is a small model trained on GOOD_DAYS (registered from
    its saved folder: the training cases never get as far as loading it)."""
    from mlops_assets.core.registry import model_name
    from mlops_assets.core.registry import CHAMPION_ALIAS, ModelRegistry
    from mlops_assets.train.model import TuningBudget, train_candidate
    from mlops_assets.train.snapshot import build_training_snapshot, read_split
    from mlops_assets.train.window import TrainingWindow

    spec = load_spec(write_spec(tmp_path_factory.mktemp("champion_spec"), SENSOR_SPEC_YAML))
    layout = StateLayout(sensor_world)
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(GOOD_DAYS[0], GOOD_DAYS[-1], holdout_days=0))
    trained = train_candidate(
        read_split(layout, snapshot, "train"), read_split(layout, snapshot, "validation"), spec,
        TuningBudget(trials=1, max_rounds=20, early_stopping_rounds=5), log=lambda _: None,
    )
    store = tmp_path_factory.mktemp("champion_store")
    model_dir, sha256 = trained.save(store / "model")
    registry = ModelRegistry(f"sqlite:///{store / 'mlflow.db'}", store / "artifacts", model_name(spec))
    version = registry.register(
        run_id=None, model_uri=str(model_dir.parent), description="the corpus's champion",
        tags={"model_sha256": sha256, "snapshot_hash": snapshot.content_hash, "threshold": str(trained.threshold)},
    )
    registry.set_alias(CHAMPION_ALIAS, version)
    with connect(layout.warehouse_path) as con:  # the data cases start from GOOD_DAYS alone
        con.execute(f"DROP TABLE snapshots.{snapshot.table_name}")
        con.execute("DELETE FROM training_snapshots")
    return store / "mlflow.db"


@dataclass
class World:
    """One test's copy of a prepared state, and the spec its bad input is read with."""

    layout: StateLayout
    spec: Any
    spec_dir: Path
    tmp: Path

    def land(self, day: dt.date, rows: list[dict], fields: list[str] | None = None) -> Path:
        return write_csv(landing_path(self.layout, self.spec, day), rows, fields or SENSOR_FIELDS)

    def path(self, day: dt.date = BAD_DAY) -> Path:
        target = landing_path(self.layout, self.spec, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def respec(self, text: str, *, check_sql: bool = True) -> None:
        self.spec = load_spec(write_spec(self.spec_dir, text), check_sql=check_sql)


def copy_state(source: Path, target: StateLayout) -> None:
    shutil.copytree(source / "landing", target.landing_dir, dirs_exist_ok=True)
    for path in source.glob("warehouse.duckdb*"):
        shutil.copyfile(path, target.root / path.name)


@pytest.fixture
def sensor_state(state, sensor_world, tmp_path) -> World:
    copy_state(sensor_world, state)
    spec_dir = tmp_path / "spec"
    return World(state, load_spec(write_spec(spec_dir, SENSOR_SPEC_YAML)), spec_dir, tmp_path)


@pytest.fixture
def flight_state(built_flights, spec, tmp_path) -> World:
    return World(built_flights, spec, tmp_path / "spec", tmp_path)


# -- what the warehouse holds -------------------------------------------------------------------------


def fingerprint(layout: StateLayout, dataset: str) -> dict:
    """Everything a bad input must not touch: the content of every snapshot table that exists, the
    feature rows of every day, the feature builds, the other days' ingestions and verdicts, the
    training snapshots. Compared before and after each case."""
    from mlops_assets.core.hashing import relation_sha256

    found: dict[str, Any] = {}
    with connect(layout.warehouse_path) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        found["tables"] = tables
        for schema, name in tables:
            if schema == "snapshots":
                found[f"snapshot:{name}"] = relation_sha256(con, f'snapshots."{name}"')
        found["raw_snapshots"] = con.execute(
            "SELECT CAST(day AS DATE), content_hash, table_name, rows FROM raw_snapshots WHERE dataset = ? ORDER BY ALL", [dataset]
        ).fetchall()
        if ("main", f"features_{dataset}") in tables:
            for (day,) in con.execute(f'SELECT DISTINCT _day FROM "features_{dataset}" ORDER BY 1').fetchall():
                found[f"features:{day}"] = relation_sha256(
                    con, f"(SELECT * FROM \"features_{dataset}\" WHERE _day = DATE '{day.isoformat()}')"
                )
        found["feature_versions"] = con.execute(
            "SELECT CAST(day AS DATE), content_hash, raw_hash, rows FROM feature_versions WHERE dataset = ? ORDER BY ALL", [dataset]
        ).fetchall()
        found["ingestions"] = con.execute(
            "SELECT CAST(day AS DATE), content_hash, ingested_at FROM raw_ingestions WHERE dataset = ? ORDER BY ALL", [dataset]
        ).fetchall()
        found["verdicts"] = con.execute(
            "SELECT CAST(day AS DATE), content_hash, check_name, passed, checked_at FROM gate_results WHERE dataset = ? "
            "ORDER BY ALL",
            [dataset],
        ).fetchall()
        if ("main", "training_snapshots") in tables:
            found["training_snapshots"] = con.execute(
                "SELECT content_hash, table_name FROM training_snapshots ORDER BY ALL"
            ).fetchall()
    return found


def leftovers(layout: StateLayout) -> list[Path]:
    """Temporary files a failed step could leave behind."""
    return sorted(
        p for p in layout.root.rglob("*")
        if ".partial" in p.name or p.name.startswith(".tmp") or p.name.endswith(".wal")
    )


def champion_version(layout: StateLayout, dataset_model: str) -> str | None:
    from mlops_assets.core.registry import ModelRegistry

    champion = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, dataset_model).champion()
    return champion.version if champion else None


# -- the corpus -----------------------------------------------------------------------------------------

GATE = "gate"  # the snapshot is stored, these gates fail, no features are built
REFUSED = "refused"  # an exception before anything is written
SPEC = "spec"  # the dataset spec is refused when loaded
TRAINING = "training"  # the train job fails before any candidate; the champion stays
LEAK = "leak"  # the data gates pass, a feature check fails: no training reads the day
REBUILD = "rebuild"  # a spec that got past validation: rebuilding an accepted day is refused
BLIND = "blind"  # the spec loads, and the day's features do not depend on the outcome-side columns


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[World], None]
    outcome: str
    message: str  # a regex the failing gates' summary, or the refusal's message, must match
    gates: frozenset[str] = frozenset()  # exactly the data gates that fail, for GATE
    error: type | None = None  # the refusal's exception type, for REFUSED and SPEC
    column: str | None = None  # a column some failing gate's failures must name
    world: str = "sensors"  # or "flights"
    training: dict = field(default_factory=dict)  # training_snapshot config, for TRAINING
    day: dt.date | None = None  # the bad day, when not BAD_DAY (or FLIGHT_DAY)


def gate(name, make, gates, message, column=None, world="sensors", day=None) -> Case:
    return Case(name, make, GATE, message, frozenset(gates), None, column, world, day=day)


def refused(name, make, error, message, world="sensors") -> Case:
    return Case(name, make, REFUSED, message, frozenset(), error, None, world)


def rows(day: dt.date = BAD_DAY, n: int = ROWS_PER_DAY) -> list[dict]:
    return sensor_rows(day, n)


def good_csv(day: dt.date = BAD_DAY) -> str:
    header = ",".join(SENSOR_FIELDS)
    return "\n".join([header, *(",".join(str(r[f]) for f in SENSOR_FIELDS) for r in rows(day))]) + "\n"


def edited(**changes: dict[int, Any]) -> Callable[[World], None]:
    """Land the bad day with some cells changed: column=value for the rows given as {index: value}."""

    def make(world: World) -> None:
        data = rows()
        for column, cells in changes.items():
            for index, value in cells.items():
                data[index][column] = value
        world.land(BAD_DAY, data)

    return make


def text_file(content: Callable[[], str | bytes]) -> Callable[[World], None]:
    def make(world: World) -> None:
        data = content()
        path = world.path()
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)

    return make


def ragged_last_row() -> str:
    return good_csv() + "2024-03-04 23:59:00,d01,1.0,north,ok,unexpected,extra\n"


def short_row_midway() -> str:
    lines = good_csv().splitlines(keepends=True)
    lines.insert(11, "2024-03-04 23:59:00,d01\n")
    return "".join(lines)


def unterminated_quote() -> str:
    return good_csv() + '2024-03-04 23:59:00,"d03,1.0,north,ok\n'


def truncated_mid_line() -> str:
    text = good_csv()
    return text[: text.rindex("\n", 0, len(text) - 1) + 12]  # the last row cut after 11 characters


def concatenated_exports() -> str:
    text = good_csv()
    header, body = text.split("\n", 1)
    half = body.splitlines(keepends=True)
    return header + "\n" + "".join(half[:50]) + header + "\n" + "".join(half[50:])


def latin1_bytes() -> bytes:
    text = good_csv().replace(",north,", ",nörth,", 1)
    return text.encode("latin-1")


def enormous_line() -> str:
    data = rows()
    data[5]["device_id"] = "x" * 3_000_000  # beyond the CSV reader's 2 MB line limit
    return _csv_text(data)


def _csv_text(data: list[dict]) -> str:
    return "\n".join([",".join(SENSOR_FIELDS), *(",".join(str(r[f]) for f in SENSOR_FIELDS) for r in data)]) + "\n"


def duplicated_keys(world: World) -> None:
    data = rows()[:-3]
    data += [dict(data[3]), dict(data[3]), {**data[8], "reading": 1.0}]
    world.land(BAD_DAY, data)


def row_from(day: dt.date) -> Callable[[World], None]:
    def make(world: World) -> None:
        data = rows()
        data[-1] = {**data[-1], "ts": f"{day.isoformat()} 12:00:00"}
        world.land(BAD_DAY, data)

    return make


def all_null_column(world: World) -> None:
    world.land(BAD_DAY, [{**r, "reading": None} for r in rows()])


def truncated_day(world: World) -> None:
    world.land(BAD_DAY, rows(n=ROWS_PER_DAY)[:10])


def header_only(world: World) -> None:
    world.path().write_text(",".join(SENSOR_FIELDS) + "\n")


def missing_column(world: World) -> None:
    world.land(BAD_DAY, rows(), [f for f in SENSOR_FIELDS if f != "site"])


def extra_column(world: World) -> None:
    world.land(BAD_DAY, [{**r, "firmware": "1.2"} for r in rows()], [*SENSOR_FIELDS, "firmware"])


def renamed_column(world: World) -> None:
    renamed = [{("value" if k == "reading" else k): v for k, v in r.items()} for r in rows()]
    world.land(BAD_DAY, renamed, ["ts", "device_id", "value", "site", "outcome"])


def wrong_delimiter(world: World) -> None:
    world.path().write_text(good_csv().replace(",", ";"))


def empty_file(world: World) -> None:
    world.path().write_bytes(b"")


def outside_partitions(world: World) -> None:
    world.land(dt.date(2024, 5, 1), rows(dt.date(2024, 5, 1)))


def future_day(world: World) -> None:
    world.respec(sensor_spec_text(**{"end_date: 2024-04-01": "end_date: null"}))
    tomorrow = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)
    world.land(tomorrow, rows(tomorrow))


def symlink_outside(world: World) -> None:
    secret = world.tmp / "outside.csv"
    secret.write_text(good_csv())
    world.path().symlink_to(secret)


def symlink_to_other_day(world: World) -> None:
    world.path().symlink_to(landing_path(world.layout, world.spec, GOOD_DAYS[0]))


def path_traversal(world: World) -> None:
    """A file dropped beside the zone, and names crafted to look like the day: none is read."""
    zone = world.path().parent
    (zone.parent / f"{BAD_DAY.isoformat()}.csv").write_text(good_csv())  # landing/2024-03-04.csv
    for name in (f"..{BAD_DAY.isoformat()}.csv", f"{BAD_DAY.isoformat()}.csv.bak", f"{BAD_DAY.isoformat()}.CSV"):
        (zone / name).write_text(good_csv())


def as_parquet(world: World) -> None:
    world.respec(sensor_spec_text(**{"format: csv": "format: parquet"}))


def parquet_file(content: Callable[[World], bytes]) -> Callable[[World], None]:
    def make(world: World) -> None:
        as_parquet(world)
        world.path().write_bytes(content(world))

    return make


def valid_parquet(world: World, *, reading_as_text: bool = False) -> bytes:
    import pandas as pd

    frame = pd.DataFrame(rows())
    frame["ts"] = pd.to_datetime(frame["ts"])
    if reading_as_text:
        frame["reading"] = frame["reading"].astype(str)
        frame.loc[7, "reading"] = "broken"
    scratch = world.tmp / "scratch.parquet"
    frame.to_parquet(scratch, index=False)
    return scratch.read_bytes()


def spec_case(name: str, transform: Callable[[str], str], message: str, base: str = "sensors") -> Case:
    def make(world: World) -> None:
        from mlops_assets.core.spec import BUILTIN_SPECS_DIR

        source = SENSOR_SPEC_YAML if base == "sensors" else (BUILTIN_SPECS_DIR / "nycflights.yaml").read_text()
        text = transform(source)
        assert text != source
        world.respec(text)  # the built-in spec's reference tables are builtin: paths, found from anywhere

    return Case(name, make, SPEC, message, frozenset(), SpecError, None, "sensors")


def flight_edit(edit: Callable[[Any], None]) -> Callable[[World], None]:
    def make(world: World) -> None:
        import pandas as pd

        path = landing_path(world.layout, world.spec, FLIGHT_DAY)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        edit(frame)
        frame.to_csv(path, index=False)

    return make


def _negative_distance(frame) -> None:
    frame.loc[[2, 40], "distance"] = "-250"


def _duplicated_flight(frame) -> None:
    frame.loc[len(frame) - 1] = frame.loc[10]


def _next_day_flights(frame) -> None:
    frame.loc[:4, "time_hour"] = "2013-01-06T15:00:00Z"


# The training cases land their own days after GOOD_DAYS and train on them.


def single_class_window(world: World) -> None:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    for offset in range(3):
        day = dt.date(2024, 3, 13) + dt.timedelta(days=offset)
        world.land(day, [{**r, "outcome": "ok", "reading": min(r["reading"], 79.0)} for r in rows(day)])
        assert all(r.passed for r in ingest_and_featurize(world.spec, world.layout, day))


def stuck_day(day: dt.date) -> list[dict]:
    """A stuck sensor on one site: the same reading everywhere, every fifth device failing."""
    return [{**r, "reading": 50.0, "site": "north", "outcome": "fail" if i % 5 == 0 else "ok"}
            for i, r in enumerate(rows(day, 150))]


def constant_features(world: World) -> None:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    day = dt.date(2024, 3, 8)  # its trailing rate is one value too: one site, one history
    world.land(day, stuck_day(day))
    assert all(r.passed for r in ingest_and_featurize(world.spec, world.layout, day))


def all_null_feature(world: World) -> None:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    day = dt.date(2024, 3, 20)  # nothing in the two days before it: its trailing rate is NULL
    world.land(day, stuck_day(day))
    assert all(r.passed for r in ingest_and_featurize(world.spec, world.layout, day))


def training(name, make, message, window) -> Case:
    return Case(name, make, TRAINING, message, frozenset(), None, None, "sensors", window)


# -- issue 13, hostile inputs round two: the data and spec classes ---------------------------------------
# Feature SQL runs where the outcome-side columns and the warehouse do not exist; dates and times are
# read one way (ISO 8601, naive values as local time, clock changes refused); strings hold no
# control characters; header names are exact; every spec number is finite; stored features must
# hold every feature the spec names.


def sensor_spec_with_sql(sql: str, features: str) -> str:
    return SENSOR_SPEC_YAML.replace(
        "features:\n", f"feature_sql: |\n{textwrap.indent(sql, '  ')}\nfeatures:\n{features}", 1
    )


def with_feature_sql(sql: str | Callable[[World], str], features: str = "  leak: {kind: categorical}\n",
                     *, check_sql: bool = True) -> Callable[[World], None]:
    def make(world: World) -> None:
        text = sensor_spec_with_sql(sql(world) if callable(sql) else sql, features)
        world.respec(text, check_sql=check_sql)

    return make


def add_feature_sql(sql: str, features: str = "  leak: {kind: categorical}\n") -> Callable[[str], str]:
    return lambda text: sensor_spec_with_sql(sql, features)


def snapshot_table_of(world: World, day: dt.date) -> str:
    from mlops_assets.ingest.snapshots import current_snapshot

    with connect(world.layout.warehouse_path) as con:
        return current_snapshot(con, world.spec, day).table_name


def snapshot_through_shadowing_cte(world: World) -> str:
    table = snapshot_table_of(world, GOOD_DAYS[0])
    return (f"WITH {table} AS (SELECT * FROM base)\n"
            f"SELECT s.device_id, s.ts, to_json(s)::VARCHAR AS leak FROM snapshots.{table} s")


def landing_file_read(world: World) -> str:
    path = landing_path(world.layout, world.spec, GOOD_DAYS[0])
    return f"SELECT f.device_id, f.ts::TIMESTAMPTZ AS ts, f.outcome AS leak FROM read_csv('{path}') f"


def in_zone(zone: str, day: dt.date) -> Callable[[World], None]:
    """The sensors' spec in a zone with a clock change on ``day``; the file's times are naive."""

    def make(world: World) -> None:
        world.respec(sensor_spec_text(**{"timezone: UTC": f"timezone: {zone}",
                                         "end_date: 2024-04-01": "end_date: 2025-01-01"}))
        world.land(day, rows(day))

    return make


def offsets_required(world: World) -> None:
    world.respec(sensor_spec_text(**{"timezone: UTC}": "timezone: UTC, offsets: required}"}))
    world.land(BAD_DAY, rows())


def restyled_timestamps(style: str, only_row: int | None = None) -> Callable[[World], None]:
    def make(world: World) -> None:
        data = rows()
        for index, row in enumerate(data):
            if only_row is None or index == only_row:
                moment = dt.datetime.fromisoformat(row["ts"])
                row["ts"] = (str(int(moment.replace(tzinfo=dt.timezone.utc).timestamp())) if style == "epoch"
                             else moment.strftime(style))
        world.land(BAD_DAY, data)

    return make


def _naive_local_time_hour(frame) -> None:
    import pandas as pd

    local = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_convert("America/New_York")
    frame["time_hour"] = local.dt.strftime("%Y-%m-%d %H:%M:%S")


def site_tells_the_outcome(mistakes: int = 0) -> Callable[[World], None]:
    """An upstream whose site column is the outcome under another name (north = failed), on a day
    of 200 rows (the fewest the separation test scores, and at most twice the usual day)."""

    def make(world: World) -> None:
        data = [{**r, "outcome": "fail" if r["site"] == "north" else "ok"} for r in rows(n=200)]
        for row in [r for r in data if r["site"] == "north"][:mistakes]:
            row["outcome"] = "ok"
        world.land(BAD_DAY, data)

    return make


def leak(name, make, message, column="site") -> Case:
    return Case(name, make, LEAK, message, frozenset({"check_no_leakage"}), None, column)


def rebuild(name, make, message) -> Case:
    return Case(name, make, REBUILD, SANDBOX + message + r".*\(feature SQL sees only base", frozenset(), FeatureError)


def blind(name, make) -> Case:
    return Case(name, make, BLIND, "", frozenset())


def header(replace: str, by: str) -> Callable[[World], None]:
    return text_file(lambda: good_csv().replace(replace, by, 1))


SANDBOX = r"feature_sql cannot run on sensors 2024-03-01: "
FINITE = r"Input should be a finite number"


CASES = [
    # -- unreadable files: refused at ingestion, naming the file and the problem
    refused("malformed-csv-ragged-last-row", text_file(ragged_last_row), "IngestionError",
            r"line 102 has 7 field\(s\), the header has 5"),
    refused("malformed-csv-short-row", text_file(short_row_midway), "IngestionError",
            r"line 12 has 2 field\(s\), the header has 5"),
    refused("malformed-csv-unterminated-quote", text_file(unterminated_quote), "IngestionError",
            r"line 10[12].*(unexpected end of data|quote)"),
    refused("truncated-csv", text_file(truncated_mid_line), "IngestionError",
            r"line 101 has 1 field\(s\), the header has 5"),
    refused("wrong-delimiter", text_file(lambda: good_csv().replace(",", ";")), "IngestionError",
            r"single column .*separated by ';', but the spec's delimiter is ','"),
    refused("empty-file", empty_file, "IngestionError", r"the file is empty \(0 bytes\)"),
    refused("non-utf8-bytes", text_file(latin1_bytes), "IngestionError", r"not utf-8"),
    refused("enormous-line", text_file(enormous_line), "IngestionError", r"Maximum line size of 2000000 bytes exceeded"),
    refused("corrupt-parquet", parquet_file(lambda w: b"PAR1 this is not a parquet file " * 20), "IngestionError",
            r"2024-03-04\.parquet.*No magic bytes found"),
    refused("truncated-parquet", parquet_file(lambda w: valid_parquet(w)[: len(valid_parquet(w)) // 2]),
            "IngestionError", r"2024-03-04\.parquet.*No magic bytes found"),
    # -- files that are not for a day the dataset has
    refused("day-outside-partitions", outside_partitions, "IngestionError",
            r"2024-05-01 is outside the partitions of sensors \(from 2024-03-01, before 2024-04-01\)"),
    refused("future-day", future_day, "IngestionError", r"is a future day"),
    # -- landing files that are not safe to read
    refused("landing-symlink-outside-zone", symlink_outside, "LandingError", r"is a symlink; refusing to follow it"),
    refused("landing-symlink-to-another-day", symlink_to_other_day, "LandingError", r"is a symlink"),
    refused("landing-path-traversal", path_traversal, "LandingError", r"no landing file for sensors on 2024-03-04"),
    # -- the schema gate
    gate("missing-column", missing_column, {"check_schema"}, r"column 'site': column present: observed missing", "site"),
    gate("extra-column", extra_column, {"check_schema"}, r"column 'firmware': no undeclared columns", "firmware"),
    gate("renamed-column", renamed_column, {"check_schema"},
         r"column 'reading': column present: observed missing.*column 'value': no undeclared columns", "value"),
    gate("wrong-type-float", edited(reading={7: "n/a", 30: "twelve"}), {"check_schema"},
         r"column 'reading': coerce_dtype.*expected values of type float", "reading"),
    gate("wrong-type-timestamp", edited(ts={12: "yesterday"}), {"check_schema"},
         r"column 'ts': timestamp format: observed 1 value\(s\) not in the expected format, e\.g\. 'yesterday'", "ts"),
    gate("concatenated-exports", text_file(concatenated_exports), {"check_schema"},
         r"column 'ts': timestamp format: observed 1 value\(s\) not in the expected format, e\.g\. 'ts'", "ts"),
    gate("nan", edited(reading={4: "NaN"}), {"check_schema"},
         r"column 'reading': finite values: observed 1 NaN or infinite value\(s\), e\.g\. nan", "reading"),
    gate("infinity", edited(reading={4: "inf", 9: "-inf"}), {"check_schema"},
         r"column 'reading': finite values: observed 2 NaN or infinite value\(s\)", "reading"),
    gate("out-of-range", edited(reading={2: 151.5}), {"check_schema"},
         r"column 'reading': less_than_or_equal_to\(150.0\).*151\.5.*expected <= 150", "reading"),
    gate("negative-value", edited(reading={9: -60}), {"check_schema"},
         r"column 'reading': greater_than_or_equal_to\(-50.0\).*-60.*expected >= -50", "reading"),
    gate("value-not-allowed", edited(site={4: "west"}), {"check_schema"}, r"column 'site': isin.*west", "site"),
    gate("enormous-string", edited(device_id={6: "y" * 1_000_000}), {"check_schema"},
         r"column 'device_id': string length: observed 1 value\(s\) longer than 10000 characters \(longest 1000000\)",
         "device_id"),
    gate("parquet-wrong-type", parquet_file(lambda w: valid_parquet(w, reading_as_text=True)), {"check_schema"},
         r"column 'reading': coerce_dtype.*broken", "reading"),
    # -- the other data gates
    gate("duplicated-keys", duplicated_keys, {"check_unique_entity_key"},
         r"unique entity key: observed 2 keys duplicated \(3 extra rows\)", "device_id, ts"),
    gate("row-from-another-day", row_from(dt.date(2024, 3, 5)), {"check_rows_in_partition"},
         r"column 'ts': timestamp on the partition day: observed 1 rows on other days", "ts"),
    gate("future-dated-row", row_from(dt.date(2099, 1, 1)), {"check_rows_in_partition"},
         r"column 'ts': timestamp on the partition day: observed 1 rows on other days", "ts"),
    gate("all-null-column", all_null_column, {"check_null_rates"},
         r"column 'reading': null rate ceiling: observed 100\.00% nulls, expected at most 10\.00%", "reading"),
    gate("null-keys", edited(device_id={1: None, 2: None}), {"check_null_rates"},
         r"column 'device_id': null rate ceiling: observed 2\.00% nulls, expected at most 0\.00%", "device_id"),
    gate("header-only", header_only, {"check_row_count"}, r"minimum rows: observed 0 rows, expected at least 1"),
    gate("truncated-day", truncated_day, {"check_row_count"},
         r"row count against trailing median: observed 10 rows \(0\.10x the median 100"),
    # -- real flight days, re-landed broken over their good version
    gate("flights-negative-distance", flight_edit(_negative_distance), {"check_schema"},
         r"column 'distance': greater_than_or_equal_to\(1.0\).*-250", "distance", world="flights"),
    gate("flights-duplicated-flight", flight_edit(_duplicated_flight), {"check_unique_entity_key"},
         r"unique entity key: observed 1 keys duplicated", "carrier, flight, origin, time_hour", world="flights"),
    gate("flights-rows-of-another-local-day", flight_edit(_next_day_flights), {"check_rows_in_partition"},
         r"column 'time_hour': timestamp on the partition day: observed 5 rows on other days.*America/New_York",
         "time_hour", world="flights"),
    # -- dataset specs
    spec_case("spec-typo-in-a-key", lambda t: t.replace("features:\n", "featurs:\n", 1), r"featurs: unknown field \(typo\?\)"),
    spec_case("spec-typo-in-a-column-name", lambda t: t.replace("  reading: {kind: numeric", "  readng: {kind: numeric"),
              r"features\.readng: unknown column 'readng'"),
    spec_case("spec-forbidden-column-as-feature",
              lambda t: t.replace("features:\n", "features:\n  outcome: {kind: categorical}\n", 1),
              r"features\.outcome: forbidden outcome-side column used as a feature"),
    spec_case("spec-forbidden-column-through-feature-sql",
              lambda t: t.replace("b.year - p.year AS plane_age", "b.arr_delay + 0 AS plane_age"),
              r"features\.plane_age: derived from forbidden outcome-side column\(s\) \['arr_delay'\]", base="flights"),
    # -- issue 13: feature SQL cannot reach an outcome-side column or the warehouse
    spec_case("spec-leak-struct-field-access",
              add_feature_sql("SELECT b.device_id, b.ts, b['outcome'] AS leak FROM base b"),
              r'feature_sql: Binder Error: Could not find key "outcome" in struct'),
    spec_case("spec-leak-struct-extract",
              add_feature_sql("SELECT b.device_id, b.ts, struct_extract(b, 'outcome') AS leak FROM base b"),
              r'feature_sql: .*"outcome".*base holds the day\'s rows without the outcome-side column\(s\) \["outcome"\]'),
    spec_case("spec-leak-columns-regex",
              add_feature_sql("SELECT b.device_id, b.ts, concat_ws('|', *COLUMNS('outc.*')) AS leak FROM base b"),
              r'feature_sql: Binder Error: No matching columns found that match regex "outc\.\*"'),
    spec_case("spec-leak-flights-struct-field",
              lambda t: t.replace("b.year - p.year AS plane_age", "b['dep_delay'] AS plane_age"),
              r'feature_sql: Binder Error: Could not find key "dep_delay" in struct', base="flights"),
    spec_case("spec-cte-shadows-a-snapshot-table",
              add_feature_sql("WITH sensors__0123456789abcdef AS (SELECT * FROM base)\n"
                              "SELECT s.device_id, s.ts, to_json(s)::VARCHAR AS leak FROM snapshots.sensors__0123456789abcdef s"),
              r"feature_sql: reads \['snapshots\.sensors__0123456789abcdef'\]; a schema-qualified name never resolves"),
    rebuild("rebuild-struct-field-access",
            with_feature_sql("SELECT b.device_id, b.ts, b['outcome'] AS leak FROM base b", check_sql=False),
            r'.*Could not find key "outcome"'),
    rebuild("rebuild-cte-shadowing-the-snapshot-table",
            with_feature_sql(snapshot_through_shadowing_cte, check_sql=False),
            r".*Catalog Error"),
    rebuild("rebuild-subquery-over-a-catalog-table",
            with_feature_sql("SELECT b.device_id, b.ts, (SELECT max(content_hash) FROM raw_ingestions) AS leak FROM base b",
                             check_sql=False),
            r".*raw_ingestions"),
    rebuild("rebuild-cte-named-base-over-the-features",
            with_feature_sql("WITH base AS (SELECT * FROM features_sensors)\n"
                             "SELECT device_id, ts, CAST(failed AS VARCHAR) AS leak FROM base", check_sql=False),
            r".*features_sensors"),
    rebuild("rebuild-reads-a-landing-file", with_feature_sql(landing_file_read, check_sql=False),
            r".*(file system operations are disabled|Permission Error)"),
    blind("blind-whole-row-as-json-ending-in-a-comment",
          with_feature_sql("SELECT b.device_id, b.ts, to_json(b)::VARCHAR AS leak FROM base b -- the whole row")),
    blind("blind-whole-row-as-text", with_feature_sql("SELECT b.device_id, b.ts, CAST(b AS VARCHAR) AS leak FROM base b")),
    blind("blind-every-column-unpacked",
          with_feature_sql("SELECT b.device_id, b.ts, concat_ws('|', *COLUMNS(*)) AS leak FROM base b")),
    blind("blind-row-hash", with_feature_sql("SELECT b.device_id, b.ts, md5(CAST(b AS VARCHAR)) AS leak FROM base b")),
    leak("leak-categorical-copy-of-the-label", site_tells_the_outcome(),
         r"column 'site': no near-perfect single-feature predictor: observed AUC 1\.0000 from its categories "
         r"ordered by label rate \(values with fewer than 20 rows pooled\), expected below 0\.98"),
    leak("leak-categorical-near-copy-of-the-label", site_tells_the_outcome(mistakes=1),
         r"column 'site': no near-perfect single-feature predictor: observed AUC 0\.99\d\d from its categories"),
    # -- issue 13: timestamps read one way
    gate("naive-local-time-skipped-by-the-clock", in_zone("America/New_York", dt.date(2024, 3, 10)), {"check_schema"},
         r"column 'ts': local time exists once in America/New_York: observed 4 local time\(s\) skipped by the clock "
         r"change, e\.g\. '2024-03-10 02:09:36'", "ts", day=dt.date(2024, 3, 10)),
    gate("naive-local-time-repeated-by-the-clock", in_zone("America/New_York", dt.date(2024, 11, 3)), {"check_schema"},
         r"column 'ts': local time exists once in America/New_York: observed 4 local time\(s\) repeated by the clock "
         r"change, e\.g\. '2024-11-03 01:12:00'", "ts", day=dt.date(2024, 11, 3)),
    gate("naive-timestamp-where-offsets-are-required", offsets_required, {"check_schema"},
         r"column 'ts': UTC offset present: observed 100 value\(s\) without a UTC offset, e\.g\. '2024-03-04 00:00:00'",
         "ts"),
    gate("flights-local-time-without-offset", flight_edit(_naive_local_time_hour), {"check_schema"},
         r"column 'time_hour': UTC offset present: observed \d+ value\(s\) without a UTC offset", "time_hour",
         world="flights"),
    gate("timestamp-month-first", restyled_timestamps("%m/%d/%Y %H:%M:%S"), {"check_schema"},
         r"column 'ts': timestamp format: observed 100 value\(s\) not in the expected format, e\.g\. "
         r"'03/04/2024 00:00:00'.*expected ISO 8601", "ts"),
    gate("timestamp-day-first-dotted", restyled_timestamps("%d.%m.%Y %H:%M:%S"), {"check_schema"},
         r"column 'ts': timestamp format: observed 100 value\(s\).*'04\.03\.2024 00:00:00'", "ts"),
    gate("timestamp-epoch-seconds", restyled_timestamps("epoch"), {"check_schema"},
         r"column 'ts': timestamp format: observed 100 value\(s\).*'1709510400'", "ts"),
    gate("timestamp-twelve-hour-clock", restyled_timestamps("%Y-%m-%d %I:%M:%S %p"), {"check_schema"},
         r"column 'ts': timestamp format: observed 100 value\(s\).*AM'", "ts"),
    gate("timestamp-compact-iso", restyled_timestamps("%Y%m%dT%H%M%S"), {"check_schema"},
         r"column 'ts': timestamp format: observed 100 value\(s\).*'20240304T000000'", "ts"),
    gate("timestamp-one-row-in-words", restyled_timestamps("%d %B %Y %H:%M", only_row=40), {"check_schema"},
         r"column 'ts': timestamp format: observed 1 value\(s\).*'04 March 2024 09:36'", "ts"),
    # -- issue 13: control characters in strings
    gate("nul-in-a-string", edited(device_id={5: "d05\x00"}), {"check_schema"},
         r"column 'device_id': no control characters: observed 1 value\(s\) holding control characters", "device_id"),
    gate("unit-separator-in-a-string", edited(device_id={6: "d\x1f06"}), {"check_schema"},
         r"column 'device_id': no control characters", "device_id"),
    gate("delete-character-in-a-string", edited(device_id={7: "d07\x7f"}), {"check_schema"},
         r"column 'device_id': no control characters", "device_id"),
    gate("escape-sequence-in-a-string", edited(device_id={8: "\x1b[31md08"}), {"check_schema"},
         r"column 'device_id': no control characters", "device_id"),
    # -- issue 13: header names the reader would rename or trim
    refused("header-duplicated-name", header("outcome\n", "site\n"), "IngestionError",
            r"the header line names 'site' twice \(fields 4 and 5\)"),
    refused("header-trailing-space", header("device_id,", "device_id ,"), "IngestionError",
            r"header name 'device_id ' \(field 2\) has leading or trailing spaces"),
    refused("header-leading-space", header(",reading", ", reading"), "IngestionError",
            r"header name ' reading' \(field 3\) has leading or trailing spaces"),
    refused("header-empty-name", header(",reading,", ",,"), "IngestionError", r"header field 3 is empty"),
    # -- issue 13: spec values that validate but cannot run
    spec_case("spec-infinite-column-bound",
              lambda t: t.replace("max: 150, max_null_rate: 0.1}\n  site: {type", "max: .inf, max_null_rate: 0.1}\n  site: {type"),
              r"columns\.reading\.max: " + FINITE),
    spec_case("spec-negative-infinite-feature-bound",
              lambda t: t.replace("reading: {kind: numeric, min: -50", "reading: {kind: numeric, min: -.inf"),
              r"features\.reading\.min: " + FINITE),
    spec_case("spec-nan-bound", lambda t: t.replace("{type: float, min: -50", "{type: float, min: .nan"),
              r"columns\.reading\.min: " + FINITE),
    spec_case("spec-infinite-row-count-ratio", lambda t: t.replace("max_ratio: 2.0", "max_ratio: .inf"),
              r"quality\.row_count\.max_ratio: " + FINITE),
    # -- training windows: refused before any candidate exists
    training("training-single-class-window", single_class_window,
             r"the train split of 2024-03-13\.\.2024-03-15 has a single label value \(failed = 0",
             {"start_date": "2024-03-13", "end_date": "2024-03-15", "holdout_days": 0}),
    training("training-constant-features", constant_features,
             r"no feature varies in the training split.*reading is constant \(50\.0\).*site is constant \(north\)"
             r".*site_failure_rate_2d is constant",
             {"start_date": "2024-03-08", "end_date": "2024-03-08", "min_days": 1, "holdout_days": 0}),
    training("training-all-null-feature", all_null_feature,
             r"no feature varies in the training split.*site_failure_rate_2d is null in every row",
             {"start_date": "2024-03-20", "end_date": "2024-03-20", "min_days": 1, "holdout_days": 0}),
]


def test_the_corpus_is_large_and_named_uniquely():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    # with test_bad_state.STATE_CASES and test_bad_models the corpus is well over 80 named cases
    assert len(CASES) >= 80


# -- running a case ------------------------------------------------------------------------------------


def world_for(case: Case, request) -> World:
    return request.getfixturevalue("flight_state" if case.world == "flights" else "sensor_state")


def run_day(world: World, day: dt.date):
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    return ingest_and_featurize(world.spec, world.layout, day)


def day_of(world: World, case: Case | None = None) -> dt.date:
    if case is not None and case.day is not None:
        return case.day
    return FLIGHT_DAY if world.spec.name == "nycflights" else BAD_DAY


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome in (GATE, REFUSED)], ids=lambda c: c.name)
def test_bad_file_is_stopped(case: Case, request):
    world = world_for(case, request)
    dataset = world.spec.name
    before = fingerprint(world.layout, dataset)
    case.make(world)
    day = day_of(world, case)

    if case.outcome == REFUSED:
        with pytest.raises(Exception) as raised:
            run_day(world, day if case.name not in ("day-outside-partitions", "future-day") else _landed_day(world))
        assert type(raised.value).__name__ == case.error, raised.value
        message = str(raised.value)
        assert re.search(case.message, message, re.IGNORECASE | re.DOTALL), message
        assert len(message) < 1500, "a refusal is a sentence, not a dump of the file"
        after = fingerprint(world.layout, dataset)
        assert after == before  # nothing at all was written: no snapshot, no ingestion, no verdict
    else:
        results = {r.check: r for r in run_day(world, day)}
        failed = {name for name, r in results.items() if not r.passed}
        assert failed == case.gates, {n: r.summary for n, r in results.items() if not r.passed}
        assert set(results) == set(DATA_GATES), "feature checks ran on a snapshot that failed its gates"
        summary = " ".join(results[name].summary for name in case.gates)
        assert re.search(case.message, summary, re.DOTALL), summary
        assert len(summary) < 3000, "a gate summary stays readable whatever the input"
        if case.column:
            assert any(f.column == case.column for name in case.gates for f in results[name].failures)
        after = fingerprint(world.layout, dataset)
        with connect(world.layout.warehouse_path) as con:
            known = {r[1] for r in before["raw_snapshots"]}
            stored = [
                row for row in con.execute(
                    "SELECT content_hash, table_name FROM raw_snapshots WHERE dataset = ? AND day = ?", [dataset, day]
                ).fetchall()
                if row[0] not in known
            ]
            assert len(stored) == 1, "the bad snapshot is kept, once, as evidence"
            (content_hash, table_name) = stored[0]
            recorded = dict(con.execute(
                "SELECT check_name, passed FROM gate_results WHERE dataset = ? AND day = ? AND content_hash = ?",
                [dataset, day, content_hash],
            ).fetchall())
        assert recorded == {name: name not in case.gates for name in DATA_GATES}
        # everything that existed is untouched; the only additions are the evidence
        assert after["tables"] == sorted([*before["tables"], ("snapshots", table_name)])
        for key, value in before.items():
            if key in ("tables", "raw_snapshots", "ingestions", "verdicts"):
                continue
            assert after[key] == value, key  # every snapshot table, every day's features, every build
        assert set(before["raw_snapshots"]) <= set(after["raw_snapshots"])
        assert set(before["verdicts"]) <= set(after["verdicts"])
        # and the features step refuses this snapshot if asked directly, naming the failed gate
        from mlops_assets.features.build import FeatureError, build_features

        with pytest.raises(FeatureError, match=f"has not passed its data gates.*{sorted(case.gates)[0]}"):
            build_features(world.spec, world.layout, day)
        assert fingerprint(world.layout, dataset)["feature_versions"] == before["feature_versions"]
    assert leftovers(world.layout) == []


def _landed_day(world: World) -> dt.date:
    from mlops_assets.ingest.landing import landed_days

    days = [day for day, _ in landed_days(world.layout, world.spec) if day not in GOOD_DAYS]
    assert len(days) == 1, days
    return days[0]


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == SPEC], ids=lambda c: c.name)
def test_bad_spec_is_refused(case: Case, sensor_state):
    before = fingerprint(sensor_state.layout, SENSORS)
    with pytest.raises(SpecError) as raised:
        case.make(sensor_state)
    assert re.search(case.message, str(raised.value)), str(raised.value)
    assert fingerprint(sensor_state.layout, SENSORS) == before
    assert leftovers(sensor_state.layout) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == TRAINING], ids=lambda c: c.name)
def test_bad_training_window_keeps_the_champion(case: Case, sensor_state, champion_store):
    import dagster as dg

    from mlops_assets.defs.runs import QUIET_RUN_CONFIG
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.resources import StateResource

    layout = sensor_state.layout
    shutil.copyfile(champion_store, layout.mlflow_dir / "mlflow.db")
    model = f"{SENSORS}_failed"
    champion = champion_version(layout, model)
    assert champion == "1"
    case.make(sensor_state)
    before = fingerprint(layout, SENSORS)
    models_before = sorted((layout.root / "models").glob("*")) if (layout.root / "models").exists() else []

    defs = build_definitions(sensor_state.spec, StateResource(state_dir=str(layout.root)))
    result = defs.resolve_job_def(SENSOR_MODEL.train_job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, "ops": {
            SENSOR_MODEL.op("training_snapshot"): {"config": case.training},
            SENSOR_MODEL.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 10}},
        }},
    )
    assert not result.success
    failure = result.failure_data_for_node(SENSOR_MODEL.op("training_snapshot"))
    assert failure is not None, "the run must fail at the training snapshot"
    chain, error = [], failure.error
    while error is not None:  # Dagster's step error wraps the platform's own
        chain.append(error)
        error = error.cause or error.context
    refusal = [e for e in chain if e.cls_name == "TrainingDataError"]
    assert refusal, [e.cls_name for e in chain]
    assert re.search(case.message, refusal[0].message, re.DOTALL), refusal[0].message
    materialized = {e.asset_key.to_user_string() for e in result.asset_materializations_for_node(SENSOR_MODEL.op("champion_model"))}
    assert materialized == set()

    assert champion_version(layout, model) == champion
    after = fingerprint(layout, SENSORS)
    assert after == before  # no training snapshot table, no row in training_snapshots
    models_after = sorted((layout.root / "models").glob("*")) if (layout.root / "models").exists() else []
    assert models_after == models_before
    with connect(layout.warehouse_path) as con:
        from mlops_assets.core.warehouse import table_exists

        if table_exists(con, "promotion_ledger"):
            assert con.execute("SELECT count(*) FROM promotion_ledger").fetchall() == [(0,)]
    assert leftovers(layout) == []


def _day_rows(layout: StateLayout, day: dt.date, columns: list[str]):
    """A day's stored feature rows over ``columns`` (a spec that adds a feature adds a column to
    every day; what the earlier columns hold must not change)."""
    import pandas as pd

    with connect(layout.warehouse_path) as con:
        selected = ", ".join(f'"{c}"' for c in columns)
        frame = con.execute(f'SELECT {selected} FROM "features_{SENSORS}" WHERE _day = ? ORDER BY ALL', [day]).df()
    return frame.reset_index(drop=True) if len(frame) else pd.DataFrame(columns=columns)


def _feature_columns(layout: StateLayout) -> list[str]:
    with connect(layout.warehouse_path) as con:
        return [row[0] for row in con.execute(f'DESCRIBE "features_{SENSORS}"').fetchall()]


def _untouched_besides(before: dict, after: dict, day: dt.date) -> None:
    """Every snapshot table and training snapshot as it was; the other days' feature builds too."""
    for key, value in before.items():
        if key.startswith("snapshot:") or key == "training_snapshots":
            assert after[key] == value, key
    assert [v for v in after["feature_versions"] if v[0] != day] == [v for v in before["feature_versions"] if v[0] != day]


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == LEAK], ids=lambda c: c.name)
def test_a_leaky_day_is_built_but_never_trained_on(case: Case, sensor_state):
    from mlops_assets.train.window import passed_feature_days

    world = sensor_state
    before = fingerprint(world.layout, SENSORS)
    columns = _feature_columns(world.layout)
    others = {day: _day_rows(world.layout, day, columns) for day in GOOD_DAYS}
    case.make(world)
    results = {r.check: r for r in run_day(world, BAD_DAY)}
    assert set(results) == set(DATA_GATES) | set(FEATURE_CHECKS)
    failed = {name for name, r in results.items() if not r.passed}
    assert failed == case.gates, {n: r.summary for n, r in results.items() if not r.passed}
    summary = " ".join(results[name].summary for name in case.gates)
    assert re.search(case.message, summary, re.DOTALL), summary
    assert any(f.column == case.column for name in case.gates for f in results[name].failures)
    _untouched_besides(before, fingerprint(world.layout, SENSORS), BAD_DAY)
    for day, frame in others.items():
        assert _day_rows(world.layout, day, columns).equals(frame), day
    with connect(world.layout.warehouse_path) as con:
        trainable = passed_feature_days(con, world.spec, None, None)
    assert BAD_DAY not in trainable and set(GOOD_DAYS) <= set(trainable)
    assert leftovers(world.layout) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == REBUILD], ids=lambda c: c.name)
def test_feature_sql_past_validation_still_cannot_leak(case: Case, sensor_state):
    """A spec loaded without its SQL checks (as if validated on another database): rebuilding an
    accepted day with it is refused, and nothing is written."""
    from mlops_assets.features.build import build_features

    world = sensor_state
    before = fingerprint(world.layout, SENSORS)
    case.make(world)
    with pytest.raises(FeatureError) as raised:
        build_features(world.spec, world.layout, GOOD_DAYS[0])
    message = str(raised.value)
    assert re.search(case.message, message, re.DOTALL), message
    assert len(message) < 1500
    assert fingerprint(world.layout, SENSORS) == before
    assert leftovers(world.layout) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == BLIND], ids=lambda c: c.name)
def test_feature_sql_over_the_whole_row_is_blind_to_the_outcome(case: Case, sensor_state):
    """The spec loads and the day builds; flipping every outcome of the day changes its label and
    nothing else it stores, and no other day moves."""
    world = sensor_state
    before = fingerprint(world.layout, SENSORS)
    columns = _feature_columns(world.layout)
    others = {day: _day_rows(world.layout, day, columns) for day in GOOD_DAYS}
    case.make(world)
    label = world.spec.target.name
    built = []
    original = rows()
    flipped = [{**r, "outcome": "ok" if r["outcome"] == "fail" else "fail"} for r in original]
    for data in (original, flipped):
        world.land(BAD_DAY, data)
        results = run_day(world, BAD_DAY)
        assert all(r.passed for r in results), {r.check: r.summary for r in results if not r.passed}
        built.append(_day_rows(world.layout, BAD_DAY, _feature_columns(world.layout)))
    assert not built[0]["leak"].astype(str).str.contains("outcome|fail").any()
    assert (built[0][label] != built[1][label]).all()
    assert built[0].drop(columns=label).equals(built[1].drop(columns=label))
    _untouched_besides(before, fingerprint(world.layout, SENSORS), BAD_DAY)
    for day, frame in others.items():
        assert _day_rows(world.layout, day, columns).equals(frame), day
    assert leftovers(world.layout) == []
