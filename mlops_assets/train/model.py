"""candidate_model: xgboost (hist) with a seeded hyperparameter search on the validation split.

The model is saved in xgboost's own JSON format (never pickle) next to a small JSON file holding the
feature encoding (column order and the categorical vocabularies seen in training), so scoring
encodes categories exactly as training did, and an unseen category becomes missing, not an error.
A manifest lists the sha256 of every file a model needs to predict; its digest is recorded at
training and checked before every load, so no file of a model can change unnoticed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mlops_assets.core.files import (
    ModelFilesRefused, atomic_path, file_hashes, file_sha256, manifest_digest, write_text_atomically,
)
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sections import FeatureKind
from mlops_assets.evaluate.tasks import BINARY, METRIC_REGISTRY, task_of
from mlops_assets.train.smoke import SMOKE_FILE
from mlops_assets.train.tuning import TuningBudget

MODEL_FILE = "model.json"
# Training data reaches xgboost in batches of this many rows, through a QuantileDMatrix: only
# one batch is ever a pandas frame, so memory does not grow with the training split. The batch
# size shapes the quantile sketch, so it is part of what makes a model reproducible: changing it
# changes the trees a given snapshot and seed produce.
TRAINING_BATCH_ROWS = 1 << 18
ENCODING_FILE = "feature_encoding.json"
MANIFEST_FILE = "manifest.json"
# Every file loading a model reads: a change to any of them changes what the model predicts.
MODEL_FILES = (MODEL_FILE, ENCODING_FILE, SMOKE_FILE)


@dataclass(frozen=True)
class FeatureEncoding:
    """How the model reads a frame: the feature columns and vocabularies, the target, the task and
    (multiclass) the classes in the order of the model's probability columns. It is a model file,
    so the manifest covers the class list: prediction maps codes back to exactly these classes."""

    numeric: list[str]
    categorical: dict[str, list[str]]
    target: str
    task: str = BINARY
    classes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def from_training(cls, frame: Any, spec: DatasetSpec) -> "FeatureEncoding":
        return cls.from_batches([frame], spec)

    @classmethod
    def from_batches(cls, batches: Any, spec: DatasetSpec) -> "FeatureEncoding":
        """The encoding of a training split given as an iterable of frames (one pass over it)."""
        task = task_of(spec.model.task)
        numeric = [n for n, f in spec.features.items() if f.kind is FeatureKind.NUMERIC]
        seen: dict[str, set[str]] = {n: set() for n, f in spec.features.items() if f.kind is FeatureKind.CATEGORICAL}
        classes: set[str] = set()
        for frame in batches:
            for name, values in seen.items():
                values.update(str(v) for v in frame[name].dropna().unique())
            if task.has_classes:
                classes.update(str(v) for v in frame[spec.target.name].dropna().unique())
        return cls(numeric, {name: sorted(values) for name, values in seen.items()}, spec.target.name,
                   task.name, sorted(classes))

    def labels(self, frame: Any) -> np.ndarray:
        """The target column as the numbers xgboost learns: 0/1, the number, or the class code."""
        return task_of(self.task).labels(frame[self.target], self.classes)

    def matrix(self, frame: Any):
        """The model's input frame: floats for numbers, fixed-vocabulary categoricals."""
        import pandas as pd

        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"input is missing feature column(s) {missing}")
        data = {c: pd.to_numeric(frame[c], errors="raise").astype("float32") for c in self.numeric}
        for column, vocabulary in self.categorical.items():
            data[column] = _categories(frame[column], vocabulary)
        return pd.DataFrame(data, index=frame.index)[self.columns]

    def to_json(self) -> str:
        # key order is column order: do not sort. A binary encoding is written without task and
        # classes, byte for byte as before tasks existed, so a rebuilt binary model stays identical.
        document = asdict(self)
        if self.task == BINARY:
            del document["task"], document["classes"]
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> "FeatureEncoding":
        return cls(**json.loads(text))


def _categories(values: Any, vocabulary: list[str]) -> Any:
    """Each value as its ``str()`` in the training vocabulary; missing and unseen values are missing.

    Text (what the feature table always stores) is looked up in one vectorized pass; anything else
    (numbers a caller passes to the pyfunc) goes through ``str()`` value by value, so ``1`` and
    ``1.0`` stay the different categories they were in training.
    """
    import pandas as pd

    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pd.Categorical(values, categories=vocabulary)
    present = values.astype("object").where(values.notna(), None)
    return pd.Categorical([None if v is None else str(v) for v in present], categories=vocabulary)


