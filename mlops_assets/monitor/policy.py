"""The monitoring loop's policy, declared once: drift levels, windows, degradation, retraining.

The Dagster resource ``monitoring_policy`` (defs/monitoring.py) is derived from this dataclass, so
a default or its meaning is changed here and nowhere else. Its windows count partitions of the
spec's grain (``core.grain``): days for a daily dataset, years for a yearly one. Every drift statistic is recorded; the
policy names the one whose levels trigger retraining, and its levels default to the statistic's own
(declared with it in monitor/statistics.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_assets.core.settings import setting
from mlops_assets.monitor.statistics import DRIFT_STATISTICS, PSI, drift_statistic

_OWN_LEVELS = "; default: the statistic's own ({})"


def _own(level: str) -> str:
    return _OWN_LEVELS.format(", ".join(f"{s.label} {getattr(s, level):g}" for s in DRIFT_STATISTICS.values()))


@dataclass(frozen=True)
class LoopPolicy:
    drift_statistic: str = setting(
        PSI.name, f"the drift statistic whose levels trigger retraining (all are recorded): {', '.join(DRIFT_STATISTICS)}"
    )
    moderate_drift: float | None = setting(None, "drift_statistic at or above this is moderate drift" + _own("moderate"))
    high_drift: float | None = setting(
        None, "drift_statistic at or above this is high drift (retrain at once)" + _own("high")
    )
    moderate_persist_days: int = setting(3, "moderate drift on this many consecutive partitions (days for a daily dataset) retrains")
    cooldown_days: int = setting(7, "after a retraining request, wait this many partitions of data (days for a daily dataset)")
    refused_backoff: int = setting(
        2,
        "after each retraining in a row whose candidate was not promoted, drift waits this many times longer "
        "before it requests again (1: never longer): drift the forward gate found no better answer to is "
        "seasonal, not a reason to retrain every cool-down; degraded live performance still requests after "
        "cooldown_days",
    )
    max_cooldown_days: int = setting(28, "drift's cool-down never grows beyond this many partitions")
    auc_noise_band: float = setting(
        0.05,
        "degradation is a mean live AUC more than this below the champion's out-of-time AUC (both averaged "
        "per day): per-day AUC moves by 0.03-0.05 on nycflights, so a smaller band fires on noise",
    )
    relative_noise_band: float = setting(
        0.10,
        "for models whose primary metric is in the target's units or a loss (regression RMSE, multiclass log "
        "loss): degradation is a mean live value worse than the out-of-time reference by more than this share of it",
    )
    label_delay_days: int = setting(
        1, "without a label feed in the spec: a partition's outcomes (in its rows) count as arrived this many "
        "partitions later (days for a daily dataset); with one, live performance waits for the labels to land")
    drift_window_days: int = setting(
        28,
        "a partition's drift is measured over the N partitions ending on it (weather is autocorrelated: "
        "shorter windows drift against any reference within a season)",
    )
    retrain_window_days: int = setting(28, "a triggered retraining learns from the last N partitions (days for a daily dataset)")
    performance_days: int = setting(7, "degradation is judged on the mean live AUC of N labelled partitions")
    min_training_days: int = setting(
        7,
        "a fired rule waits (without starting the cool-down) until the window has N checked partitions; those beyond "
        "N (up to the training snapshot's holdout_days) are held out to judge the result forward",
    )

    def __post_init__(self) -> None:
        moderate, high = self.levels(self.drift_statistic)  # an unknown statistic is named here
        if moderate > high:
            raise ValueError(f"moderate drift ({moderate:g}) is above high drift ({high:g}) for {self.drift_statistic}")
        if self.refused_backoff < 1:
            raise ValueError(f"refused_backoff must be 1 or more, got {self.refused_backoff}")
        if self.max_cooldown_days < self.cooldown_days:
            raise ValueError(f"max_cooldown_days ({self.max_cooldown_days}) is below cooldown_days ({self.cooldown_days})")

    def drift_cooldown_days(self, refused_in_a_row: int) -> int:
        """How long drift waits after a request, when the last ``refused_in_a_row`` candidates were
        not promoted: the cool-down, times ``refused_backoff`` for each, at most ``max_cooldown_days``."""
        return min(self.max_cooldown_days, self.cooldown_days * self.refused_backoff ** max(refused_in_a_row, 0))

    def degradation(self, task: str, live: float, reference: float) -> tuple[bool, float, float]:
        """Whether a live value of the task's primary metric is degraded against its reference: (degraded,
        how much worse it is in the metric's direction, the noise band it must exceed). Binary AUC uses
        the absolute ``auc_noise_band``; the other tasks' primary metrics a share of the reference."""
        from mlops_assets.evaluate.tasks import task_of

        kind = task_of(task)
        worse = reference - live if kind.higher_is_better(kind.primary_metric) else live - reference
        band = self.relative_noise_band * abs(reference) if kind.relative_noise else self.auc_noise_band
        return worse > band, worse, band

    def levels(self, statistic: str) -> tuple[float, float]:
        """The moderate and high values of ``statistic``: the policy's for the triggering statistic
        when it sets them, else the statistic's own."""
        declared = drift_statistic(statistic)
        if statistic != self.drift_statistic:
            return declared.moderate, declared.high
        return (declared.moderate if self.moderate_drift is None else self.moderate_drift,
                declared.high if self.high_drift is None else self.high_drift)

    def drift_level(self, statistic: str, value: float) -> str:
        moderate, high = self.levels(statistic)
        if value >= high:
            return "high"
        if value >= moderate:
            return "moderate"
        return "none"
