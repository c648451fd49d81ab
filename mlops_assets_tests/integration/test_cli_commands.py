"""``mlops-assets train`` and ``score``: a model trained on a chosen window and a day scored through
the local Dagster instance, from the command line alone (no environment variables, no run config)."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.cli import main as cli
from mlops_assets.core.spec import SPEC_ENV
from mlops_assets.core.warehouse import connect
from mlops_assets.pipeline.ingest_day import ingest_and_featurize

pytestmark = pytest.mark.integration

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(8)]


def test_train_on_a_window_then_score_a_day(state, sensors, sensor_spec, monkeypatch, capsys):
    monkeypatch.setenv(SPEC_ENV, str(sensors.spec_path))  # --spec sets it; restored after the test
    for day in DAYS:
        sensors.land(state, sensor_spec, day, sensors.rows(day, n=100))
        assert all(r.passed for r in ingest_and_featurize(sensor_spec, state, day))
    spec_option = ["--spec", str(sensors.spec_path), "--state-dir", str(state.root)]

    assert cli.main([*spec_option, "train", "--last-days", "6", "--end", "2024-03-07", "--trials", "1", "--holdout-days", "0"]) == 0
    printed = capsys.readouterr().out
    assert "sensors_failed_train_job last 6 days to 2024-03-07: ok" in printed
    assert "champion: sensors_failed version 1" in printed
    with connect(state.warehouse_path) as con:
        windows = con.execute("SELECT CAST(start_day AS DATE), CAST(end_day AS DATE) FROM training_snapshots").fetchall()
    assert windows == [(dt.date(2024, 3, 2), dt.date(2024, 3, 7))]

    # the same window again rebuilds the same bytes: the champion's registered card stays as it was
    card = state.model_reports_dir("sensors_failed") / "cards"
    (registered,) = [path for path in card.glob("*/model_card.md")]
    before = registered.read_bytes()
    assert "version 1" in before.decode()
    # without a held-out tail the champion cannot be compared forward, so the gates refuse (issue 16)
    assert cli.main([*spec_option, "train", "--last-days", "6", "--end", "2024-03-07", "--trials", "1", "--holdout-days", "0"]) == 1
    printed = capsys.readouterr().out
    assert "gate check_not_worse_than_champion FAILED" in printed and "no out-of-time test" in printed
    assert registered.read_bytes() == before

    assert cli.main([*spec_option, "score", "--day", "2024-03-08"]) == 0
    printed = capsys.readouterr().out
    assert "sensors_failed_score_job 2024-03-08: ok" in printed
    assert "rows 100, champion_version 1" in printed
