"""The hyperparameter search's budget, declared once: candidate_model's Dagster config is derived
from it. A module of its own, so the Dagster definitions load it without numpy."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_assets.core.settings import setting


@dataclass(frozen=True)
class TuningBudget:
    trials: int = setting(8, "hyperparameter sets tried (random search, seeded)")
    seed: int = setting(42, "seed of the search and of xgboost")
    max_rounds: int = setting(300, "most trees per trial (early stopping picks fewer)")
    early_stopping_rounds: int = setting(25, "stop a trial when validation AUC stalls this long")
    nthread: int = setting(2, "xgboost threads")
