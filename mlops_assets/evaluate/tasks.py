"""What a model of each task is, declared once: the metric registry and the task registry.

A metric is declared once (name, direction, meaning) with its weighted kernel for each task it
applies to; log loss is one metric whose two-class case is the binary kernel. A task is declared
once: the xgboost objective, how the target column becomes the label array, the metrics, the one
primary metric (tuning, live performance, the degradation rule), those compared with the champion
on paired resamples, the trivial baseline, the label statistic the snapshot records and the
prediction columns the registered model returns. Every stage asks ``task_of(spec.model.task)``
instead of branching on the task's name.

Primary metrics: binary AUC (as before: ranking is what the late-arrival alerts need); multiclass
log loss, a proper score over every class's probability that is defined on any day, whatever
classes it holds (macro-F1 reads only the argmax and is undefined or jumpy when a day lacks a
class); regression RMSE, in the target's own units, what the squared-error objective minimises.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mlops_assets.evaluate.weighted import WeightedMetric

# numpy loads only when a metric is computed: the gate registry, and so the Dagster definitions,
# read these declarations without it. Kernels are named ``<module in evaluate>:<function>``.
BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


def _kernel(reference: str) -> Any:
    module, function = reference.split(":")
    return getattr(importlib.import_module(f"mlops_assets.evaluate.{module}"), function)


@dataclass(frozen=True)
class Metric:
    """One metric: ``kernels`` maps each task it applies to onto its weighted kernel. ``per_class``
    metrics are reported once per class, as ``<name>:<class>``."""

    name: str
    higher_is_better: bool
    description: str
    kernels: dict[str, str]  # task -> "<module>:<kernel>" (a per-class metric's: a kernel per class code)
    per_class: bool = False
    label: str = ""  # how sentences name it, when not its name with spaces

    @property
    def spoken(self) -> str:
        return self.label or self.name.replace("_", " ")


METRIC_REGISTRY: dict[str, Metric] = {}


def _declare(metric: Metric) -> None:
    if metric.name in METRIC_REGISTRY:
        raise ValueError(f"metric {metric.name!r} is already declared")
    METRIC_REGISTRY[metric.name] = metric


for _metric in (
    Metric("auc", True, "area under the ROC curve", {BINARY: "weighted:weighted_auc"}, label="AUC"),
    Metric("log_loss", False, "mean cross-entropy of the observed outcome's probability",
           {BINARY: "weighted:weighted_log_loss", MULTICLASS: "weighted_tasks:weighted_multiclass_log_loss"}),
    Metric("brier", False, "mean squared error of the probability", {BINARY: "weighted:weighted_brier"}),
    Metric("precision", True, "precision at the decision threshold", {BINARY: "weighted:weighted_precision"}),
    Metric("recall", True, "recall at the decision threshold", {BINARY: "weighted:weighted_recall"}),
    Metric("ece", False, "expected calibration error over 10 probability bins", {BINARY: "weighted:weighted_ece"}, label="ECE"),
    Metric("macro_f1", True, "mean F1 over the classes", {MULTICLASS: "weighted_tasks:weighted_macro_f1"}, label="macro-F1"),
    Metric("accuracy", True, "share of rows whose most probable class is right", {MULTICLASS: "weighted_tasks:weighted_accuracy"}),
    Metric("class_recall", True, "recall of each class", {MULTICLASS: "weighted_tasks:weighted_class_recall"}, per_class=True),
    Metric("rmse", False, "root mean squared error, in the target's units", {REGRESSION: "weighted_tasks:weighted_rmse"}, label="RMSE"),
    Metric("mae", False, "mean absolute error, in the target's units", {REGRESSION: "weighted_tasks:weighted_mae"}, label="MAE"),
    Metric("r2", True, "share of the target's variance explained (R²)", {REGRESSION: "weighted_tasks:weighted_r2"}, label="R²"),
):
    _declare(_metric)


def per_class_name(metric: str, class_name: str) -> str:
    return f"{metric}:{class_name}"


# --------------------------------------------------------------------------- #
# Label statistics and baselines
# --------------------------------------------------------------------------- #


def _mean_per_split(con: Any, relation: str, label: str, split_column: str) -> dict[str, float]:
    rows = con.execute(f"SELECT {split_column}, avg({label}) FROM {relation} GROUP BY 1").fetchall()
    return {split: float(value) for split, value in rows}


def _frequencies_per_split(con: Any, relation: str, label: str, split_column: str) -> dict[str, dict[str, float]]:
    rows = con.execute(
        f"SELECT {split_column}, {label}, count(*) / sum(count(*)) OVER (PARTITION BY {split_column}) "
        f"FROM {relation} GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    found: dict[str, dict[str, float]] = {}
    for split, value, share in rows:
        found.setdefault(split, {})[str(value)] = float(share)
    return found


def _constant(statistic: float, rows: int, classes: Sequence[str]) -> np.ndarray:
    import numpy as np

    if not math.isfinite(statistic):
        raise ValueError(f"the baseline needs a finite training statistic, got {statistic}")
    return np.full(rows, float(statistic))


def _class_prior(statistic: float, rows: int, classes: Sequence[str]) -> np.ndarray:
    if not (math.isfinite(statistic) and 0.0 <= statistic <= 1.0):
        raise ValueError(f"train_label_rate must be in [0, 1], got {statistic}")
    return _constant(statistic, rows, classes)


def _class_frequencies(statistic: dict[str, float], rows: int, classes: Sequence[str]) -> np.ndarray:
    import numpy as np

    shares = np.array([float(statistic.get(name, 0.0)) for name in classes])
    if shares.sum() <= 0:
        raise ValueError(f"the training class frequencies {statistic} hold none of the classes {list(classes)}")
    return np.tile(shares / shares.sum(), (rows, 1))


# --------------------------------------------------------------------------- #
# Labels and predictions
# --------------------------------------------------------------------------- #


def _validated_binary(y_true: Any, y_prob: Any, name: str = "y_prob") -> tuple[np.ndarray, np.ndarray]:
    from mlops_assets.evaluate.weighted import validated_labels, validated_probabilities

    labels = validated_labels(y_true)
    return labels, validated_probabilities(y_prob, labels.size, name)


def _validated_multiclass(y_true: Any, y_prob: Any, name: str = "y_prob") -> tuple[np.ndarray, np.ndarray]:
    return _kernel("weighted_tasks:validated_class_pair")(y_true, y_prob, name)


def _validated_numbers(y_true: Any, y_pred: Any, name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    return _kernel("weighted_tasks:validated_number_pair")(y_true, y_pred, name)


def _numbers(values: Any, classes: Sequence[str]) -> np.ndarray:
    import numpy as np

    return np.asarray(values, dtype=np.float64)


def _class_codes(values: Any, classes: Sequence[str]) -> np.ndarray:
    import numpy as np

    code = {name: index for index, name in enumerate(classes)}
    texts = [str(value) for value in values]
    unknown = sorted({text for text in texts if text not in code})
    if unknown:
        raise ValueError(f"class(es) {unknown[:5]} are not among the model's classes {list(classes)}")
    return np.array([code[text] for text in texts], dtype=np.float64)


def _one_column(predictions: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.asarray(predictions, dtype=np.float64)


def _most_probable_class_probability(predictions: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.asarray(predictions, dtype=np.float64).max(axis=1)


@dataclass(frozen=True)
class Task:
    """One task, declared once. ``label_statistic`` names what the snapshot records per split
    (the binary positive rate, the regression mean, the multiclass class frequencies), which is
    also what the trivial ``baseline`` predicts. ``score`` is the one number per row that scoring
    stores and prediction drift follows: the probability (binary), the predicted number
    (regression), the predicted class's probability (multiclass: a fall in confidence is how a
    shifted class mix and unfamiliar inputs show)."""

    name: str
    target_type: str
    describes: str
    objective: str
    eval_metric: str
    primary_metric: str
    paired_metrics: tuple[str, ...]
    label_statistic: str
    baseline_name: str
    baseline: Callable[[Any, int, Sequence[str]], np.ndarray]
    label_statistics: Callable[[Any, str, str, str], dict[str, Any]]
    labels: Callable[[Any, Sequence[str]], np.ndarray]
    validate: Callable[..., tuple[np.ndarray, np.ndarray]]  # (y_true, predictions, name) -> arrays
    score: Callable[[np.ndarray], np.ndarray]
    single_value_problem: str
    has_classes: bool = False
    thresholded: bool = False
    # what scoring stores beside the one ``score`` per row, as (column, SQL type), and the stored
    # column live performance reads back as the metrics' input
    stored_columns: tuple[tuple[str, str], ...] = ()
    stored_metric_input: str = "score"
    # live degradation is judged against a share of the reference (LoopPolicy.relative_noise_band), not
    # an absolute band: for a metric in the target's units (RMSE) or a loss whose scale depends on the classes
    relative_noise: bool = True
    probability_plots: bool = False
    prediction_column: str = "prediction"  # the one output column of a task without classes
    extra_params: Callable[[Sequence[str]], dict[str, Any]] = field(default=lambda classes: {})

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(name for name, metric in METRIC_REGISTRY.items() if self.name in metric.kernels)

    def metrics(self, classes: Sequence[str] = ()) -> dict[str, WeightedMetric]:
        """Every metric of the task by reported name (per-class metrics expanded), in registry order."""
        found: dict[str, WeightedMetric] = {}
        for name in self.metric_names:
            metric = METRIC_REGISTRY[name]
            kernel = _kernel(metric.kernels[self.name])
            if metric.per_class:
                found |= {per_class_name(name, c): kernel(i) for i, c in enumerate(classes)}
            else:
                found[name] = kernel
        return found

    def higher_is_better(self, metric: str) -> bool:
        return METRIC_REGISTRY[metric.split(":")[0]].higher_is_better

    def params(self, classes: Sequence[str]) -> dict[str, Any]:
        """The xgboost objective settings of a model of this task."""
        return {"objective": self.objective, "eval_metric": self.eval_metric, **self.extra_params(classes)}

    def output_columns(self, classes: Sequence[str]) -> tuple[str, ...]:
        """The registered model's prediction columns, in order."""
        if self.has_classes:
            return (*(f"probability_{name}" for name in classes), "predicted_class")
        return (self.prediction_column,)

    def output_frame(self, predictions: np.ndarray, classes: Sequence[str], index: Any):
        """The registered model's answer: one column per ``output_columns``."""
        import numpy as np
        import pandas as pd

        columns = self.output_columns(classes)
        if not self.has_classes:
            return pd.DataFrame({columns[0]: predictions}, index=index)
        frame = pd.DataFrame(predictions, columns=list(columns[:-1]), index=index)
        frame[columns[-1]] = np.asarray(classes, dtype=object)[predictions.argmax(axis=1)] if len(frame) else []
        return frame

    def stored_predictions(self, predictions: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
        """The values of ``score`` and every ``stored_columns`` entry, one per row."""
        import numpy as np

        found: dict[str, Any] = {"score": self.score(predictions)}
        if self.has_classes:
            found["predicted_class"] = [classes[code] for code in np.asarray(predictions).argmax(axis=1)]
            found["class_probabilities"] = [list(row) for row in np.asarray(predictions, dtype=np.float64)]
        return found

    def predictions_of(self, frame: Any, classes: Sequence[str]) -> np.ndarray:
        """What the metrics take, read back from an ``output_frame``."""
        columns = self.output_columns(classes)
        if self.has_classes:
            return frame[list(columns[:-1])].to_numpy(dtype="float64")
        return frame[columns[0]].to_numpy(dtype="float64")


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name=BINARY, target_type="boolean", describes="binary classifier",
            objective="binary:logistic", eval_metric="auc", primary_metric="auc",
            paired_metrics=("auc", "log_loss", "brier"), label_statistic="label_rate", baseline_name="class prior",
            baseline=_class_prior, label_statistics=_mean_per_split, labels=_numbers, validate=_validated_binary,
            score=_one_column, thresholded=True, probability_plots=True, prediction_column="probability",
            relative_noise=False,
            single_value_problem="cannot train or evaluate a classifier on it",
        ),
        Task(
            name=MULTICLASS, target_type="class", describes="multiclass classifier",
            objective="multi:softprob", eval_metric="mlogloss", primary_metric="log_loss",
            paired_metrics=("log_loss", "macro_f1", "accuracy"), label_statistic="class_frequencies",
            baseline_name="class frequencies", baseline=_class_frequencies, label_statistics=_frequencies_per_split,
            labels=_class_codes, validate=_validated_multiclass, score=_most_probable_class_probability,
            has_classes=True, extra_params=lambda classes: {"num_class": len(classes)},
            stored_columns=(("predicted_class", "VARCHAR"), ("class_probabilities", "DOUBLE[]")),
            stored_metric_input="class_probabilities",
            single_value_problem="a multiclass model needs at least two classes",
        ),
        Task(
            name=REGRESSION, target_type="numeric", describes="regressor",
            objective="reg:squarederror", eval_metric="rmse", primary_metric="rmse",
            paired_metrics=("rmse", "mae", "r2"), label_statistic="label_mean", baseline_name="mean",
            baseline=_constant, label_statistics=_mean_per_split, labels=_numbers,
            validate=_validated_numbers, score=_one_column,
            single_value_problem="there is no variation for a regressor to learn",
        ),
    )
}


def task_of(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; the platform knows {', '.join(TASKS)}") from None
