"""Training consumes its split in fixed-size batches: a frame in memory and the same split streamed
from the warehouse must give the same batches, hence the same model, byte for byte."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.core.spec_sections import FeatureKind
from mlops_assets.core.paths import StateLayout
from mlops_assets.train.model import FeatureEncoding, FrameBatches, TuningBudget, train_candidate
from mlops_assets.train.snapshot import SPLIT_COLUMN, TrainingSnapshot, read_split, streamed_split
from mlops_assets.core.warehouse import SNAPSHOT_SCHEMA, connect


def _frame(spec, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            values = rng.normal(size=rows)
            values[rng.random(rows) < 0.05] = np.nan
            data[name] = values
        else:
            labels = np.array([f"{name}-{i}" for i in range(5)], dtype=object)[rng.integers(0, 5, rows)]
            labels[rng.random(rows) < 0.05] = None
            data[name] = labels
    first_numeric = next(n for n, f in spec.features.items() if f.kind is FeatureKind.NUMERIC)
    signal = np.nan_to_num(data[first_numeric]) + rng.normal(scale=1.0, size=rows)
    data[spec.target.name] = (signal > 0.5).astype("int32")
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def test_frame_batches_cover_the_frame_in_fixed_sizes():
    frame = pd.DataFrame({"x": range(10)})
    sizes = [len(batch) for batch in FrameBatches(frame, rows=4)]
    assert sizes == [4, 4, 2]
    assert pd.concat(FrameBatches(frame, rows=4))["x"].tolist() == list(range(10))


def test_encoding_from_batches_equals_encoding_from_the_whole_frame(spec):
    frame = _frame(spec, 500, seed=1)
    assert FeatureEncoding.from_batches(FrameBatches(frame, rows=64), spec) == FeatureEncoding.from_training(frame, spec)


def test_streamed_split_yields_read_splits_rows_in_the_same_order_in_exact_batches(tmp_path, spec):
    layout = StateLayout(tmp_path).ensure()
    frame = _frame(spec, 2_000, seed=2)
    frame.insert(0, "day", dt.date(2013, 1, 1))
    frame[SPLIT_COLUMN] = np.where(np.arange(len(frame)) % 10 < 8, "train", "validation")
    with connect(layout.warehouse_path) as con:
        con.register("incoming", frame.sample(frac=1.0, random_state=0))  # stored out of order
        con.execute(f"CREATE TABLE {SNAPSHOT_SCHEMA}.t AS SELECT * FROM incoming")
    snapshot = TrainingSnapshot("nycflights", "h", "t", dt.date(2013, 1, 1), dt.date(2013, 1, 1), {}, {}, {}, [])
    expected = read_split(layout, snapshot, "train")
    with streamed_split(layout, snapshot, "train", rows=300) as batches:
        first = list(batches)
        again = list(batches)  # QuantileDMatrix iterates more than once
    assert [len(b) for b in first] == [300] * 5 + [100]
    streamed = pd.concat(first, ignore_index=True)
    pd.testing.assert_frame_equal(streamed[expected.columns.drop("day")], expected.drop(columns="day"),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(pd.concat(again, ignore_index=True), streamed)
    assert not list(layout.cache_dir.glob(".split-*")), "the scratch Parquet file is removed"


def test_a_streamed_split_trains_the_same_model_as_the_frame(tmp_path, spec):
    train, validation = _frame(spec, 3_000, seed=3), _frame(spec, 600, seed=4)
    budget = TuningBudget(trials=2, max_rounds=20)
    from_frame = train_candidate(train, validation, spec, budget, log=lambda _: None)
    in_batches = [train.iloc[i:i + 1_000].reset_index(drop=True) for i in range(0, 3_000, 1_000)]
    from_batches = train_candidate(in_batches, validation, spec, budget, log=lambda _: None)
    rows_of_one_batch = train_candidate(FrameBatches(train, rows=1_000), validation, spec, budget, log=lambda _: None)
    _, frame_sha = from_frame.save(tmp_path / "frame")
    _, batches_sha = from_batches.save(tmp_path / "batches")
    _, same_batches_sha = rows_of_one_batch.save(tmp_path / "same-batches")
    assert batches_sha == same_batches_sha  # same batches, same model
    assert from_frame.encoding == from_batches.encoding
    assert frame_sha == train_candidate(train, validation, spec, budget, log=lambda _: None).save(tmp_path / "again")[1]


def test_tuned_params_are_what_the_search_chose(spec):
    from mlops_assets.train.model import sample_params, tuned_params

    params = sample_params(np.random.default_rng(0), TuningBudget(seed=7, nthread=3))
    tuned = tuned_params(params)
    assert not {"objective", "eval_metric", "tree_method", "seed", "nthread"} & set(tuned)
    assert {"max_depth", "learning_rate", "min_child_weight", "subsample", "colsample_bytree",
            "reg_lambda", "max_cat_to_onehot"} == set(tuned)
    assert all(tuned[k] == params[k] for k in tuned)


def test_given_params_refit_one_trial_and_reproduce_the_searched_model_on_its_data(tmp_path, spec):
    train, validation = _frame(spec, 3_000, seed=5), _frame(spec, 600, seed=6)
    budget = TuningBudget(trials=3, max_rounds=20)
    searched = train_candidate(train, validation, spec, budget, log=lambda _: None)
    refit = train_candidate(train, validation, spec, budget, log=lambda _: None, params=searched.params)
    assert len(refit.trials) == 1
    assert refit.params == searched.params and refit.best_rounds == searched.best_rounds
    assert refit.save(tmp_path / "refit")[1] == searched.save(tmp_path / "searched")[1]  # byte for byte


def test_given_params_are_kept_with_their_seed_on_a_larger_window(tmp_path, spec):
    from mlops_assets.train.model import sample_params, tuned_params

    # parameters the seed-42 search would not draw first, and another seed: neither may be replaced
    chosen = sample_params(np.random.default_rng(123), TuningBudget(seed=9))
    train, validation = _frame(spec, 4_000, seed=7), _frame(spec, 600, seed=8)
    refit = train_candidate(train, validation, spec, TuningBudget(max_rounds=20, nthread=1), log=lambda _: None,
                            params=chosen)
    assert tuned_params(refit.params) == tuned_params(chosen)
    assert refit.params["seed"] == 9 and refit.params["nthread"] == 1
    assert [t["trial"] for t in refit.trials] == [1]
    searched = train_candidate(train, validation, spec, TuningBudget(max_rounds=20, nthread=1), log=lambda _: None)
    assert tuned_params(searched.params) != tuned_params(chosen)
