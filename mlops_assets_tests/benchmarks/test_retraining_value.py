"""The retraining_value benchmark's arithmetic: the paired differences and the per-month table it
writes to results.md compute what their headings say."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "retraining_value.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("retraining_value", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def day(month: int, dom: int) -> dt.date:
    return dt.date(2013, month, dom)


def test_paired_difference_is_the_mean_of_daily_differences_with_its_standard_error(bench):
    a = {day(1, 1): 0.70, day(1, 2): 0.60, day(1, 3): 0.80, day(1, 4): 0.65}
    b = {day(1, 1): 0.60, day(1, 2): 0.62, day(1, 3): 0.70, day(1, 5): 0.99}  # 1-4 and 1-5 are not paired
    paired = bench.paired_difference(a, b)
    differences = [0.10, -0.02, 0.10]
    mean = sum(differences) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / 2)
    assert paired.days == 3 and paired.better_days == 2
    assert paired.mean == pytest.approx(mean)
    assert paired.standard_error == pytest.approx(sd / math.sqrt(3))


def test_paired_difference_skips_days_without_a_value_and_refuses_fewer_than_two(bench):
    a, b = {day(1, 1): 0.7, day(1, 2): None, day(1, 3): 0.5}, {day(1, 1): 0.6, day(1, 2): 0.6, day(1, 3): 0.6}
    assert bench.paired_difference(a, b).days == 2
    with pytest.raises(ValueError, match="at least 2 common days"):
        bench.paired_difference({day(1, 1): 0.7}, {day(1, 1): 0.6})


def test_monthly_means_average_each_calendar_month_s_defined_days(bench):
    per_day = {day(1, 30): 0.6, day(1, 31): 0.8, day(2, 1): 0.5, day(2, 2): None, day(3, 1): 0.9}
    assert bench.monthly_means(per_day) == pytest.approx({"2013-01": 0.7, "2013-02": 0.5, "2013-03": 0.9})


def test_monthly_table_has_a_row_per_month_and_the_whole_period_mean_of_days(bench):
    live = {"loop": {day(1, 31): 0.6, day(2, 1): 0.7, day(2, 2): 0.8},
            "frozen": {day(1, 31): 0.5, day(2, 1): 0.5, day(2, 2): 0.6}}
    lines = bench.monthly_table(live).splitlines()
    assert lines[0] == "| month | loop | frozen | days |"
    assert lines[2] == "| 2013-01 | 0.6000 | 0.5000 | 1 |"
    assert lines[3] == "| 2013-02 | 0.7500 | 0.5500 | 2 |"
    # the whole period averages days, not months: (0.6 + 0.7 + 0.8) / 3, not (0.6 + 0.75) / 2
    assert lines[4] == "| **all** | **0.7000** | **0.5333** | 3 |"


def test_policy_and_gate_overrides_take_their_field_s_type_and_refuse_unknown_names(bench):
    from mlops_assets.monitor.policy import LoopPolicy

    assert bench.settings(["refused_backoff=1", "auc_noise_band=0.03", "drift_statistic=js"], LoopPolicy) == {
        "refused_backoff": 1, "auc_noise_band": 0.03, "drift_statistic": "js"}
    assert bench.settings(["max_auc_drop_vs_champion=0"], None) == {"max_auc_drop_vs_champion": 0.0}
    with pytest.raises(ValueError, match="LoopPolicy has no field 'cooldown'"):
        bench.settings(["cooldown=3"], LoopPolicy)
    with pytest.raises(ValueError, match="expected name=value"):
        bench.settings(["refused_backoff"], LoopPolicy)


def test_variants_are_chosen_by_name_and_unknown_names_refused(bench):
    import argparse

    assert bench.variant_names("loop_refit, weekly") == ("loop_refit", "weekly")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown variant"):
        bench.variant_names("loop,refit")


class _Fixed:
    """A model whose metric on each day is given (the day stands for its frame)."""

    def __init__(self, values):
        self.values = values

    def day_metric(self, spec, frame):
        return self.values[frame]


def test_realized_compares_the_deployed_models_a_refit_for_its_judged_candidate(bench):
    days = [day(2, d) for d in range(1, 7)]
    frames = {d: d for d in days}
    models = {
        "first": _Fixed({d: 0.60 for d in days}),
        "judged": _Fixed({d: 0.90 for d in days}),  # never served: its refit did
        "refit": _Fixed({d: 0.60 + 0.01 * i for i, d in enumerate(days)}),
    }
    first = bench.Training("loop_refit", day(1, 28), "first", "", 7, True, "first", 1.0)
    refused = bench.Training("loop_refit", day(1, 31), "high_drift", "", 7, False, "other", 1.0)
    promoted = bench.Training("loop_refit", day(2, 2), "high_drift", "", 7, True, "judged", 1.0, refit_sha256="refit")
    served_by = {d: ("first" if d <= day(2, 2) else "refit") for d in days}  # the refit serves 2-3..2-6
    after = bench.realized([first, refused, promoted], served_by, models, None, frames)
    assert list(after) == [day(2, 2)]
    assert after[day(2, 2)].days == 4 and after[day(2, 2)].mean == pytest.approx(0.035)  # refit - first
    against_judged = bench.served_difference("refit", "judged", served_by, models, None, frames)
    assert against_judged.mean == pytest.approx(-0.265) and against_judged.better_days == 0
    assert bench.served_difference("judged", "first", served_by, models, None, frames) is None  # it never served
