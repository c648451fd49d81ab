"""The registered model as an MLflow pyfunc: raw feature columns in, the task's prediction out.

The pyfunc carries the platform's model folder (trees, feature encoding, smoke sample, manifest) as
one artifact and the manifest digest recorded at training in its model config, so any MLflow
consumer (``mlflow models serve``, ``spark_udf``, ``mlflow.pyfunc.load_model``) gets the encoding
with the trees and a changed file is refused before the model predicts. The platform's own scoring,
evaluation, drift and rollback load the same class on the same files (``PlatformModel.from_folder``),
so there is one prediction path.

The class travels as code, never as a pickle: MLflow logs ``pyfunc_entry.py`` (models from code),
which imports this module, so the loading process needs mlops_assets installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc

from mlops_assets.core.registry import MANIFEST_TAG

# the pyfunc's one artifact: the platform's model folder, exactly as training wrote it
ARTIFACT = "platform_model"
# the pyfunc's model config holds the manifest digest under the name of the registry tag that records it
MANIFEST_CONFIG_KEY = MANIFEST_TAG
ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")
# The output columns of each task are declared with the task (``evaluate.tasks.Task.output_columns``):
# binary ``probability``; regression ``prediction``; multiclass a ``probability_<class>`` per class
# and the ``predicted_class``.
# Every distribution the prediction path imports (loading this module in MLflow, reading the model
# folder, encoding, predicting), pinned at the installed version when a model is logged. Measured by
# test_pyfunc.test_the_requirements_pin_every_package_prediction_imports; mlops_assets itself is
# not listed: it is not on PyPI, so the loading process brings it (README "Serving the champion").
PREDICTION_PACKAGES = (
    "mlflow", "xgboost", "numpy", "pandas", "scipy", "scikit-learn", "joblib", "threadpoolctl", "narwhals", "rich",
    "pydantic", "PyYAML",
)


def pinned_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in PREDICTION_PACKAGES]


class PlatformModel(mlflow.pyfunc.PythonModel):
    """An xgboost booster with its feature encoding; ``predict`` takes the raw feature columns
    (strings for categoricals, numbers, nulls) and returns a frame of the task's output columns
    (the task and, for multiclass, the classes are read from the encoding, a manifest-checked file)."""

    def __init__(self) -> None:
        self.booster: Any = None
        self.encoding: Any = None

    @classmethod
    def from_folder(cls, folder: Path, expected_manifest: str, expected_sha256: str | None = None) -> "PlatformModel":
        """The model in a platform model folder, after checking every file against the manifest
        digest recorded at training (``ModelFilesRefused`` names a changed or missing file)."""
        from mlops_assets.core.files import ModelFilesRefused
        from mlops_assets.train.model import load_model

        if not expected_manifest:
            raise ModelFilesRefused(f"no manifest digest is recorded for the model in {folder}: refusing to load it")
        model = cls()
        model.booster, model.encoding = load_model(Path(folder), expected_sha256, expected_manifest)
        return model

    def load_context(self, context: Any) -> None:
        loaded = self.from_folder(
            Path(context.artifacts[ARTIFACT]), (context.model_config or {}).get(MANIFEST_CONFIG_KEY, "")
        )
        self.booster, self.encoding = loaded.booster, loaded.encoding

    # no type hints on predict: MLflow would read them as a schema; the signature logged says it
    def predict(self, context, model_input, params=None):
        import pandas as pd

        from mlops_assets.train.model import predict

        if self.booster is None:
            raise RuntimeError("the model is not loaded: use PlatformModel.from_folder or mlflow.pyfunc.load_model")
        if not isinstance(model_input, pd.DataFrame):
            raise TypeError(f"the model takes a pandas DataFrame of feature columns, got {type(model_input).__name__}")
        predictions = predict(self.booster, self.encoding, model_input)
        return self.kind.output_frame(predictions, self.encoding.classes, model_input.index)

    @property
    def kind(self):
        from mlops_assets.evaluate.tasks import task_of

        return task_of(self.encoding.task)

    def predictions(self, frame: Any):
        """What the task's metrics take, read back from ``predict``'s answer: P(positive) per row
        (binary), the number (regression), a (rows, classes) probability matrix (multiclass)."""
        return self.kind.predictions_of(self.predict(None, frame), self.encoding.classes)


def signature(sample_input: Any, task: str = "binary", classes: Any = ()):
    """The pyfunc's signature: every feature column by the type of its raw values, each optional
    (scoring sees missing values in any column), and the task's output columns: numbers, and the
    predicted class (multiclass) as a string."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from mlops_assets.evaluate.tasks import task_of

    inferred = infer_signature(sample_input).inputs
    inputs = Schema([ColSpec(column.type, column.name, required=False) for column in inferred.inputs])
    outputs = Schema([ColSpec("string" if name == "predicted_class" else "double", name)
                      for name in task_of(task).output_columns(classes)])
    return ModelSignature(inputs=inputs, outputs=outputs)
