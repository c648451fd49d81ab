"""MLflow, through one small class: experiment runs, the model registry and its aliases.

We use MLflow's client directly instead of dagster-mlflow (beta, function-style, leaves runs open
without its hook): every run here is opened and closed inside one call, and the class is testable
on a temporary sqlite store. Aliases (``champion``), never the deprecated stages.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.files import ModelFilesRefused

CHAMPION_ALIAS = "champion"
INPUT_EXAMPLE_ROWS = 5
MODEL_SHA_TAG = "model_sha256"
# the digest over every file the model needs to predict (train.model.write_manifest)
MANIFEST_TAG = "model_manifest_sha256"


def model_name(spec: DatasetSpec) -> str:
    """The model's registered name (and MLflow experiment): the model's own name. A bare dataset
    spec's one model is ``<dataset>_<first target>``, the name registries held before models were
    named, so their champions stay where they were."""
    return spec.model.name


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]


@dataclass
class LoadedModel:
    """A verified model as the platform uses it: the registered pyfunc (``train.pyfunc.PlatformModel``)
    with what the registry records about it."""

    pyfunc: Any
    threshold: float | None  # the binary decision threshold; None for a task that decides none
    version: str | None
    run_id: str
    sha256: str
    smoke_sample: Any = None

    @property
    def booster(self) -> Any:
        return self.pyfunc.booster

    @property
    def encoding(self) -> Any:
        return self.pyfunc.encoding

    def predict(self, frame: Any):
        """What the task's metrics take (binary: P(positive) per row), through the pyfunc's own
        ``predict``: what ``mlflow models serve`` answers."""
        return self.pyfunc.predictions(frame)

    @property
    def task(self) -> Any:
        """The model's task (``evaluate.tasks.Task``), as its manifest-checked encoding records it."""
        return self.pyfunc.kind

    def scores(self, frame: Any):
        """The one number per row that scoring stores and prediction drift follows (``Task.score``)."""
        return self.task.score(self.predict(frame))


