"""A small world for model tests: the synthetic sensor dataset (brought as YAML alone), six days
ingested and built, a frozen training snapshot, and an MLflow store; models are trained through the
platform's own training step (``train_and_log``)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.registry import CHAMPION_ALIAS, MANIFEST_TAG, MODEL_SHA_TAG, ModelRegistry, model_name
from mlops_assets.core.spec import load_spec
from mlops_assets.ingest.landing import landing_path
from mlops_assets.train.tuning import TuningBudget
from mlops_assets_tests.conftest import SENSOR_FIELDS, SENSOR_SPEC_YAML, sensor_rows, write_csv

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(6)]
ROWS_PER_DAY = 100


@dataclass
class World:
    spec: Any
    layout: StateLayout
    registry: ModelRegistry
    snapshot_hash: str

    def train(self) -> dict:
        """A candidate trained and logged by the platform's training step; returns its handle."""
        from mlops_assets.pipeline.train_model import train_and_log

        handle, _ = train_and_log(
            self.spec, self.layout, self.registry, self.snapshot_hash,
            TuningBudget(trials=1, max_rounds=20, early_stopping_rounds=5),
            dagster_run_id=f"run-{os.urandom(4).hex()}", trigger_reason="test", code_version="test",
            log=lambda _: None,
        )
        return handle

    def register(self, handle: dict, *, with_manifest: bool = True, champion: bool = True) -> str:
        tags = {MODEL_SHA_TAG: handle["model_sha256"], "threshold": str(handle["threshold"]),
                "snapshot_hash": handle["snapshot_hash"]}
        if with_manifest:
            tags[MANIFEST_TAG] = handle[MANIFEST_TAG]
        version = self.registry.register(run_id=handle["mlflow_run_id"], model_uri=handle["model_uri"], tags=tags,
                                         description="")
        if champion:
            self.registry.set_alias(CHAMPION_ALIAS, version)
        return version

    def stored_model(self, handle: dict) -> Path:
        """The folder MLflow keeps the model in: what every load downloads."""
        run = self.registry.client.get_run(handle["mlflow_run_id"])
        return Path(urlparse(run.info.artifact_uri).path) / "platform_model"


def build_world(base: Path) -> World:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.train.snapshot import build_training_snapshot
    from mlops_assets.train.window import TrainingWindow

    (base / "spec").mkdir(parents=True)
    (base / "spec" / "sensors.yaml").write_text(SENSOR_SPEC_YAML)
    spec = load_spec(base / "spec" / "sensors.yaml")
    layout = StateLayout((base / "state").resolve()).ensure()
    for day in DAYS:
        write_csv(landing_path(layout, spec, day), sensor_rows(day, ROWS_PER_DAY), SENSOR_FIELDS)
        assert all(result.passed for result in ingest_and_featurize(spec, layout, day)), day
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(DAYS[0], DAYS[-1], holdout_days=2))
    registry = ModelRegistry(f"sqlite:///{base / 'mlflow.db'}", base / "artifacts", model_name(spec))
    return World(spec, layout, registry, snapshot.content_hash)
