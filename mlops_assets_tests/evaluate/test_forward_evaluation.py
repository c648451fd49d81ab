"""Judging forward in time: the champion is compared on held-out days neither model trained on, and
the live reference is the per-day-averaged out-of-time AUC."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlops_assets.core.spec import DAY_COLUMN
from mlops_assets.evaluate.evaluation import ChampionStatus, Evaluation, evaluate_candidate
from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.gate.registry import GateThresholds, judge_evaluation

IN_PERIOD = [dt.date(2013, 1, d) for d in range(1, 8)]
HELD_OUT = [dt.date(2013, 1, d) for d in range(8, 11)]
COMPARISON_GATES = ["check_not_worse_than_champion", "check_no_slice_regression"]


class PeriodModel:
    """Scores the label with ``in_period_noise`` on days before the held-out ones and ``forward_noise``
    after: a model that learned its own period well and generalises as it does."""

    def __init__(self, version: str | None, in_period_noise: float, forward_noise: float) -> None:
        self.version, self.threshold = version, 0.5
        self.in_period_noise, self.forward_noise = in_period_noise, forward_noise
        self.booster = SimpleNamespace(get_score=lambda importance_type: {"distance": 1.0})
        self.encoding = SimpleNamespace(columns=["distance"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        forward = frame[DAY_COLUMN].isin(HELD_OUT).to_numpy()
        noise = np.where(forward, self.forward_noise, self.in_period_noise)
        rng = np.random.default_rng(len(frame))
        return 1 / (1 + np.exp(-(2 * frame["late"].to_numpy() - 1 + rng.normal(0, 1, len(frame)) * noise)))


def rows(days: list[dt.date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400 * len(days)
    return pd.DataFrame({
        DAY_COLUMN: np.repeat(days, 400), "late": (rng.random(n) < 0.3).astype(int),
        "carrier": rng.choice(["AA", "UA"], n), "distance": rng.integers(100, 2000, n),
    })


def evaluate(candidate, champion, tmp_path, champion_trained_days=(), oot=True) -> Evaluation:
    return evaluate_candidate(
        model="flights_late", slices=["carrier"], target="late", test=rows(IN_PERIOD, 1), candidate=candidate,
        candidate_sha256="ab" * 32, snapshot_hash="cd" * 32, train_label_rate=0.3, champion=champion,
        plots_dir=tmp_path / "plots", settings=EvaluationSettings(bootstrap_resamples=20),
        oot=rows(HELD_OUT, 2) if oot else None, champion_trained_days=champion_trained_days,
    )


def gates(evaluation: Evaluation) -> dict[str, tuple[bool, str]]:
    return {v.check: (v.passed, v.summary) for v in judge_evaluation(evaluation, GateThresholds(), COMPARISON_GATES)}


def test_the_champion_gate_refuses_a_candidate_better_in_period_but_not_on_the_held_out_tail(tmp_path):
    candidate = PeriodModel(None, in_period_noise=0.3, forward_noise=2.0)  # overfits its own days
    champion = PeriodModel("4", in_period_noise=1.0, forward_noise=1.0)
    evaluation = evaluate(candidate, champion, tmp_path)
    assert evaluation.metric("auc") > 0.95 > evaluation.metric("auc", "oot")  # in period it looks better
    assert evaluation.comparison_split == "oot" and evaluation.comparison_rows == evaluation.oot_rows == 1200
    assert evaluation.champion_metric("auc") > evaluation.compared_metric("auc")
    passed, reason = gates(evaluation)["check_not_worse_than_champion"]
    assert not passed, reason
    assert f"champion AUC {evaluation.champion_metric('auc'):.3f}" in reason
    # the same candidate against a champion that is worse forward passes
    weaker = PeriodModel("4", in_period_noise=1.0, forward_noise=4.0)
    assert gates(evaluate(candidate, weaker, tmp_path))["check_not_worse_than_champion"][0]


def test_held_out_days_the_champion_trained_on_are_left_out_of_the_comparison(tmp_path):
    candidate, champion = PeriodModel(None, 1.0, 1.0), PeriodModel("4", 1.0, 1.0)
    evaluation = evaluate(candidate, champion, tmp_path, champion_trained_days=[HELD_OUT[0].isoformat()])
    assert evaluation.comparison_days == [d.isoformat() for d in HELD_OUT[1:]]
    assert evaluation.comparison_rows == 800 and evaluation.oot_rows == 1200
    assert evaluation.champion_status is ChampionStatus.SCORED
    assert set(evaluation.comparison_daily_auc) == {"candidate", "champion"}

    every_day = evaluate(candidate, champion, tmp_path, champion_trained_days=[d.isoformat() for d in HELD_OUT])
    assert every_day.champion_status is ChampionStatus.NO_FORWARD_ROWS and every_day.comparison_rows == 0
    judged = gates(every_day)
    assert not any(passed for passed, _ in judged.values())
    assert "trained on every held-out day" in judged["check_not_worse_than_champion"][1]


def test_a_comparison_without_an_out_of_time_test_fails_the_forward_gates_naming_why(tmp_path):
    evaluation = evaluate(PeriodModel(None, 1.0, 1.0), PeriodModel("4", 1.0, 1.0), tmp_path, oot=False)
    assert evaluation.comparison_split == "test" and evaluation.oot_metrics is None
    for passed, reason in gates(evaluation).values():
        assert not passed and "no out-of-time test" in reason
    # with no champion there is nothing to compare: passes by rule, split or not
    alone = evaluate(PeriodModel(None, 1.0, 1.0), None, tmp_path, oot=False)
    assert all(passed for passed, _ in gates(alone).values())


def test_the_live_reference_is_the_per_day_mean_of_the_out_of_time_auc(tmp_path):
    evaluation = evaluate(PeriodModel(None, 0.3, 1.0), None, tmp_path)
    assert list(evaluation.oot_daily_auc) == [d.isoformat() for d in HELD_OUT]
    reference, kind = evaluation.live_reference()
    assert reference == pytest.approx(np.mean(list(evaluation.oot_daily_auc.values())))
    assert kind == "out-of-time AUC averaged per day"
    assert reference < evaluation.metric("auc")  # the in-period figure would overstate it
    stored = Evaluation.from_json(evaluation.to_json())
    assert stored.live_reference() == (reference, kind)
    # an evaluation stored before the out-of-time test loads, and says its reference is the pooled test AUC
    document = json.loads(evaluation.to_json())
    for key in ("oot_rows", "oot_metrics", "oot_daily_auc", "comparison_split", "comparison_rows",
                "comparison_days", "comparison_metrics", "comparison_daily_auc"):
        del document[key]
    older = Evaluation.from_json(json.dumps(document))
    assert older.live_reference() == (older.metric("auc"), "in-period test AUC (pooled; no out-of-time test)")
    assert older.compared_metric("auc") == older.metric("auc")


class CountingModel(PeriodModel):
    """A PeriodModel that records the length of every frame it scores."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scored: list[int] = []

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.scored.append(len(frame))
        return super().predict(frame)


