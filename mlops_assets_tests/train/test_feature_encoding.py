"""The model's input frame: categoricals become the training vocabulary's categories, whatever the
caller passes (text from the feature table, numbers through the pyfunc), missing and unseen values
become missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_assets.train.model import FeatureEncoding

ENCODING = FeatureEncoding(numeric=["x"], categorical={"c": ["1", "1.0", "a", "b"]}, target="y")


def _codes(values: list) -> list[str | None]:
    frame = pd.DataFrame({"x": np.arange(len(values), dtype="float64"), "c": pd.Series(values, dtype="object")})
    column = ENCODING.matrix(frame)["c"]
    assert list(column.cat.categories) == ENCODING.categorical["c"]
    return [None if pd.isna(v) else v for v in column]


def test_text_maps_to_the_vocabulary_and_unseen_or_missing_text_is_missing():
    assert _codes(["a", "b", None, np.nan, "z", "a"]) == ["a", "b", None, None, None, "a"]


def test_text_as_a_pandas_string_column_maps_the_same():
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "c": pd.Series(["b", pd.NA, "q"], dtype="string")})
    assert [None if pd.isna(v) else v for v in ENCODING.matrix(frame)["c"]] == ["b", None, None]


def test_numbers_become_the_text_of_each_value_so_one_and_one_point_zero_stay_apart():
    assert _codes([1, 1.0, None, 2]) == ["1", "1.0", None, None]


def test_a_column_with_no_values_is_all_missing():
    assert _codes([None, None]) == [None, None]


def test_text_and_per_value_paths_agree_on_a_large_random_column():
    rng = np.random.default_rng(0)
    values = np.array(["a", "b", "z", None], dtype=object)[rng.integers(0, 4, 5_000)]
    expected = [None if v is None or v == "z" else v for v in values]
    assert _codes(list(values)) == expected
