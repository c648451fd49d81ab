"""The servers the CLI starts listen on loopback unless told otherwise, and never print secrets."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from mlops_assets.cli import main as cli
from mlops_assets.cli import runs as cli_runs
from mlops_assets.core.spec import SPEC_ENV


@pytest.fixture
def started(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(subprocess, "call", lambda command, **_: commands.append(command) or 0)
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return commands


def option(command: list[str], *names: str) -> str:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    raise AssertionError(f"none of {names} in {command}")


def test_dagster_dev_binds_to_loopback_by_default(started):
    assert cli.main(["dev"]) == 0
    assert option(started[0], "-h", "--host") == "127.0.0.1"
    assert cli.main(["dev", "--host", "0.0.0.0"]) == 0
    assert option(started[1], "-h", "--host") == "0.0.0.0"


def test_mlflow_ui_binds_to_loopback_and_hides_credentials(started, monkeypatch, capsys):
    assert cli.main(["mlflow-ui"]) == 0
    assert option(started[0], "--host") == "127.0.0.1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://ml:s3cr3t@db:5432/mlflow")
    assert cli.main(["mlflow-ui"]) == 0
    printed = capsys.readouterr().out
    assert "s3cr3t" not in printed and "postgresql://***@db:5432/mlflow" in printed
    assert option(started[1], "--backend-store-uri").endswith("s3cr3t@db:5432/mlflow")  # the server still gets it


def test_demo_stops_at_the_first_failed_ingest_without_training(state, sensors, monkeypatch, capsys):
    """A day that fails to ingest is the error; training on nothing would add a misleading second one."""
    monkeypatch.setenv(SPEC_ENV, str(sensors.spec_path))  # --spec sets it; restored after the test
    monkeypatch.setattr(cli_runs, "run_ingestion", lambda spec, days: days[1:])
    monkeypatch.setattr(cli_runs, "run_training", lambda *_: pytest.fail("demo trained after a failed ingest"))
    assert cli.main(["--spec", str(sensors.spec_path), "demo", "--days", "3"]) == 1
    error = capsys.readouterr().err
    assert "error: ingest of sensors failed on 2 of 3 days (first: 2024-03-02); fix that and rerun, nothing was trained" in error


def test_demo_trains_every_project_model_on_its_own_datasets_window(state, monkeypatch, capsys):
    """Without --spec or --model the demo lands each dataset the project's models use, in its own grain
    and window, then trains every model on its dataset's partitions."""
    ingested, trained = [], []
    monkeypatch.setattr(cli_runs, "run_ingestion",
                        lambda spec, days, labels=False: ingested.append((spec.name, labels, days)) or [])
    monkeypatch.setattr(cli_runs, "run_training",
                        lambda model, defs, start, end: trained.append((model.model.name, model.name, start, end)) or True)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    # the flights' outcomes land a day after their departures: those of the first 27 days, stored
    # before the departures' features are built (their trailing rates read them)
    assert [(name, labels, len(days)) for name, labels, days in ingested] == [
        ("nycflights", True, 27), ("nycflights", False, 28), ("nycweather", False, 10)]
    assert "landed 28 days of nycflights" in out and "landed 10 weeks of nycweather (4951 rows)" in out
    first_day, last_day, first_week, last_week = (dt.date(2013, 1, 1), dt.date(2013, 1, 28),
                                                  dt.date(2012, 12, 31), dt.date(2013, 3, 4))
    assert trained == [
        ("flight_delay", "nycflights", first_day, last_day),
        ("nycflights_late", "nycflights", first_day, last_day),
        ("airport_visibility", "nycweather", first_week, last_week),
    ]
    assert "model airport_visibility (multiclass, target visibility_class, dataset nycweather):" in out
    assert any(line.startswith("week ") for line in out.splitlines())  # the weather summary lists weeks


def rewrite_sensors(sensors, spec_text=lambda text: text, row=lambda row: row):
    """The sensors dataset with its spec and its source files changed; returns the spec path."""
    from mlops_assets_tests.conftest import write_csv

    for day in sensors.days:
        rows = [row(dict(r)) for r in sensors.rows(day)]
        write_csv(sensors.folder / "data" / f"{day.isoformat()}.csv", rows, list(rows[0]))
    path = sensors.spec_path.with_name("changed.yaml")
    path.write_text(spec_text(sensors.spec_path.read_text()))
    return str(path)


def test_validate_reads_the_source_and_accepts_a_matching_spec(state, sensors, capsys):
    assert cli.main(["validate", str(sensors.spec_path)]) == 0
    assert "; 5 source columns read" in capsys.readouterr().out