def test_when_the_champion_trained_on_no_held_out_day_the_out_of_time_rows_are_scored_and_bootstrapped_once(tmp_path):
    candidate, champion = CountingModel(None, 1.0, 1.0), PeriodModel("4", 1.0, 1.0)
    evaluation = evaluate(candidate, champion, tmp_path, champion_trained_days=[d.isoformat() for d in IN_PERIOD])
    assert candidate.scored == [len(IN_PERIOD) * 400, len(HELD_OUT) * 400]  # test, then out of time: no third pass
    assert evaluation.comparison_rows == evaluation.oot_rows and evaluation.champion_status is ChampionStatus.SCORED
    assert evaluation.comparison_metrics == evaluation.oot_metrics


def test_when_the_champion_trained_on_some_held_out_days_the_comparison_rows_are_scored_on_their_own(tmp_path):
    candidate, champion = CountingModel(None, 1.0, 1.0), PeriodModel("4", 1.0, 1.0)
    evaluation = evaluate(candidate, champion, tmp_path, champion_trained_days=[HELD_OUT[0].isoformat()])
    assert candidate.scored == [len(IN_PERIOD) * 400, len(HELD_OUT) * 400, (len(HELD_OUT) - 1) * 400]
    assert evaluation.comparison_rows == (len(HELD_OUT) - 1) * 400
    assert evaluation.comparison_metrics != evaluation.oot_metrics
