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
