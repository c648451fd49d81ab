"""The monitoring loop's policy, declared once: drift levels, windows, degradation, retraining.

The Dagster resource ``monitoring_policy`` (defs/monitoring.py) is derived from this dataclass, so
a default or its meaning is changed here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_assets.core.settings import setting


@dataclass(frozen=True)
class LoopPolicy:
    moderate_psi: float = setting(0.2, "PSI at or above this is moderate drift")
    high_psi: float = setting(0.3, "PSI at or above this is high drift (retrain at once)")
    moderate_persist_days: int = setting(3, "moderate drift on this many consecutive days retrains")
    cooldown_days: int = setting(7, "after a retraining request, wait this many data days")
    max_relative_auc_drop: float = setting(0.05, "live AUC this far below test AUC is degradation")
    label_delay_days: int = setting(1, "labels of a day arrive this many days later")
    drift_window_days: int = setting(
        28,
        "a day's drift is measured over the N days ending on it (weather is autocorrelated: "
        "shorter windows drift against any reference within a season)",
    )
    retrain_window_days: int = setting(28, "a triggered retraining learns from the last N days")
    performance_days: int = setting(7, "degradation is judged on the mean live AUC of N labelled days")
    min_training_days: int = setting(
        7, "a fired rule waits (without starting the cool-down) until the window has N checked days"
    )

    def drift_level(self, value: float) -> str:
        if value >= self.high_psi:
            return "high"
        if value >= self.moderate_psi:
            return "moderate"
        return "none"
