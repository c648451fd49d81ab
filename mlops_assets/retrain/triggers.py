"""When to retrain: rules over the drift and performance history, with a cool-down.

Pure functions over plain rows so the rules are tested without Dagster; the retraining sensor
reads the history, calls ``decide`` and turns a ``Trigger`` into a run request whose tags carry the
reason into MLflow, the ledger and the model card.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, Grain
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import drift_statistic


@dataclass(frozen=True)
class Trigger:
    day: dt.date  # the data day the decision was made on
    rule: str  # "high_drift", "persistent_moderate_drift", "performance_degraded" or "override_expired"
    features: dict[str, float]
    reason: str

    @property
    def run_key(self) -> str:
        return f"retrain-{self.day.isoformat()}-{self.rule}"


def decide(
    drift_rows: list[tuple[dt.date, str, str, float]],
    performance_rows: list[tuple[dt.date, str, float | None, float | None]],
    last_trigger_day: dt.date | None,
    policy: LoopPolicy,
    *,
    task: str = "binary",
    grain: Grain = GRAINS[DEFAULT_GRAIN],
    refused_in_a_row: int = 0,
) -> Trigger | None:
    """The first rule that fires on the latest day with data, unless still cooling down.

    ``drift_rows``: (day, feature, statistic, value), of which only the policy's
    ``drift_statistic`` is read, against the policy's levels of it; ``performance_rows``: (day,
    champion version, auc, champion reference auc), the reference being the champion's out-of-time
    AUC averaged per day, measured as live AUC is. A single day's AUC is too noisy to act on (a day
    has ~900 flights), so degradation is the mean of the champion's last ``performance_days``
    labelled days falling more than ``auc_noise_band`` below the reference. A model of another
    ``task`` is judged the same way on its primary metric (its column in the rows), in that metric's
    direction and against the policy's relative noise band (``LoopPolicy.degradation``).

    ``refused_in_a_row``: how many retrainings since the champion's promotion produced a candidate
    that was not promoted; the drift rules then wait ``LoopPolicy.drift_cooldown_days`` after the
    last request (the forward gate found retraining on that drift no better), degradation does not.
    """
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY, task_of

    statistic = drift_statistic(policy.drift_statistic)
    moderate, high = policy.levels(statistic.name)
    drift_rows = [(day, feature, value) for day, feature, name, value in drift_rows if name == statistic.name]
    days = sorted({row[0] for row in drift_rows} | {row[0] for row in performance_rows})
    if not days:
        return None
    latest = days[-1]
    if last_trigger_day is not None and cooling_down(last_trigger_day, latest, policy, grain):
        return None
    by_day: dict[dt.date, dict[str, float]] = {}
    for day, feature, value in drift_rows:  # prediction drift (__prediction__) counts like a feature
        by_day.setdefault(day, {})[feature] = value
    # drift that the last candidates were trained on and refused for waits longer; degradation does not
    drift_waits = last_trigger_day is not None and cooling_down(
        last_trigger_day, latest, policy, grain, policy.drift_cooldown_days(refused_in_a_row))
    today = {} if drift_waits else by_day.get(latest, {})
    high_drift = {f: v for f, v in today.items() if v >= high}
    if high_drift:
        return Trigger(latest, "high_drift", high_drift,
                       f"high drift on {latest}: {_list(high_drift)} ({statistic.label} >= {high:g})")
    window = [grain.shift(latest, -i) for i in range(policy.moderate_persist_days)]
    if all(day in by_day for day in window):
        persistent = {
            f: today[f] for f in today
            if all(by_day[day].get(f, 0.0) >= moderate for day in window)
        }
        if persistent:
            return Trigger(latest, "persistent_moderate_drift", persistent,
                           f"moderate drift for {policy.moderate_persist_days} days up to {latest}: "
                           f"{_list(persistent)} ({statistic.label} >= {moderate:g})")
    labelled = sorted((row for row in performance_rows if row[2] is not None), key=lambda row: row[0])
    if labelled:
        version = labelled[-1][1]
        recent = [row for row in labelled if row[1] == version][-policy.performance_days:]
        if len(recent) >= policy.performance_days:
            mean_live = sum(row[2] for row in recent) / len(recent)
            reference = recent[-1][3]
            degraded, _, band = policy.degradation(task, mean_live, reference) if reference is not None else (
                False, 0.0, 0.0)
            if degraded:
                day = recent[-1][0]
                primary = task_of(task).primary_metric
                spoken = METRIC_REGISTRY[primary].spoken
                side = "below" if METRIC_REGISTRY[primary].higher_is_better else "above"
                return Trigger(day, "performance_degraded", {f"mean_live_{primary}": mean_live},
                               f"champion v{version}'s live {spoken} averaged {mean_live:.3f} over {len(recent)} "
                               f"labelled days up to {day}, more than the noise band {band:.3f} {side} its "
                               f"out-of-time {spoken} {reference:.3f} (averaged per day)")
    return None


def cooling_down(last_trigger_day: dt.date, latest: dt.date, policy: LoopPolicy, grain: Grain,
                 days: int | None = None) -> bool:
    """Whether ``latest`` is fewer than the policy's cool-down partitions (days for a daily dataset),
    or ``days`` of them, after the last retraining request."""
    return latest < grain.shift(last_trigger_day, policy.cooldown_days if days is None else days)


def holdout_days_for(trainable_days: int, policy: LoopPolicy, default_holdout: int) -> int:
    """How many of a triggered window's last days to hold out: what the window spares beyond
    ``min_training_days``, up to the training snapshot's default. Drift still retrains on a short
    window (as users expect); with nothing held out the forward gates refuse to promote the result."""
    return max(0, min(default_holdout, trainable_days - policy.min_training_days))


def override_expired(
    champion_version: str, overrides: list[dict[str, str]], latest_day: dt.date, now: dt.datetime
) -> Trigger | None:
    """A champion promoted past a failed gate stays only until its override expires: then retrain,
    so a model that passes every gate can take its place. ``overrides``: its ledger row's."""
    if not overrides:
        return None
    expiry = max(dt.datetime.fromisoformat(o["expires_at"]) for o in overrides)
    if expiry > now:
        return None
    gates = ", ".join(sorted({o["gate"] for o in overrides}))
    return Trigger(latest_day, "override_expired", {},
                   f"champion v{champion_version} was promoted past {gates} by a gate override that expired "
                   f"{expiry.isoformat(timespec='minutes')}")


def _list(values: dict[str, float]) -> str:
    top = sorted(values.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {value:.2f}" for name, value in top[:5])
    return shown + (f" and {len(top) - 5} more" if len(top) > 5 else "")
