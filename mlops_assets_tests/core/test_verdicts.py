"""The one verdict type: its JSON forms, and reading back verdicts logged before it existed."""

from __future__ import annotations

import json
import math

import numpy as np

from mlops_assets.core.verdicts import GateResult, RuleFailure


def test_verdict_to_dict_is_strict_json() -> None:
    verdict = GateResult(
        check="check_calibration",
        passed=np.bool_(False),
        summary="x",
        metric="ece",
        observed=np.float64(math.nan),
        threshold=0.05,
        champion_value=None,
        delta=math.inf,
    )
    record = verdict.to_dict()
    assert record == {
        "gate": "check_calibration",
        "passed": False,
        "metric": "ece",
        "observed": None,
        "threshold": 0.05,
        "champion_value": None,
        "delta": None,
        "reason": "x",
    }
    json.dumps(record, allow_nan=False)


def test_a_logged_verdict_reads_back_whole() -> None:
    rule_verdict = GateResult.from_failures(
        "check_schema", [RuleFailure("dep_delay", "finite values", "1 NaN", "finite numbers", [{"id": 3}])], "",
        {"columns_checked": 4},
    )
    measured = GateResult("check_min_quality", True, "fine", metric="auc", observed=0.71, threshold=0.6)
    for verdict in (rule_verdict, measured):
        assert GateResult.from_record(verdict.check, verdict.passed, verdict.summary, verdict.to_json()) == verdict


def test_a_promotion_verdict_logged_before_the_one_verdict_type_still_reads() -> None:
    """Older state folders kept a promotion gate's numbers as its stats (GateVerdict.to_dict())."""
    legacy = json.dumps({"summary": "too low", "failures": [], "stats": {
        "gate": "not_worse_than_champion", "passed": False, "metric": "auc", "observed": 0.70,
        "threshold": 0.01, "champion_value": 0.74, "delta": -0.04, "reason": "too low"}})
    verdict = GateResult.from_record("check_not_worse_than_champion", False, "too low", legacy)
    assert verdict == GateResult("check_not_worse_than_champion", False, "too low", metric="auc", observed=0.70,
                                 threshold=0.01, champion_value=0.74, delta=-0.04)