@dataclass
class TrainedModel:
    booster: Any
    encoding: FeatureEncoding
    params: dict[str, Any]
    best_rounds: int
    validation_score: float  # the task's primary metric on the validation split
    threshold: float | None  # the binary decision threshold; None for tasks that decide no threshold
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def validation_metric(self) -> str:
        return f"validation_{task_of(self.encoding.task).primary_metric}"

    def predict(self, frame: Any) -> np.ndarray:
        return predict(self.booster, self.encoding, frame)

    def save(self, folder: Path) -> tuple[Path, str]:
        """Write model + encoding atomically; returns the model path and its sha256."""
        model_path = folder / MODEL_FILE
        with atomic_path(model_path) as temp:
            self.booster.save_model(str(temp))
        write_text_atomically(folder / ENCODING_FILE, self.encoding.to_json())
        return model_path, file_sha256(model_path)


def write_manifest(folder: Path) -> str:
    """Record the sha256 of every model file in ``manifest.json``; returns the manifest digest."""
    hashes = file_hashes(folder, MODEL_FILES)
    write_text_atomically(folder / MANIFEST_FILE, json.dumps(hashes, indent=2, sort_keys=True))
    return manifest_digest(hashes)


def verify_manifest(folder: Path, expected_digest: str) -> None:
    """Refuse a model folder whose files are not exactly those recorded at training."""
    path = folder / MANIFEST_FILE
    try:
        recorded = json.loads(path.read_text())
        digest = manifest_digest(recorded)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise ModelFilesRefused(f"model manifest {path} cannot be read ({error}): refusing to load the model") from error
    if digest != expected_digest:
        raise ModelFilesRefused(
            f"model manifest {path} has digest {digest[:12]}, expected {expected_digest[:12]}: "
            "refusing to load the model"
        )
    unlisted = [name for name in MODEL_FILES if name not in recorded]
    if unlisted:
        raise ModelFilesRefused(f"model manifest {path} does not cover {unlisted}: refusing to load the model")
    for name, expected in sorted(recorded.items()):
        if not (folder / name).is_file():
            raise ModelFilesRefused(f"model file {name} is missing from {folder}: refusing to load the model")
        actual = file_sha256(folder / name)
        if actual != expected:
            raise ModelFilesRefused(
                f"model file {name} in {folder} has sha256 {actual[:12]}, the manifest recorded "
                f"{expected[:12]}: refusing to load the model"
            )


def predict(booster: Any, encoding: FeatureEncoding, frame: Any) -> np.ndarray:
    import xgboost as xgb

    matrix = xgb.DMatrix(encoding.matrix(frame), enable_categorical=True)
    return booster.predict(matrix).astype("float64")


