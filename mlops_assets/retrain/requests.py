"""Whether the retraining sensor requests a training now, and on which window: the rules of
``triggers.decide`` (and an expired gate override) over the warehouse's history, then the window's
checks. A plain function, so the sensor and anything replaying the loop in-process (the
retraining_value benchmark) make the same decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.retrain.triggers import Trigger


@dataclass(frozen=True)
class RetrainingRequest:
    """A fired rule and the window to train on: the policy's last ``window_days`` partitions up to the
    trigger's day, of which the last ``holdout_days`` are held out to judge the result forward."""

    trigger: Trigger
    window_days: int
    min_days: int
    holdout_days: int


def retraining_request(
    con: Any, spec: DatasetSpec, policy: LoopPolicy, last_trigger_day: dt.date | None, now: dt.datetime | None = None
) -> RetrainingRequest | str:
    """The request to make, or why none is made. ``last_trigger_day``: the day of the last request
    (the cool-down runs from it); ``now``: the wall clock an override's expiry is judged against."""
    from mlops_assets.monitor.drift import can_trigger_retraining
    from mlops_assets.monitor.drift_store import drift_history
    from mlops_assets.monitor.performance import performance_history
    from mlops_assets.retrain.triggers import decide, holdout_days_for
    from mlops_assets.train.window import TrainingWindow, learnable_days

    drift = [(d, f, statistic, v) for d, f, statistic, v, _
             in drift_history(con, spec.model.name, last_trigger_day, grain=spec.grain)
             if can_trigger_retraining(spec, f)]
    performance = [(d, version, auc, ref) for d, version, auc, ref, _, _
                   in performance_history(con, spec.model.name, grain=spec.grain)]
    trigger = (decide(drift, performance, last_trigger_day, policy, task=spec.model.task, grain=spec.grain,
                      refused_in_a_row=refused_since_promotion(con, spec.model.name))
               or expired_override(con, spec, last_trigger_day, policy, now))
    if trigger is None:
        return ("no drift or degradation rule fired" if last_trigger_day is None
                else f"no rule fired (last request for {spec.grain.label(last_trigger_day)})")
    window_start = spec.grain.shift(trigger.day, 1 - policy.retrain_window_days)
    trainable = len(learnable_days(con, spec, window_start, trigger.day))
    if trainable < policy.min_training_days:
        # e.g. the first days after a gap (or before their outcomes land): drift is real, but a model
        # of one day would be worse
        return (f"{trigger.rule} fired on {trigger.day}, but the last {policy.retrain_window_days} days hold only "
                f"{trainable} checked day(s) with their outcomes (need {policy.min_training_days}); waiting for more data")
    holdout = holdout_days_for(trainable, policy, TrainingWindow().holdout_days)
    return RetrainingRequest(trigger, policy.retrain_window_days, policy.min_training_days, holdout)


def refused_since_promotion(con: Any, model: str) -> int:
    """How many candidates were evaluated since the champion was promoted (or rolled back to) and
    did not replace it: the retrainings in a row the gates found no better."""
    from mlops_assets.core.warehouse import table_exists
    from mlops_assets.promote import ledger

    moves = [e for e in ledger.entries(con, model) if e.action in ledger.ALIAS_MOVES]
    if not moves or not table_exists(con, "evaluations"):
        return 0
    return con.execute(
        "SELECT count(DISTINCT model_sha256) FROM evaluations WHERE model = ? AND created_at > ? AND model_sha256 <> ?",
        [model, moves[-1].recorded_at, moves[-1].model_sha256],
    ).fetchall()[0][0]


def expired_override(con: Any, spec: DatasetSpec, last: dt.date | None, policy: LoopPolicy,
                     now: dt.datetime | None = None) -> Trigger | None:
    """The champion's gate override has expired (checked after the drift and performance rules)."""
    from mlops_assets.promote import ledger
    from mlops_assets.retrain.triggers import cooling_down, override_expired
    from mlops_assets.train.window import passed_feature_days

    moves = [e for e in ledger.entries(con, spec.model.name) if e.action in ledger.ALIAS_MOVES]
    days = passed_feature_days(con, spec, None, None)
    if not moves or not days:
        return None
    latest = max(days)
    if last is not None and cooling_down(last, latest, policy, spec.grain):
        return None
    return override_expired(moves[-1].to_version, moves[-1].overrides, latest, now or dt.datetime.now(dt.timezone.utc))
