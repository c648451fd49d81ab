"""When to retrain: triggers.decide on hand-made drift and performance history."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.retrain.triggers import Trigger, decide, holdout_days_for

POLICY = LoopPolicy()  # moderate 0.2, high 0.3, persist 3 days, cool-down 7 days, AUC noise band 0.05
D0 = dt.date(2013, 7, 1)
FEATURES = ("origin_temp", "origin_dewpoint", "carrier", "distance")


def day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=i)


def drift(days, values: dict[str, float] | None = None, quiet: float = 0.02,
          statistic: str = "psi") -> list[tuple[dt.date, str, str, float]]:
    """One row per feature per day: ``values`` for the named features, ``quiet`` for the rest."""
    values = values or {}
    return [(d, f, statistic, values.get(f, quiet)) for d in days for f in FEATURES]


def perf(d: dt.date, auc: float | None = 0.70, reference: float = 0.75, version: str = "1"):
    return (d, version, auc, reference)


def week_of_auc(aucs: list[float], start: int = 0, version: str = "1") -> list[tuple]:
    return [perf(day(start + i), auc, version=version) for i, auc in enumerate(aucs)]


def test_no_history_triggers_nothing():
    assert decide([], [], None, POLICY) is None


def test_quiet_week_triggers_nothing():
    week = [day(i) for i in range(7)]
    performance = [perf(d, 0.74) for d in week]  # a full labelled week at the test AUC
    assert decide(drift(week, {"origin_temp": 0.19}), performance, None, POLICY) is None


def test_one_high_day_triggers_high_drift_naming_features_and_values():
    rows = drift([day(0), day(1)]) + drift([day(2)], {"origin_temp": 1.2345, "origin_dewpoint": 0.3,
                                                      "carrier": 0.29, "distance": 0.01})
    trigger = decide(rows, [], None, POLICY)
    assert trigger is not None
    assert trigger.rule == "high_drift"
    assert trigger.day == day(2)
    assert trigger.features == {"origin_temp": 1.2345, "origin_dewpoint": 0.3}  # >= high, carrier 0.29 is not
    assert "origin_temp 1.23" in trigger.reason and "origin_dewpoint 0.30" in trigger.reason
    assert "carrier" not in trigger.reason
    assert trigger.reason.index("origin_temp") < trigger.reason.index("origin_dewpoint")  # largest first
    assert day(2).isoformat() in trigger.reason


def test_high_drift_only_counts_on_the_latest_day():
    rows = drift([day(0)], {"origin_temp": 2.0}) + drift([day(1)])
    assert decide(rows, [], None, POLICY) is None


def test_persistent_moderate_drift_fires_after_enough_days():
    rows = drift([day(0), day(1), day(2)], {"carrier": 0.25})
    trigger = decide(rows, [], None, POLICY)
    assert trigger is not None
    assert trigger.rule == "persistent_moderate_drift"
    assert trigger.features == {"carrier": 0.25}
    assert trigger.day == day(2)
    assert "carrier 0.25" in trigger.reason and "3 days" in trigger.reason


def test_moderate_drift_for_fewer_days_does_not_fire():
    rows = drift([day(0)]) + drift([day(1), day(2)], {"carrier": 0.25})
    assert decide(rows, [], None, POLICY) is None
    # the same feature must be moderate on every day of the window, not different features
    rows = drift([day(0)], {"carrier": 0.25}) + drift([day(1)], {"distance": 0.25}) + drift([day(2)], {"carrier": 0.25})
    assert decide(rows, [], None, POLICY) is None


def test_a_gap_day_breaks_persistence():
    rows = drift([day(0), day(1), day(3)], {"carrier": 0.25})  # day(2) has no drift rows
    assert decide(rows, [], None, POLICY) is None
    rows += drift([day(4), day(5)], {"carrier": 0.25})  # three consecutive days again
    trigger = decide(rows, [], None, POLICY)
    assert trigger is not None and trigger.rule == "persistent_moderate_drift" and trigger.day == day(5)


def test_degraded_performance_triggers_on_the_weekly_mean():
    performance = week_of_auc([0.66] * 7)  # 0.09 below the 0.75 out-of-time reference, all week
    trigger = decide(drift([day(7)]), performance, None, POLICY)
    assert trigger is not None and trigger.rule == "performance_degraded"
    assert trigger.day == day(6) and "0.660" in trigger.reason and "7 labelled days" in trigger.reason
    assert trigger.features == {"mean_live_auc": pytest.approx(0.66)}


def test_the_rule_holds_live_auc_against_the_out_of_time_reference_not_the_test_auc():
    """Issue 16: live AUC sat 0.11-0.23 below the pooled in-period test AUC for every champion while
    the held-out days' per-day AUC was within 0.03-0.06 of it. The rows carry the out-of-time
    reference; a week ordinary for it is no degradation, however far below the test AUC it is."""
    test_auc, oot_reference = 0.82, 0.68
    ordinary_week = [(day(i), "1", auc, oot_reference) for i, auc in enumerate([0.71, 0.64, 0.67, 0.70, 0.65, 0.69, 0.66])]
    assert decide(drift([day(7)]), ordinary_week, None, POLICY) is None  # mean 0.674, per-day spread +-0.04
    same_week_against_test_auc = [(d, v, auc, test_auc) for d, v, auc, _ in ordinary_week]
    assert decide(drift([day(7)]), same_week_against_test_auc, None, POLICY).rule == "performance_degraded"
    declined = [(d, v, auc - 0.07, ref) for d, v, auc, ref in ordinary_week]  # a real decline beyond the band
    trigger = decide(drift([day(7)]), declined, None, POLICY)
    assert trigger is not None and trigger.rule == "performance_degraded"
    assert "noise band 0.050 below its out-of-time AUC 0.680" in trigger.reason


def test_the_noise_band_is_the_policy_s():
    week = [(day(i), "1", 0.66, 0.70) for i in range(7)]  # 0.04 below
    assert decide(drift([day(7)]), week, None, POLICY) is None
    assert decide(drift([day(7)]), week, None, LoopPolicy(auc_noise_band=0.03)).rule == "performance_degraded"


def test_one_bad_day_is_noise_not_degradation():
    performance = week_of_auc([0.74] * 6 + [0.60])  # mean 0.72: 0.03 below, within the 0.05 band
    assert decide(drift([day(7)]), performance, None, POLICY) is None


def test_fewer_labelled_days_than_the_window_do_not_trigger():
    performance = week_of_auc([0.50] * (POLICY.performance_days - 1))
    assert decide(drift([day(7)]), performance, None, POLICY) is None


def test_only_the_current_champions_days_count():
    # a bad week of the previous champion, then three good days of the new one
    performance = week_of_auc([0.55] * 7, version="1") + week_of_auc([0.74] * 3, start=7, version="2")
    assert decide(drift([day(10)]), performance, None, POLICY) is None


def test_unlabelled_performance_rows_are_ignored():
    performance = week_of_auc([0.60] * 7) + [(day(7), "1", None, 0.75)]
    trigger = decide(drift([day(7)]), performance, None, POLICY)
    assert trigger is not None and trigger.rule == "performance_degraded" and trigger.day == day(6)


def test_high_drift_wins_over_degradation():
    trigger = decide(drift([day(6)], {"origin_temp": 0.9}), week_of_auc([0.60] * 7), None, POLICY)
    assert trigger.rule == "high_drift"


def test_cooldown_blocks_then_releases():
    last = day(0)
    for i in range(1, POLICY.cooldown_days):
        rows = drift([day(i)], {"origin_temp": 1.5})
        assert decide(rows, [], last, POLICY) is None, f"fired {i} days after the last trigger"
    released = decide(drift([day(POLICY.cooldown_days)], {"origin_temp": 1.5}), [], last, POLICY)
    assert released is not None and released.rule == "high_drift" and released.day == day(7)


def test_cooldown_also_blocks_degradation():
    performance = week_of_auc([0.60] * 7)
    assert decide(drift([day(6)]), performance, day(1), POLICY) is None
    trigger = decide(drift([day(8)]), performance, day(1), POLICY)
    assert trigger is not None and trigger.rule == "performance_degraded"


def test_custom_policy_thresholds_are_respected():
    strict = LoopPolicy(high_drift=2.0, moderate_drift=1.0, moderate_persist_days=1)
    assert decide(drift([day(0)], {"origin_temp": 1.5}), [], None, strict).rule == "persistent_moderate_drift"
    assert decide(drift([day(0)], {"origin_temp": 0.9}), [], None, strict) is None


def test_run_key_is_stable_per_day_and_rule():
    rows = drift([day(0)], {"origin_temp": 0.9})
    first = decide(rows, [], None, POLICY)
    again = decide(list(reversed(rows)), [], None, POLICY)
    assert first.run_key == again.run_key == "retrain-2013-07-01-high_drift"
    other_day = decide(drift([day(1)], {"origin_temp": 0.9}), [], None, POLICY)
    assert other_day.run_key != first.run_key
    other_rule = Trigger(day(0), "performance_degraded", {}, "x")
    assert other_rule.run_key != first.run_key
    assert Trigger(day(0), "high_drift", {"x": 9.0}, "another reason").run_key == first.run_key


def test_degradation_uses_the_latest_labelled_days_whatever_the_row_order():
    performance = week_of_auc([0.60] * 7)
    trigger = decide(drift([day(7)]), list(reversed(performance)), None, POLICY)
    assert trigger is not None and trigger.day == day(6)
    recovered = week_of_auc([0.60] * 3 + [0.75] * 7)  # the last 7 days are fine again
    assert decide(drift([day(10)]), list(reversed(recovered)), None, POLICY) is None


def test_an_expired_override_requests_retraining_and_an_active_one_does_not():
    from mlops_assets.retrain.triggers import override_expired

    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc)
    overrides = [{"gate": "check_calibration", "operator": "alice", "reason": "holidays",
                  "granted_at": "2026-11-01T00:00:00+00:00", "expires_at": "2026-11-20T23:59:59+00:00"}]
    trigger = override_expired("4", overrides, dt.date(2026, 11, 24), now)
    assert trigger is not None and trigger.rule == "override_expired" and trigger.day == dt.date(2026, 11, 24)
    assert "v4" in trigger.reason and "check_calibration" in trigger.reason and "2026-11-20" in trigger.reason
    assert override_expired("4", overrides, dt.date(2026, 11, 24), dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)) is None
    assert override_expired("4", [], dt.date(2026, 11, 24), now) is None


def test_only_the_policys_statistic_is_read():
    # huge values of a statistic the policy does not name trigger nothing; the named one does
    assert decide(drift([day(0)], {"origin_temp": 5.0}, statistic="another"), [], None, POLICY) is None
    rows = drift([day(0)], {"origin_temp": 5.0}, statistic="another") + drift([day(0)], {"carrier": 0.4})
    trigger = decide(rows, [], None, POLICY)
    assert trigger.rule == "high_drift" and trigger.features == {"carrier": 0.4}
    assert "(PSI >= 0.3)" in trigger.reason


def test_a_policy_naming_an_unknown_statistic_or_crossed_levels_is_refused():
    with pytest.raises(ValueError, match=r"unknown drift statistic 'kl'; known: psi"):
        LoopPolicy(drift_statistic="kl")
    with pytest.raises(ValueError, match=r"moderate drift \(0.5\) is above high drift \(0.3\) for psi"):
        LoopPolicy(moderate_drift=0.5)


def test_naming_js_distance_with_its_own_levels_changes_what_triggers():
    from mlops_assets.monitor.statistics import measure

    # one day on which carrier's mass moved 10 points from its top category to a rare one: PSI
    # stays under moderate, JS distance is 0.13; the default policy (PSI) does nothing
    reference, window = [0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2]
    values = measure(reference, window)
    assert values["psi"] < POLICY.levels("psi")[0] and values["js_distance"] == pytest.approx(0.132, abs=1e-3)
    rows = [row for name, value in values.items() for row in drift([day(0)], {"carrier": value}, 0.0, name)]
    assert decide(rows, [], None, POLICY) is None
    assert decide(rows, [], None, LoopPolicy(drift_statistic="js_distance")) is None  # its defaults: 0.19 / 0.23
    sensitive = LoopPolicy(drift_statistic="js_distance", moderate_drift=0.05, high_drift=0.1)
    trigger = decide(rows, [], None, sensitive)
    assert trigger.rule == "high_drift" and trigger.features == {"carrier": pytest.approx(0.132, abs=1e-3)}
    assert "(JS distance >= 0.1)" in trigger.reason
    # the levels the policy sets are the triggering statistic's only
    assert sensitive.levels("psi") == (0.2, 0.3) and sensitive.levels("js_distance") == (0.05, 0.1)


@pytest.mark.parametrize(("trainable", "held_out"), [(28, 7), (10, 3), (7, 0), (3, 0)])
def test_a_triggered_window_holds_out_what_it_spares_beyond_min_training_days(trainable, held_out):
    assert holdout_days_for(trainable, LoopPolicy(min_training_days=7), default_holdout=7) == held_out


def test_a_yearly_dataset_counts_persistence_and_cool_down_in_years():
    from mlops_assets.core.grain import grain

    yearly = grain("yearly")
    years = [dt.date(2010 + i, 1, 1) for i in range(12)]
    persistent = decide(drift(years[:3], {"carrier": 0.25}), [], None, POLICY, grain=yearly)
    assert persistent is not None and persistent.rule == "persistent_moderate_drift"
    # three moderate years in a row; counted in days they would be three days apart and never persist
    assert decide(drift(years[:3], {"carrier": 0.25}), [], None, POLICY) is None
    high = drift(years[:8], {"carrier": 1.5})
    assert decide(high, [], years[1], POLICY, grain=yearly) is None  # 7 years of cool-down: 2011 + 7 > 2017
    assert decide(drift(years[:9], {"carrier": 1.5}), [], years[1], POLICY, grain=yearly).day == years[8]


def test_labels_of_a_year_arrive_the_partition_after_it():
    from mlops_assets.core.grain import grain
    from mlops_assets.monitor.performance import labels_arrived

    yearly = grain("yearly")
    assert not labels_arrived(dt.date(2020, 1, 1), dt.date(2020, 1, 1), 1, yearly)
    assert labels_arrived(dt.date(2020, 1, 1), dt.date(2021, 1, 1), 1, yearly)
    assert not labels_arrived(dt.date(2020, 1, 1), dt.date(2020, 1, 2), 1, yearly)  # a day is no year


def test_drift_waits_longer_after_refused_candidates_and_degradation_does_not():
    last, high = day(0), {"origin_temp": 1.5}
    # one refused candidate: drift waits twice the cool-down
    assert decide(drift([day(7)], high), [], last, POLICY, refused_in_a_row=1) is None
    assert decide(drift([day(13)], high), [], last, POLICY, refused_in_a_row=1) is None
    assert decide(drift([day(14)], high), [], last, POLICY, refused_in_a_row=1).rule == "high_drift"
    # two in a row: four times, and never beyond max_cooldown_days
    assert decide(drift([day(27)], high), [], last, POLICY, refused_in_a_row=2) is None
    assert decide(drift([day(28)], high), [], last, POLICY, refused_in_a_row=2) is not None
    assert decide(drift([day(28)], high), [], last, POLICY, refused_in_a_row=5) is not None
    # persistent moderate drift waits the same way
    moderate = drift([day(i) for i in range(5, 8)], {"origin_temp": 0.25})
    assert decide(moderate, [], last, POLICY, refused_in_a_row=1) is None
    assert decide(moderate, [], last, POLICY).rule == "persistent_moderate_drift"
    # the champion's measured decline is no seasonal drift: it requests after the plain cool-down
    degraded = decide(drift([day(8)], high), week_of_auc([0.60] * 7, start=2), last, POLICY, refused_in_a_row=3)
    assert degraded is not None and degraded.rule == "performance_degraded"


def test_drift_cooldown_grows_by_the_backoff_up_to_its_ceiling():
    assert [POLICY.drift_cooldown_days(n) for n in range(4)] == [7, 14, 28, 28]
    assert LoopPolicy(refused_backoff=1).drift_cooldown_days(3) == 7
    with pytest.raises(ValueError, match="refused_backoff must be 1 or more"):
        LoopPolicy(refused_backoff=0)
    with pytest.raises(ValueError, match="max_cooldown_days .* is below cooldown_days"):
        LoopPolicy(cooldown_days=10, max_cooldown_days=7)
