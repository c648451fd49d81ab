"""Drift reads its reference and window where they live, a column at a time: the bins and
statistics it gets that way must be the ones the in-memory functions of bins.py give on the same rows."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from mlops_assets.monitor import bins as P
from mlops_assets.monitor.statistics import DRIFT_STATISTICS, measure
from mlops_assets.monitor.drift import relation_bins, relation_predictions, relation_statistics
from mlops_assets.core.spec import load_spec
from mlops_assets.core.spec_sections import FeatureKind


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def _frame(spec, rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            values = rng.normal(shift, 1, rows).round(2)
            values[rng.random(rows) < 0.1] = np.nan
            data[name] = values
        else:
            categories = np.array([f"c{i}" for i in range(60)], dtype=object)  # more than the 50 kept
            labels = categories[np.minimum(rng.geometric(0.08 + shift / 20, rows), 59)]
            labels[rng.random(rows) < 0.1] = None
            data[name] = labels
    return pd.DataFrame(data)


def _in_memory_bins(spec, frame):
    return {
        name: P.numeric_bins(name, frame[name].astype("float64")) if feature.kind is FeatureKind.NUMERIC
        else P.categorical_bins(name, frame[name])
        for name, feature in spec.features.items()
    }


def test_bins_and_statistics_from_a_relation_equal_the_in_memory_ones(spec):
    reference, current = _frame(spec, 5_000, seed=1), _frame(spec, 3_000, seed=2, shift=0.5)
    con = duckdb.connect()
    con.register("reference_rows", reference)
    con.register("current_rows", current)
    bins = relation_bins(con, "reference_rows", spec)
    assert bins == _in_memory_bins(spec, reference)
    values = relation_statistics(con, "(SELECT * FROM current_rows)", bins, spec)
    assert list(values) == list(spec.features)
    for name in spec.features:
        in_memory = measure(bins[name].expected, P.proportions(bins[name], current[name]))
        assert list(values[name]) == list(DRIFT_STATISTICS)
        for statistic in DRIFT_STATISTICS:
            assert values[name][statistic] == pytest.approx(in_memory[statistic], abs=1e-12)
    assert max(v["psi"] for v in values.values()) > 0.1  # the shifted window did drift


def test_categorical_bins_from_counts_equal_bins_from_values():
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 2 + [None, float("nan")] + ["d"]
    from_values = P.categorical_bins("x", values, max_categories=2)
    assert from_values.categories == ["a", "b"]  # ties broken by label, then sorted
    assert P.categorical_bins_from_counts("x", P.label_counts(values), max_categories=2) == from_values
    assert from_values.expected == pytest.approx([5 / 15, 5 / 15, 3 / 15, 2 / 15])


def test_predictions_over_a_relation_cover_every_row_in_batches():
    class Model:
        def __init__(self):
            self.batches = []

        def scores(self, frame):  # the one number per row prediction drift follows (LoadedModel.scores)
            self.batches.append(len(frame))
            return frame["x"].to_numpy(dtype="float64") / 10

    con = duckdb.connect()
    model = Model()
    scores = relation_predictions(con, "(SELECT range AS x FROM range(25))", model, batch_rows=10)
    assert sorted(scores.tolist()) == [x / 10 for x in range(25)]
    assert sum(model.batches) == 25 and max(model.batches) <= 10
    assert relation_predictions(con, "(SELECT range AS x FROM range(0))", model).size == 0
