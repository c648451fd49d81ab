"""The servers the CLI starts listen on loopback unless told otherwise, and never print secrets."""

from __future__ import annotations

import subprocess

import pytest

from mlops_assets.cli import main as cli
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
    monkeypatch.setattr(cli, "run_ingestion", lambda spec, days: days[1:])
    monkeypatch.setattr(cli, "run_training", lambda *_: pytest.fail("demo trained after a failed ingest"))
    assert cli.main(["--spec", str(sensors.spec_path), "demo", "--days", "3"]) == 1
    error = capsys.readouterr().err
    assert "error: ingest failed on 2 of 3 days (first: 2024-03-02); fix that and rerun, nothing was trained" in error