def load_model(
    folder: Path, expected_sha256: str | None = None, expected_manifest: str | None = None
) -> tuple[Any, FeatureEncoding]:
    """Load a saved model, refusing a model file whose sha256 is not the one recorded at training
    and, given the manifest digest recorded at training, any other file that differs from it."""
    import xgboost as xgb

    model_path = folder / MODEL_FILE
    actual = file_sha256(model_path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ModelFilesRefused(
            f"model artifact {model_path} has sha256 {actual[:12]}, expected {expected_sha256[:12]}: refusing to load it"
        )
    if expected_manifest is not None:
        verify_manifest(folder, expected_manifest)
    booster = xgb.Booster()
    booster.load_model(str(model_path))
    encoding = FeatureEncoding.from_json((folder / ENCODING_FILE).read_text())
    return booster, encoding


def sample_params(rng: np.random.Generator, budget: TuningBudget, task_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One trial's parameters; ``task_params`` the task's objective settings (binary when absent)."""
    return {
        **(task_params or task_of(BINARY).params(())),
        "tree_method": "hist",
        "max_depth": int(rng.integers(3, 9)),
        "learning_rate": float(np.round(10 ** rng.uniform(-1.7, -0.7), 4)),
        "min_child_weight": float(np.round(10 ** rng.uniform(0, 1.5), 3)),
        "subsample": float(np.round(rng.uniform(0.6, 1.0), 3)),
        "colsample_bytree": float(np.round(rng.uniform(0.5, 1.0), 3)),
        "reg_lambda": float(np.round(10 ** rng.uniform(-1, 1), 3)),
        "max_cat_to_onehot": 8,
        "seed": budget.seed,
        "nthread": budget.nthread,
    }


class FrameBatches:
    """An in-memory frame as the fixed-size batches training consumes: the same batches a split
    streamed from the warehouse yields (``train.snapshot.streamed_split``), so both give the
    same model."""

    def __init__(self, frame: Any, rows: int = TRAINING_BATCH_ROWS) -> None:
        self.frame = frame
        self.rows = rows

    def __iter__(self):
        for start in range(0, len(self.frame), self.rows):
            yield self.frame.iloc[start:start + self.rows]


def quantile_matrix(batches: Any, encoding: FeatureEncoding, nthread: int):
    """xgboost's QuantileDMatrix fed batch by batch: it keeps only the binned matrix (a byte per
    value), never the whole split as floats, let alone as a pandas frame."""
    import xgboost as xgb

    class _Batches(xgb.DataIter):
        def __init__(self) -> None:
            super().__init__(release_data=True)
            self._iterator = None

        def next(self, input_data: Callable) -> bool:
            if self._iterator is None:
                self._iterator = iter(batches)
            frame = next(self._iterator, None)
            if frame is None:
                return False
            input_data(data=encoding.matrix(frame), label=encoding.labels(frame).astype("float32"))
            return True

        def reset(self) -> None:
            self._iterator = None

    return xgb.QuantileDMatrix(_Batches(), enable_categorical=True, nthread=nthread)


def train_candidate(
    train: Any,
    validation: Any,
    spec: DatasetSpec,
    budget: TuningBudget,
    log: Callable[[str], None] = print,
    params: dict[str, Any] | None = None,
) -> TrainedModel:
    """Random search over ``budget.trials`` parameter sets, each early-stopped on the task's eval
    metric and ranked by its primary metric on validation (binary: AUC).

    ``train`` is a pandas frame or a re-iterable of frames (a split streamed from the warehouse);
    ``validation`` is a pandas frame.

    With ``params`` (a trained model's ``params``), no search: one trial with those
    hyperparameters and their seed, early-stopped the same way. This refits a chosen model's
    procedure on another window; the task's objective settings are this split's (its classes).
    """
    import xgboost as xgb

    from mlops_assets.evaluate.metrics import choose_threshold
    from mlops_assets.evaluate.weighted import full_data_value

    if params is None and budget.trials < 1:
        raise ValueError("the tuning budget needs at least one trial")
    task = task_of(spec.model.task)
    batches = FrameBatches(train) if hasattr(train, "iloc") else train
    encoding = FeatureEncoding.from_batches(batches, spec)
    y_val = encoding.labels(validation).astype("float32")
    dtrain = quantile_matrix(batches, encoding, budget.nthread)
    dval = xgb.DMatrix(encoding.matrix(validation), label=y_val, enable_categorical=True, nthread=budget.nthread)
    primary = task.primary_metric
    kernel, sign = task.metrics(encoding.classes)[primary], (1.0 if task.higher_is_better(primary) else -1.0)
    label = METRIC_REGISTRY[primary].spoken
    rng = np.random.default_rng(budget.seed)
    count = 1 if params is not None else budget.trials
    best: TrainedModel | None = None
    trials = []
    for trial in range(1, count + 1):
        if params is None:
            trial_params = sample_params(rng, budget, task.params(encoding.classes))
        else:
            trial_params = {**params, **task.params(encoding.classes), "nthread": budget.nthread}
        booster = xgb.train(
            trial_params, dtrain, num_boost_round=budget.max_rounds, evals=[(dval, "validation")],
            early_stopping_rounds=budget.early_stopping_rounds, verbose_eval=False,
        )
        rounds = booster.best_iteration + 1
        booster = booster[:rounds]
        labels, predictions = task.validate(y_val, booster.predict(dval).astype("float64"))
        score = full_data_value(kernel, labels, predictions, 0.5)
        trials.append({"trial": trial, f"validation_{primary}": score, "rounds": rounds, **tuned_params(trial_params)})
        if best is None or sign * score > sign * best.validation_score:
            best = TrainedModel(booster, encoding, trial_params, rounds, score, None)
        log(f"trial {trial}/{count}: validation {label} {score:.4f} ({rounds} trees); "
            f"best so far {best.validation_score:.4f}")
    if task.thresholded:
        best.threshold = choose_threshold(y_val, best.booster.predict(dval))
    best.trials = trials
    return best


# Settings every model shares (the task, the tree method) or that say how it ran, not what it is:
# recording them as hyperparameters would only hide the ones the search chose.
UNTUNED_PARAMS = ("objective", "eval_metric", "num_class", "tree_method", "seed", "nthread")


def tuned_params(params: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters that describe a model: what the trials table, MLflow and the card show."""
    return {k: v for k, v in params.items() if k not in UNTUNED_PARAMS}