@pytest.mark.parametrize("name, source", [
    ("nycflights", "19 source columns read; 365 daily partitions from 2013-01-01 to 2013-12-31"),
    # the source's last week (one day) spans a partition the spec leaves out (end_date 2013-12-30)
    ("nycweather", "15 source columns read; 53 weekly partitions from 2012-12-31 to 2013-12-30"),
])
def test_validate_reads_each_bundled_file_and_accepts_its_spec(state, name, source, capsys):
    assert cli.main(["validate", name]) == 0
    out = capsys.readouterr().out
    assert f"spec {name!r} is valid" in out and source in out


def test_validate_refuses_a_date_column_on_an_integer_source_column_naming_both_types(state, sensors, capsys):
    path = rewrite_sensors(
        sensors,
        spec_text=lambda text: text.replace("  outcome: {type: string", "  batch: {type: date}\n  outcome: {type: string"),
        row=lambda row: {**row, "batch": 20240301},
    )
    assert cli.main(["validate", path]) == 2
    assert ("columns.batch: declared date, but the source stores it as BIGINT, which a date column cannot hold"
            in capsys.readouterr().err)


def test_validate_names_each_declared_column_the_source_lacks_or_cannot_hold(state, sensors, capsys):
    path = rewrite_sensors(
        sensors,
        spec_text=lambda text: text.replace("  outcome: {type: string", "  humidity: {type: float}\n  outcome: {type: string")
        .replace("device_id: {type: string", "device_id: {type: int"),
    )
    assert cli.main(["validate", path]) == 2
    error = capsys.readouterr().err
    assert "columns.humidity: not in the source (its columns: ts, device_id, reading, site, outcome)" in error
    assert ("columns.device_id: declared int, but the source stores it as VARCHAR, which a int column cannot hold "
            "(the source holds a value that is not a int there)") in error


def test_validate_accepts_an_integer_coded_categorical(state, sensors, capsys):
    """A category coded 1, 2, 3 is read as text at feature time, so validate has nothing to refuse."""
    path = rewrite_sensors(
        sensors,
        spec_text=lambda text: text.replace("site: {type: string, allowed: [north, south, east]",
                                            "site: {type: int, allowed: [1, 2, 3]"),
        row=lambda row: {**row, "site": ["north", "south", "east"].index(row["site"]) + 1},
    )
    assert cli.main(["validate", path]) == 0


@pytest.mark.parametrize("arguments, message", [
    (["train", "--start", "2024-3-1"], "error: mlops-assets train: --start must be a day as YYYY-MM-DD or an hour as YYYY-MM-DDTHH, got '2024-3-1'"),
    (["train", "--start", "2024-03-05", "--end", "2024-03-01"], "error: --start 2024-03-05 is after --end 2024-03-01"),
    (["train", "--start", "2024-03-01", "--last-days", "3"], "error: give --start or --last-days, not both"),
    (["train", "--last-days", "0"], "error: mlops-assets train: --last-days must be a whole number of at least 1, got '0'"),
    (["train", "--trials", "many"], "error: mlops-assets train: --trials must be a whole number of at least 1, got 'many'"),
    (["train", "--holdout-days", "-1"], "error: mlops-assets train: --holdout-days must be a whole number of at least 0, got '-1'"),
    (["score", "--day", "yesterday"], "error: mlops-assets score: --day must be a day as YYYY-MM-DD or an hour as YYYY-MM-DDTHH, got 'yesterday'"),
    (["score", "--day", "2025-01-01"],
     "error: --day 2025-01-01 is outside sensors's partitions (2024-03-01 to 2024-04-01)"),
])
def test_train_and_score_refuse_bad_arguments_in_one_line(state, sensors, monkeypatch, capsys, arguments, message):
    monkeypatch.setenv(SPEC_ENV, str(sensors.spec_path))
    monkeypatch.setattr(cli_runs, "run_training", lambda *_, **__: pytest.fail("trained on bad arguments"))
    assert cli.main(["--spec", str(sensors.spec_path), *arguments]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_validate_names_the_partitions_a_derived_timestamp_spans(state, tmp_path, capsys):
    from mlops_assets_tests.survey_world import write_survey

    assert cli.main(["validate", str(write_survey(tmp_path / "survey"))]) == 0
    assert "; 7 source columns read; 10 yearly partitions from 2012-01-01 to 2021-01-01" in capsys.readouterr().out


def test_validate_refuses_a_derived_timestamp_that_gives_no_time_for_some_rows(state, tmp_path, capsys):
    from mlops_assets_tests.survey_world import write_survey

    spec_path = write_survey(tmp_path / "survey")
    data = tmp_path / "survey" / "data" / "survey.csv"
    lines = data.read_text().splitlines()
    lines[1] = lines[1].replace(",2012,", ",,", 1)  # one row with no year
    data.write_text("\n".join(lines) + "\n")
    assert cli.main(["validate", str(spec_path)]) == 2
    assert ("timestamp.derive (make_date(year, 1, 1)): gives no time for 1 row(s) of the source, so no partition "
            "holds them") in capsys.readouterr().err
