"""How candidate_evaluation bootstraps and slices, declared once: its Dagster config is derived from
this dataclass. A module of its own, so the Dagster definitions load it without numpy."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_assets.core.settings import setting


@dataclass(frozen=True)
class EvaluationSettings:
    bootstrap_resamples: int = setting(200, "resamples for confidence intervals")
    seed: int = setting(0, "seed of the bootstrap")
    min_slice_rows: int = setting(200, "slices with fewer test rows get no gated metrics")
