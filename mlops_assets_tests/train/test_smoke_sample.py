"""The smoke sample stored beside a model: written at training, replayed before a rollback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_assets.train.smoke import SMOKE_FILE, SmokeTestFailed, read_smoke_sample, smoke_test, write_smoke_sample


class LinearModel:
    """A stand-in with the model interface the sample needs: an encoding and predict()."""

    class encoding:  # noqa: N801 - mirrors FeatureEncoding's attribute
        columns = ["x", "y"]

    def __init__(self, weight: float = 0.1):
        self.weight = weight

    def predict(self, frame):
        return 1 / (1 + np.exp(-self.weight * (frame["x"] + frame["y"]).to_numpy(dtype="float64")))


@pytest.fixture
def frame():
    return pd.DataFrame({"x": np.arange(100.0), "y": np.linspace(-1, 1, 100), "label": [0, 1] * 50})


def test_the_same_model_reproduces_its_sample(tmp_path, frame):
    path = write_smoke_sample(tmp_path, LinearModel(), frame, rows=10)
    assert path.name == SMOKE_FILE and not list(tmp_path.glob(".*partial*"))
    sample = read_smoke_sample(tmp_path)
    assert list(sample.columns[:2]) == ["x", "y"] and "label" not in sample and len(sample) == 10
    assert smoke_test(LinearModel(), sample, "version 3") == 0.0


def test_a_changed_model_is_caught(tmp_path, frame):
    write_smoke_sample(tmp_path, LinearModel(0.1), frame)
    with pytest.raises(SmokeTestFailed, match="version 3 no longer reproduces its smoke predictions"):
        smoke_test(LinearModel(0.2), read_smoke_sample(tmp_path), "version 3")


def test_a_model_that_cannot_predict_or_has_no_sample_is_caught(tmp_path, frame):
    write_smoke_sample(tmp_path, LinearModel(), frame)
    sample = read_smoke_sample(tmp_path).drop(columns=["y"])
    with pytest.raises(SmokeTestFailed, match="failed to predict"):
        smoke_test(LinearModel(), sample, "version 3")
    assert read_smoke_sample(tmp_path / "nothing") is None
    with pytest.raises(SmokeTestFailed, match="no stored smoke sample"):
        smoke_test(LinearModel(), None, "version 3")
