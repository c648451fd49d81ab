"""Every Dagster name the platform gives a dataset or a model, declared once.

A code location holds many models, so nothing a model owns may have a fixed name: its assets live
under its own key prefix and group, and its jobs, sensors, schedules, check steps and policy
resources carry its name. A dataset's raw snapshots and features are shared by every model built on
it, so they are named by the dataset (``raw_<dataset>``, ``<dataset>_features``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from mlops_assets.core.spec import DatasetSpec


@dataclass(frozen=True)
class DatasetNames:
    dataset: str

    @classmethod
    def of(cls, spec: DatasetSpec) -> "DatasetNames":
        return cls(spec.name)

    @property
    def group(self) -> str:
        return self.dataset

    @property
    def ingest_job(self) -> str:
        return f"{self.dataset}_ingest_job"

    @property
    def landing_sensor(self) -> str:
        return f"{self.dataset}_landing_sensor"

    @property
    def labels_asset(self) -> str:
        return f"{self.dataset}_labels"

    @property
    def labels_job(self) -> str:
        return f"{self.dataset}_labels_job"

    @property
    def label_sensor(self) -> str:
        return f"{self.dataset}_label_sensor"

    @property
    def data_gates_step(self) -> str:
        return f"{self.dataset}_data_gates"

    @property
    def feature_checks_step(self) -> str:
        return f"{self.dataset}_feature_checks"

    @property
    def label_checks_step(self) -> str:
        return f"{self.dataset}_label_checks"


@dataclass(frozen=True)
class ModelNames:
    model: str

    @classmethod
    def of(cls, spec: DatasetSpec) -> "ModelNames":
        return cls(spec.model.name)

    @property
    def prefix(self) -> list[str]:
        return [self.model]

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.model, asset])

    def op(self, asset: str) -> str:
        """The step that materializes one of the model's assets (what run config is keyed by)."""
        return "__".join(self.key(asset).path)

    def run_config(self, configs: dict[str, dict]) -> dict:
        """Run config from each asset's (or the rollback op's) config, keyed by the model's steps."""
        steps = {"roll_back_champion": self.rollback_op}
        return {"ops": {steps.get(name) or self.op(name): {"config": config} for name, config in configs.items()}}

    @property
    def rollback_op(self) -> str:
        return f"{self.model}_roll_back_champion"

    @property
    def group(self) -> str:
        return self.model

    def job(self, kind: str) -> str:
        """``train``, ``score``, ``performance``, ``timeline``, ``rollback``: ``<model>_<kind>_job``."""
        return f"{self.model}_{kind}_job"

    @property
    def train_job(self) -> str:
        return self.job("train")

    @property
    def rollback_job(self) -> str:
        return self.job("rollback")

    @property
    def retraining_sensor(self) -> str:
        return f"{self.model}_retraining_sensor"

    @property
    def automation_sensor(self) -> str:
        return f"{self.model}_monitoring_automation_sensor"

    @property
    def weekly_retraining_schedule(self) -> str:
        return f"{self.model}_weekly_retraining_schedule"

    @property
    def daily_monitoring_schedule(self) -> str:
        return f"{self.model}_daily_monitoring_schedule"

    @property
    def gates_step(self) -> str:
        return f"{self.model}_promotion_gates"

    @property
    def gate_policy(self) -> str:
        """The resource key of this model's gate thresholds."""
        return f"{self.model}_gate_policy"

    @property
    def monitoring_policy(self) -> str:
        """The resource key of this model's monitoring loop policy."""
        return f"{self.model}_monitoring_policy"
