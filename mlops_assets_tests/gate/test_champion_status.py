"""The champion and slice gates decide on the evaluation's champion status, never on its note."""

from __future__ import annotations

import pytest

from mlops_assets.evaluate.evaluation import ChampionStatus, Evaluation
from mlops_assets.gate.registry import PROMOTION_GATES, GateThresholds

COMPARISON_GATES = ("check_not_worse_than_champion", "check_no_slice_regression")
SLICES = [{"slice": "carrier", "value": "UA", "rows": 500, "auc": 0.70, "enough_rows": True,
           "champion_auc": 0.71, "auc_delta": -0.01}]


def evaluation(status: ChampionStatus, note: str = "", champion_auc: float | None = None) -> Evaluation:
    scored = status is ChampionStatus.SCORED
    return Evaluation(
        model="flights_late", model_sha256="ab" * 32, snapshot_hash="cd" * 32, test_rows=1_000, threshold=0.5,
        metrics={"auc": {"value": 0.70, "low": 0.68, "high": 0.72}}, baseline={"auc": 0.5},
        champion_version="2" if scored else None,
        champion_metrics={"auc": {"value": champion_auc}} if scored else None,
        slices=SLICES if scored else [{k: v for k, v in SLICES[0].items() if "champion" not in k and k != "auc_delta"}],
        champion_note=note, champion_status=status,
    )


def judge(evaluation: Evaluation) -> dict[str, tuple[bool, str]]:
    verdicts = (PROMOTION_GATES[name].rule(evaluation, GateThresholds()) for name in COMPARISON_GATES)
    return {v.check: (v.passed, v.summary) for v in verdicts}


def test_no_champion_yet_passes_by_rule():
    judged = judge(evaluation(ChampionStatus.NONE, "No champion existed; the champion comparison passed by rule."))
    assert judged == {name: (True, "no champion yet: passes by rule") for name in COMPARISON_GATES}


@pytest.mark.parametrize(("champion_auc", "passes"), [(0.695, True), (0.75, False)])
def test_a_scored_champion_is_compared(champion_auc, passes):
    judged = judge(evaluation(ChampionStatus.SCORED, champion_auc=champion_auc))
    assert judged["check_not_worse_than_champion"][0] is passes
    assert f"champion AUC {champion_auc:.3f}" in judged["check_not_worse_than_champion"][1]
    assert judged["check_no_slice_regression"] == (True, judged["check_no_slice_regression"][1])
    assert "carrier=UA" in judged["check_no_slice_regression"][1]


@pytest.mark.parametrize(
    "note",
    ["champion v2 cannot score these features: feature 'route_late_rate' is missing",
     "The reigning model rejected today's columns.",  # reworded: still refused
     ""],
)
def test_a_champion_that_cannot_score_these_features_refuses_the_candidate(note):
    judged = judge(evaluation(ChampionStatus.CANNOT_SCORE, note))
    for name in COMPARISON_GATES:
        passed, summary = judged[name]
        assert not passed and "not compared with the champion (cannot_score)" in summary and note in summary, name


def test_a_champion_that_failed_its_sha256_check_refuses_the_candidate():
    judged = judge(evaluation(ChampionStatus.UNVERIFIED, "champion v2 could not be loaded safely: sha256 mismatch"))
    assert {name: passed for name, (passed, _) in judged.items()} == {name: False for name in COMPARISON_GATES}
    assert "sha256 mismatch" in judged["check_not_worse_than_champion"][1]


def test_a_note_claiming_no_champion_does_not_pass_a_champion_that_was_not_compared():
    judged = judge(evaluation(ChampionStatus.CANNOT_SCORE, "No champion existed; the champion comparison passed by rule."))
    assert not any(passed for passed, _ in judged.values())
