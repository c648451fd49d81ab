"""The task and metric registries: every task declares what every stage asks of it, and the
multiclass and regression kernels agree with sklearn, weighted and bootstrapped like the binary ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_assets.core.spec_sections import TASK_TARGET_TYPE
from mlops_assets.evaluate.bootstrap import bootstrap_estimates, paired_bootstrap_difference
from mlops_assets.evaluate.tasks import METRIC_REGISTRY, TASKS, per_class_name, task_of
from mlops_assets.evaluate.weighted import full_data_value


def test_every_spec_task_is_declared_once_with_what_every_stage_needs() -> None:
    assert set(TASKS) == set(TASK_TARGET_TYPE)
    for name, task in TASKS.items():
        assert task.target_type == TASK_TARGET_TYPE[name]
        assert task.primary_metric in task.metric_names, name
        assert set(task.paired_metrics) <= set(task.metric_names), name
        assert task.objective and task.eval_metric and task.describes and task.baseline_name, name
        assert task.output_columns(["a", "b"]), name
        assert "binary" not in task.describes or name == "binary"
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        task_of("ranking")


def test_every_metric_has_a_kernel_for_each_task_it_names() -> None:
    for metric in METRIC_REGISTRY.values():
        assert metric.kernels and set(metric.kernels) <= set(TASKS), metric.name
    assert task_of("binary").metric_names == ("auc", "log_loss", "brier", "precision", "recall", "ece")
    assert task_of("multiclass").metric_names == ("log_loss", "macro_f1", "accuracy", "class_recall")
    assert task_of("regression").metric_names == ("rmse", "mae", "r2")


def _multiclass_data(rows: int = 400, seed: int = 3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    logits = rng.normal(size=(rows, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels.astype(float), probs


def test_multiclass_kernels_match_sklearn() -> None:
    from sklearn import metrics as sk

    labels, probs = _multiclass_data()
    kernels = task_of("multiclass").metrics(["a", "b", "c"])
    value = {name: full_data_value(kernel, labels, probs, None) for name, kernel in kernels.items()}
    predicted = probs.argmax(axis=1)
    assert value["log_loss"] == pytest.approx(sk.log_loss(labels, probs))
    assert value["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert value["macro_f1"] == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    recalls = sk.recall_score(labels, predicted, average=None)
    for code, name in enumerate("abc"):
        assert value[per_class_name("class_recall", name)] == pytest.approx(recalls[code])


def test_regression_kernels_match_sklearn() -> None:
    from sklearn import metrics as sk

    rng = np.random.default_rng(5)
    truth = rng.normal(10, 3, 300)
    predicted = truth + rng.normal(0, 1, 300)
    kernels = task_of("regression").metrics()
    value = {name: full_data_value(kernel, truth, predicted, None) for name, kernel in kernels.items()}
    assert value["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(truth, predicted)))
    assert value["mae"] == pytest.approx(sk.mean_absolute_error(truth, predicted))
    assert value["r2"] == pytest.approx(sk.r2_score(truth, predicted))
    assert math.isnan(full_data_value(kernels["r2"], np.full(5, 2.0), np.arange(5.0), None))


def test_weighted_kernels_equal_the_metric_on_repeated_rows() -> None:
    labels, probs = _multiclass_data(50)
    weights = np.random.default_rng(1).integers(0, 4, 50).astype(float)
    repeated = np.repeat(np.arange(50), weights.astype(int))
    for name, kernel in task_of("multiclass").metrics(["a", "b", "c"]).items():
        weighted = kernel(labels, probs, weights[None, :], None)[0]
        assert weighted == pytest.approx(full_data_value(kernel, labels[repeated], probs[repeated], None)), name


def test_bootstrap_and_paired_difference_for_each_task() -> None:
    labels, probs = _multiclass_data()
    estimates = bootstrap_estimates(labels, probs, None, n_boot=50, task="multiclass", classes=["a", "b", "c"])
    assert set(estimates) == {"log_loss", "macro_f1", "accuracy", *(f"class_recall:{c}" for c in "abc")}
    for estimate in estimates.values():
        assert estimate.low <= estimate.value <= estimate.high
    flat = np.full_like(probs, 1 / 3)
    worse = paired_bootstrap_difference(labels, flat, probs, "log_loss", None, n_boot=50, task="multiclass",
                                        classes=["a", "b", "c"])
    assert worse.low > 0  # the uniform guess loses more, on every resample
    truth = np.linspace(0, 10, 200)
    good, mean = truth + 0.1 * np.sin(truth), np.full(200, truth.mean())
    rmse = paired_bootstrap_difference(truth, good, mean, "rmse", None, n_boot=50, task="regression")
    assert rmse.high < 0
    with pytest.raises(ValueError, match="unknown metric 'auc' for a regression model"):
        paired_bootstrap_difference(truth, good, mean, "auc", None, task="regression")


def test_bad_predictions_are_named() -> None:
    labels, probs = _multiclass_data(10)
    with pytest.raises(ValueError, match=r"prob_candidate: multiclass predictions must be a \(rows, classes\)"):
        paired_bootstrap_difference(labels, probs[:, 0], probs, "log_loss", None, task="multiclass", classes="abc")
    with pytest.raises(ValueError, match="class codes 0..2"):
        bootstrap_estimates(labels + 1, probs, None, task="multiclass", classes="abc")
    with pytest.raises(ValueError, match="y_pred contains 1 missing"):
        bootstrap_estimates([1.0, 2.0], [1.0, float("nan")], None, task="regression")


def test_baselines_predict_the_training_statistic() -> None:
    assert task_of("binary").baseline(0.25, 3, ()).tolist() == [0.25] * 3
    assert task_of("regression").baseline(12.5, 2, ()).tolist() == [12.5, 12.5]
    shares = task_of("multiclass").baseline({"a": 0.5, "c": 0.25, "b": 0.25}, 2, ["a", "b", "c"])
    assert shares.tolist() == [[0.5, 0.25, 0.25]] * 2
    with pytest.raises(ValueError, match="train_label_rate must be in"):
        task_of("binary").baseline(1.5, 3, ())


def test_labels_and_prediction_columns() -> None:
    multiclass = task_of("multiclass")
    assert multiclass.labels(["b", "a", "c"], ["a", "b", "c"]).tolist() == [1.0, 0.0, 2.0]
    with pytest.raises(ValueError, match=r"class\(es\) \['d'\] are not among the model's classes"):
        multiclass.labels(["d"], ["a", "b", "c"])
    frame = multiclass.output_frame(np.array([[0.2, 0.7, 0.1]]), ["a", "b", "c"], [0])
    assert list(frame.columns) == ["probability_a", "probability_b", "probability_c", "predicted_class"]
    assert frame["predicted_class"].tolist() == ["b"]
    assert multiclass.predictions_of(frame, ["a", "b", "c"]).tolist() == [[0.2, 0.7, 0.1]]
    assert task_of("binary").output_columns(()) == ("probability",)
    assert task_of("regression").output_columns(()) == ("prediction",)
    assert multiclass.params(["a", "b", "c"])["num_class"] == 3


def test_a_multiclass_champion_of_other_classes_cannot_be_compared(tmp_path) -> None:
    """Its probability columns mean other classes: the comparison gates must fail, not misread them."""
    import pandas as pd
    from types import SimpleNamespace

    from mlops_assets.evaluate.evaluation import ChampionStatus, evaluate_candidate
    from mlops_assets.evaluate.settings import EvaluationSettings

    class Model:
        threshold = None

        def __init__(self, classes, version=None):
            self.version, self.encoding = version, SimpleNamespace(columns=["x"], classes=classes)
            self.booster = SimpleNamespace(get_score=lambda importance_type: {"x": 1.0})

        def predict(self, frame):
            return np.full((len(frame), len(self.encoding.classes)), 1 / len(self.encoding.classes))

    rows = pd.DataFrame({"state": ["a", "b", "c"] * 20, "x": range(60)})
    found = evaluate_candidate(
        model="d", slices=[], target="state", test=rows, candidate=Model(["a", "b", "c"]),
        candidate_sha256="ab" * 32, snapshot_hash="cd" * 32, train_label_rate={"a": 0.4, "b": 0.3, "c": 0.3},
        champion=Model(["a", "b", "c", "d"], "2"), plots_dir=tmp_path, task="multiclass",
        settings=EvaluationSettings(bootstrap_resamples=10),
    )
    assert found.champion_status is ChampionStatus.CANNOT_SCORE
    assert "predicts the classes ['a', 'b', 'c', 'd'], the candidate ['a', 'b', 'c']" in found.champion_note
    # the class-frequency baseline on rows a, b, c in equal numbers
    assert found.baseline["log_loss"] == pytest.approx(-(np.log(0.4) + 2 * np.log(0.3)) / 3)
