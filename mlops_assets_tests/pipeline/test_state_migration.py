"""A state folder written before models were named: refused until ``mlops-assets migrate`` keys it
by the dataset's one model, in place, nothing lost; running it again changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mlops_assets.cli import main as cli
from mlops_assets.core.verdicts import EVALUATION_ASSET, evaluation_asset
from mlops_assets.core.warehouse import connect
from mlops_assets.evaluate.evaluation import load_evaluation
from mlops_assets.gate.overrides import overrides_for
from mlops_assets.monitor.drift_store import drift_history
from mlops_assets.monitor.performance import performance_history
from mlops_assets.promote import ledger

SHA = "ab" * 32
NOW = dt.datetime(2013, 2, 1, tzinfo=dt.timezone.utc)
DAY = dt.date(2013, 1, 30)
MODEL = "nycflights_late"  # the dataset's one model: the name its registry always used

# the model-level tables as the single-model platform created them: owned by the dataset
OLD_TABLES = """
CREATE TABLE promotion_ledger (dataset VARCHAR NOT NULL, action VARCHAR NOT NULL, from_version VARCHAR,
    to_version VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL, snapshot_hash VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL, operator VARCHAR NOT NULL, dagster_run_id VARCHAR, reason VARCHAR NOT NULL,
    verdicts_json VARCHAR NOT NULL, overrides_json VARCHAR NOT NULL DEFAULT '[]');
CREATE TABLE evaluations (dataset VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL, snapshot_hash VARCHAR NOT NULL,
    document VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, run_id VARCHAR);
