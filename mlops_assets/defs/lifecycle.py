"""``mlops_assets.ModelLifecycle``: one model of the project is one folder under ``defs/models/``
holding a ``defs.yaml`` of this component.

The YAML names the model, its dataset (a built-in spec, a spec file beside it, or the spec inline),
the target it learns and its task, and its policies: the promotion gates' thresholds, the monitoring
loop, the tuning budget and its schedules. Each block's fields, defaults and descriptions come from
the declaration that owns them (the gate registry, ``LoopPolicy``, ``TuningBudget``), so the YAML
schema (``dg utils inspect-component mlops_assets.ModelLifecycle``) cannot drift from the code.

A component builds only what the model owns; the dataset's raw snapshots and features are built
once by ``definitions.py`` for all the models on it (Dagster allows one owner per asset key).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel, Field, PrivateAttr, create_model

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sections import ModelSection
from mlops_assets.defs.attribute_values import rendered_fields
from mlops_assets.defs.config import derived_config
from mlops_assets.gate.registry import threshold_fields
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.train.tuning import TuningBudget

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,59}$"


@functools.cache
def gate_thresholds_model() -> type[dg.Model]:
    """The ``gates:`` block: one field per threshold the promotion gates declare."""
    fields = {t.name: (t.type, Field(default=t.default, description=t.description)) for t in threshold_fields().values()}
    return create_model("GateThresholds", __base__=dg.Model, __doc__="Thresholds of the promotion gates.", **fields)


class MonitoringSettings(derived_config(LoopPolicy, dg.Model)):
    """The monitoring loop: drift levels, label delay, degradation and retraining rules."""


class TuningSettings(derived_config(TuningBudget, dg.Model)):
    """The seeded hyperparameter search of each candidate."""


class ScheduleSettings(dg.Model):
    """The model's schedules (the sensors react to data; these run on the wall clock)."""

    retrain_cron: str = Field(default="0 2 * * 1", description="when to retrain whatever the drift (weekly)")
    score_cron: str = Field(default="0 6 * * *", description="when to score the previous day, a fallback to the automation")
    running: bool = Field(default=False, description="start the schedules switched on (for live data on the wall clock)")


class ScaffoldParams(BaseModel):
    dataset: str = Field(default="nycflights", description="the dataset spec: a built-in name or a YAML path")
    target: str | None = Field(default=None, description="the target it learns (default: the dataset's first)")
    task: Literal["binary", "multiclass", "regression"] | None = Field(default=None, description="the task")


class ModelLifecycleScaffolder(dg.Scaffolder[ScaffoldParams]):
    """``dg scaffold defs mlops_assets.ModelLifecycle <name> [--dataset ...] [--target ...]``: a
    working model a user edits, every policy block written out with its defaults."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        params = request.params
        attributes: dict[str, Any] = {"name": request.target_path.name, "dataset": params.dataset}
        if params.target:
            attributes["target"] = params.target
        if params.task:
            attributes["task"] = params.task
        attributes |= {
            "description": f"What {request.target_path.name} predicts, for whom, and what it must not be used for.",
            "gates": gate_thresholds_model()().model_dump(),
            "monitoring": MonitoringSettings().model_dump(),
            "tuning": TuningSettings().model_dump(),
            "schedules": ScheduleSettings().model_dump(),
        }
        dg.scaffold_component(request, attributes)


@dg.scaffold_with(ModelLifecycleScaffolder)
class ModelLifecycle(dg.Component, dg.Resolvable, dg.Model):
    """One model's governed lifecycle on a dataset: training snapshot, candidate, evaluation,
    promotion gates, card and champion, then scoring, drift and live performance, with its own
    jobs, sensors and schedules, all under the model's own key prefix."""

    name: str = Field(
        pattern=MODEL_NAME_PATTERN,
        description="the model's name: its asset key prefix and group, its registered MLflow model, the key of "
        "its ledger rows, drift and performance history, and the prefix of its jobs, sensors and schedules",
    )
    dataset: str | dict[str, Any] = Field(
        description="the dataset spec: a built-in name (nycflights), a YAML path relative to this defs.yaml, or "
        "the spec inline; models naming the same dataset share its snapshots and features",
    )
    target: str | None = Field(default=None, description="which of the dataset's targets it learns (default: the first)")
    task: Literal["binary", "multiclass", "regression"] | None = Field(
        default=None, description="binary, multiclass or regression (default: what the target's type implies)",
    )
    description: str = Field(default="", description="what the model is for, shown on its card")
    gates: gate_thresholds_model() = Field(  # type: ignore[valid-type]
        default_factory=lambda: gate_thresholds_model()(), description="thresholds of the promotion gates",
    )
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings, description="the monitoring loop")
    tuning: TuningSettings = Field(default_factory=TuningSettings, description="the hyperparameter search")
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings, description="wall-clock schedules")

    _folder: Path | None = PrivateAttr(default=None)
    _spec: DatasetSpec | None = PrivateAttr(default=None)

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> "ModelLifecycle":
        # what Dagster's template rendering gives, without its template engine when no value needs it
        values = rendered_fields(attributes)
        component = cls(**values) if values is not None else super().load(attributes, context)
        component._folder = context.path  # a dataset path is relative to the defs.yaml
        return component

    def model_spec(self) -> DatasetSpec:
        """The dataset as this model sees it (its target and task); read once per component."""
        if self._spec is None:
            self._spec = self._read_spec()
        return self._spec

    def _read_spec(self) -> DatasetSpec:
        from mlops_assets.core.spec import load_spec, spec_from_dict

        if isinstance(self.dataset, dict):
            spec = spec_from_dict(self.dataset, base_dir=self._folder, origin=f"model {self.name}: dataset",
                                  check_sql=False)
        else:
            beside = self._folder / self.dataset if self._folder else None
            spec = load_spec(beside if beside is not None and beside.exists() else self.dataset, check_sql=False)
        target = self.target or spec.targets[0].name
        known = {t.name: t for t in spec.targets}
        task = self.task or (known[target].default_task if target in known else "binary")
        # for_model refuses a target the dataset lacks, or one the task cannot learn, by name
        return spec.for_model(ModelSection(name=self.name, target=target, task=task, description=self.description))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from mlops_assets.definitions import build_model_definitions
        from mlops_assets.defs.monitoring import MonitoringPolicy
        from mlops_assets.defs.resources import gate_policy_class

        return build_model_definitions(
            self.model_spec(),
            monitoring_policy=MonitoringPolicy(**self.monitoring.model_dump()),
            gate_policy=gate_policy_class()(**self.gates.model_dump()),
            tuning=TuningSettings.plain(self.tuning),
            schedules=self.schedules,
        )