class ModelRegistry:
    """A dataset's experiment and registered model in one MLflow store."""

    def __init__(self, tracking_uri: str, artifact_root: Path, model_name: str):
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.model_name = model_name
        self.experiment_name = model_name

    @property
    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return client.create_experiment(self.experiment_name, artifact_location=self.artifact_root.as_uri())

    def log_candidate(
        self,
        *,
        model_dir: Path,
        manifest_sha256: str,
        sample_input: Any,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
    ) -> tuple[str, str]:
        """Log a saved model folder as an MLflow run and a self-contained pyfunc (the encoding inside,
        the manifest digest in its config, every package prediction imports pinned); returns
        (run id, model uri). The run keeps the same folder as ``platform_model``, the files the
        platform verifies and loads."""
        import mlflow

        from mlops_assets.train.model import ENCODING_FILE, FeatureEncoding
        from mlops_assets.train.pyfunc import (
            ARTIFACT, ENTRY_FILE, MANIFEST_CONFIG_KEY, pinned_requirements, signature,
        )

        encoding = FeatureEncoding.from_json((model_dir / ENCODING_FILE).read_text())

        mlflow.set_tracking_uri(self.tracking_uri)
        experiment_id = self.experiment_id()
        with mlflow.start_run(experiment_id=experiment_id, run_name=tags.get("run_name"), tags=tags) as run:
            mlflow.log_params({k: v for k, v in params.items()})
            mlflow.log_metrics(metrics)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(ENTRY_FILE),
                artifacts={ARTIFACT: str(model_dir)},
                model_config={MANIFEST_CONFIG_KEY: manifest_sha256},
                signature=signature(sample_input, encoding.task, encoding.classes),
                # saved as serving_input_example.json: a ready request body for a registry consumer
                input_example=sample_input.head(INPUT_EXAMPLE_ROWS),
                pip_requirements=pinned_requirements(),
            )
            mlflow.log_artifacts(str(model_dir), artifact_path=ARTIFACT)
            return run.info.run_id, info.model_uri

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Log the defined values; a name MLflow refuses (a class name in a per-class metric may hold
        any character) has each refused character replaced by ``_``."""
        import re

        client = self.client
        for key, value in metrics.items():
            if value is not None and value == value:
                client.log_metric(run_id, re.sub(r"[^\w\-. :/]", "_", key), float(value))

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def set_run_tags(self, run_id: str, tags: dict[str, str]) -> None:
        client = self.client
        for key, value in tags.items():
            client.set_tag(run_id, key, value)

    def load_run_model(
        self, run_id: str, expected_sha256: str, expected_manifest: str, threshold: float | None,
        version: str | None = None
    ) -> LoadedModel:
        """Download the run's platform model folder and load it as the registered pyfunc after checking
        every file in it against the manifest digest recorded at training."""
        import mlflow

        from mlops_assets.train.pyfunc import ARTIFACT, PlatformModel
        from mlops_assets.train.smoke import read_smoke_sample

        if not expected_manifest:
            raise ModelFilesRefused(
                f"no manifest digest is recorded for the model of MLflow run {run_id}, so its files cannot be "
                "verified: refusing to load it (rematerialize candidate_model to train one with a manifest)"
            )

        with tempfile.TemporaryDirectory() as scratch:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=ARTIFACT, dst_path=scratch, tracking_uri=self.tracking_uri
                )
            )
            pyfunc = PlatformModel.from_folder(local, expected_manifest, expected_sha256)
            smoke_sample = read_smoke_sample(local)
        return LoadedModel(pyfunc, threshold if pyfunc.kind.thresholded else None, version, run_id, expected_sha256,
                           smoke_sample)

    def register(self, *, run_id: str, model_uri: str, tags: dict[str, str], description: str) -> str:
        client = self.client
        try:
            client.get_registered_model(self.model_name)
        except Exception:  # noqa: BLE001 - MLflow raises its own RestException for "not found"
            client.create_registered_model(self.model_name, description=f"Models of the {self.model_name} lifecycle")
        version = client.create_model_version(
            self.model_name, source=model_uri, run_id=run_id, tags=tags, description=description,
        )
        return str(version.version)

    def version_of_run(self, run_id: str, model_sha256: str) -> str | None:
        """The version already registered from this MLflow run with this model file, if any."""
        client = self.client
        try:
            found = client.search_model_versions(f"name = '{self.model_name}' and run_id = '{run_id}'")
        except Exception:  # noqa: BLE001 - no registered model yet
            return None
        matching = [v for v in found if dict(v.tags).get(MODEL_SHA_TAG) == model_sha256]
        return str(min(int(v.version) for v in matching)) if matching else None

    def describe(self, version: str, description: str) -> None:
        self.client.update_model_version(self.model_name, version, description=description)

    def set_version_tags(self, version: str, tags: dict[str, str]) -> None:
        client = self.client
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, version, key, value)

    def champion(self) -> RegisteredModel | None:
        return self.by_alias(CHAMPION_ALIAS)

    def by_alias(self, alias: str) -> RegisteredModel | None:
        client = self.client
        try:
            version = client.get_model_version_by_alias(self.model_name, alias)
        except Exception:  # noqa: BLE001 - no registered model or no alias yet
            return None
        return RegisteredModel(self.model_name, str(version.version), version.run_id, version.source, dict(version.tags))

    def version(self, version: str) -> RegisteredModel:
        item = self.client.get_model_version(self.model_name, version)
        return RegisteredModel(self.model_name, str(item.version), item.run_id, item.source, dict(item.tags))

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def load_version(self, registered: RegisteredModel) -> LoadedModel:
        tags = registered.tags
        if MODEL_SHA_TAG not in tags:
            raise ModelFilesRefused(f"model version {registered.version} has no {MODEL_SHA_TAG} tag; refusing to load it")
        if MANIFEST_TAG not in tags:
            # a digest computed now would bless whatever bytes are stored now, tampered or not
            raise ModelFilesRefused(
                f"model version {registered.version} of {self.model_name} was registered before model manifests: "
                f"only its model file's sha256 is recorded, so its feature encoding and smoke sample cannot be "
                "verified and it is not loaded. Register a verified model by retraining: "
                "`dagster job execute -m mlops_assets.definitions -j train_job` (if this version is the champion, "
                f"first delete its {CHAMPION_ALIAS!r} alias in the MLflow UI: a champion that cannot be loaded "
                "cannot be compared against)"
            )
        return self.load_run_model(
            registered.run_id, tags[MODEL_SHA_TAG], tags[MANIFEST_TAG], float(tags.get("threshold", 0.5)),
            registered.version,
        )


def verdicts_tag(verdicts: list[dict[str, Any]]) -> str:
    """Gate verdicts as a compact tag value (MLflow tags hold up to 8000 characters)."""
    return json.dumps({v["gate"]: "pass" if v["passed"] else "fail" for v in verdicts})