CREATE TABLE gate_overrides (dataset VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL, gate VARCHAR NOT NULL,
    operator VARCHAR NOT NULL, reason VARCHAR NOT NULL, granted_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
CREATE TABLE drift_history (dataset VARCHAR NOT NULL, day DATE NOT NULL, feature VARCHAR NOT NULL,
    statistic VARCHAR NOT NULL, value DOUBLE NOT NULL, level VARCHAR NOT NULL, reference_snapshot VARCHAR NOT NULL,
    champion_version VARCHAR NOT NULL, computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR);
CREATE TABLE performance_history (dataset VARCHAR NOT NULL, day DATE NOT NULL, model_version VARCHAR NOT NULL,
    rows BIGINT NOT NULL, auc DOUBLE, ece DOUBLE, reference_auc DOUBLE, relative_drop DOUBLE, degraded BOOLEAN NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR);
CREATE TABLE predictions_nycflights (_day DATE NOT NULL, carrier VARCHAR, score DOUBLE NOT NULL);
"""


@pytest.fixture
def single_model_state(state):
    """A state folder as the single-model platform left it: one promotion, its evaluation (plots in
    reports/nycflights/), an override, a day of drift, live AUC and predictions, handles by asset."""
    plots = state.reports_dir / "nycflights" / "evaluations" / SHA[:16]
    plots.mkdir(parents=True)
    (plots / "roc.png").write_bytes(b"\x89PNG roc")
    card_folder = state.reports_dir / "nycflights" / "cards" / SHA[:16]
    card_folder.mkdir(parents=True)
    (card_folder / "model_card.md").write_text("# card of version 1")
    (state.reports_dir / "nycflights" / "timeline.png").write_bytes(b"\x89PNG timeline")
    evaluation = {"dataset": "nycflights", "model_sha256": SHA, "snapshot_hash": "cd" * 32, "test_rows": 100,
                  "threshold": 0.4, "metrics": {"auc": {"value": 0.7, "low": 0.65, "high": 0.75}},
                  "baseline": {"auc": 0.5}, "plots": {"roc": str(plots / "roc.png")}}
    with connect(state.warehouse_path) as con:
        for statement in OLD_TABLES.split(";"):
            if statement.strip():
                con.execute(statement)
        con.execute("INSERT INTO promotion_ledger VALUES ('nycflights', 'promote', NULL, '1', ?, 'snap', ?, 'alice', "
                    "'run-1', 'every gate passed', '[]', '[]')", [SHA, NOW])
        con.execute("INSERT INTO evaluations VALUES ('nycflights', ?, 'snap', ?, ?, 'run-1')",
                    [SHA, json.dumps(evaluation), NOW])
        con.execute("INSERT INTO gate_overrides VALUES ('nycflights', ?, 'check_calibration', 'bob', 'known', ?, ?)",
                    [SHA, NOW, NOW + dt.timedelta(days=30)])
        con.execute("INSERT INTO drift_history VALUES ('nycflights', ?, 'origin_temp', 'psi', 0.3, 'high', 'snap', '1', ?, NULL)",
                    [DAY, NOW])
        con.execute("INSERT INTO performance_history VALUES ('nycflights', ?, '1', 800, 0.66, 0.02, 0.7, 0.05, false, ?, NULL)",
                    [DAY, NOW])
        con.execute("INSERT INTO predictions_nycflights VALUES (?, 'AA', 0.25)", [DAY])
        # gate_results is a catalog table (every connection creates it); its promotion-gate verdicts
        # were recorded under the bare asset name
        con.execute("INSERT INTO gate_results (dataset, asset, day, content_hash, check_name, passed, summary, "
                    "details_json, checked_at, run_id) VALUES ('nycflights', ?, NULL, ?, 'check_min_quality', true, "
                    "'ok', '{}', ?, 'run-1')", [EVALUATION_ASSET, SHA, NOW])
    handles = state.root / "handles"
    handles.mkdir()
    (handles / "model_card.json").write_text(json.dumps({"model_sha256": SHA, "markdown": str(card_folder / "model_card.md")}))
    (handles / "candidate_model.json").write_text(json.dumps({"model_sha256": SHA}))
    return state


def test_the_old_state_is_refused_naming_the_migration(single_model_state, capsys):
    assert cli.main(["--state-dir", str(single_model_state.root), "ledger"]) == 2
    error = capsys.readouterr().err
    assert "before models were named" in error and "`mlops-assets migrate`" in error


def test_migrate_keys_the_state_by_the_datasets_one_model(single_model_state, capsys):
    state = single_model_state
    assert cli.main(["--state-dir", str(state.root), "migrate"]) == 0
    printed = capsys.readouterr().out
    assert f"now belongs to its model {MODEL}" in printed and "promotion_ledger" in printed

    with connect(state.warehouse_path) as con:
        [entry] = ledger.entries(con, MODEL)
        assert (entry.to_version, entry.operator, entry.model_sha256) == ("1", "alice", SHA)
        evaluation = load_evaluation(con, MODEL, SHA)
        assert evaluation.model == "nycflights"  # the document as stored; the row is keyed by the model
        assert evaluation.plots["roc"] == str(state.model_reports_dir(MODEL) / "evaluations" / SHA[:16] / "roc.png")
        assert [o.gate for o in overrides_for(con, MODEL, SHA)] == ["check_calibration"]
        assert drift_history(con, MODEL) == [(DAY, "origin_temp", "psi", 0.3, "high")]
        assert [row[:3] for row in performance_history(con, MODEL)] == [(DAY, "1", 0.66)]
        assert con.execute(f"SELECT score FROM predictions_{MODEL}").fetchall() == [(0.25,)]
        assert con.execute("SELECT asset FROM gate_results").fetchall() == [(evaluation_asset(MODEL),)]
    handles = state.root / "handles"
    assert sorted(p.name for p in handles.iterdir()) == [f"{MODEL}__candidate_model.json", f"{MODEL}__model_card.json"]
    card = json.loads((handles / f"{MODEL}__model_card.json").read_text())["markdown"]
    assert card == str(state.model_reports_dir(MODEL) / "cards" / SHA[:16] / "model_card.md")
    assert (state.model_reports_dir(MODEL) / "cards" / SHA[:16] / "model_card.md").read_text() == "# card of version 1"
    assert (state.model_reports_dir(MODEL) / "timeline.png").exists()
    assert (state.model_reports_dir(MODEL) / "evaluations" / SHA[:16] / "roc.png").read_bytes() == b"\x89PNG roc"

    assert cli.main(["--state-dir", str(state.root), "migrate"]) == 0  # a second run finds nothing to do
    assert "nothing to migrate" in capsys.readouterr().out
    assert cli.main(["--state-dir", str(state.root), "ledger"]) == 0
    assert "promote" in capsys.readouterr().out


def test_a_fresh_state_has_nothing_to_migrate(state, capsys):
    assert cli.main(["--state-dir", str(state.root), "migrate"]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
