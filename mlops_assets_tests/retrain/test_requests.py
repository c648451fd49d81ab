"""retrain.requests: how many candidates in a row the gates found no better, read from the ledger and
the stored evaluations (what lengthens drift's cool-down)."""

from __future__ import annotations

import datetime as dt

import duckdb

from mlops_assets.core.warehouse import ensure_model_keyed
from mlops_assets.evaluate.evaluation import EVALUATIONS_DDL
from mlops_assets.promote import ledger
from mlops_assets.retrain.requests import refused_since_promotion

T0 = dt.datetime(2013, 2, 1, tzinfo=dt.timezone.utc)


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def evaluated(con, sha: str, when: dt.datetime, model: str = "m") -> None:
    con.execute("INSERT INTO evaluations (model, model_sha256, snapshot_hash, document, created_at, run_id) "
                "VALUES (?, ?, 'snap', '{}', ?, NULL)", [model, sha, when])


def moved(con, action: str, version: str, sha: str, when: dt.datetime, model: str = "m") -> None:
    ledger.append(con, ledger.LedgerEntry(model, action, None, version, sha, "snap", when, "test", None, "", []))


def test_candidates_evaluated_since_the_last_alias_move_count_as_refused():
    con = duckdb.connect()
    ensure_model_keyed(con, EVALUATIONS_DDL)
    assert refused_since_promotion(con, "m") == 0  # no champion yet
    evaluated(con, "a", at(0))
    moved(con, "promote", "1", "a", at(1))
    assert refused_since_promotion(con, "m") == 0
    evaluated(con, "b", at(2))
    evaluated(con, "c", at(3))
    evaluated(con, "c", at(4))  # the same candidate judged again is one refusal
    evaluated(con, "x", at(5), model="other")  # another model's candidates are not this one's
    assert refused_since_promotion(con, "m") == 2
    evaluated(con, "d", at(6))
    moved(con, "promote", "2", "d", at(7))
    assert refused_since_promotion(con, "m") == 0
    evaluated(con, "e", at(8))
    moved(con, "rollback", "1", "a", at(9))  # a rollback is a fresh start too
    assert refused_since_promotion(con, "m") == 0


def test_no_evaluations_table_is_no_refusal():
    con = duckdb.connect()
    moved(con, "promote", "1", "a", at(1))
    assert refused_since_promotion(con, "m") == 0
