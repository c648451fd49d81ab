"""A data gate or feature check declared once in its registry is a blocking, documented daily check."""

from __future__ import annotations

import dagster as dg
import pytest

from mlops_assets.core.verdicts import Check, GateResult, check_registry
from mlops_assets.definitions import build_definitions
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.validate.data_gates import DATA_GATES


@pytest.mark.parametrize("registry", [DATA_GATES, FEATURE_CHECKS], ids=["data_gates", "feature_checks"])
def test_a_declared_check_is_a_blocking_check_with_its_description(registry, monkeypatch, spec):
    extra = Check("check_extra", "Nothing odd about the day.", lambda con, spec, target: GateResult("check_extra", True, ""))
    monkeypatch.setitem(registry, extra.name, extra)
    graph = build_definitions(spec).resolve_asset_graph()
    asset = spec.raw_asset_name if registry is DATA_GATES else spec.features_asset_name
    for check in registry.values():
        declared = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(asset), check.name))
        assert declared.blocking and declared.description == check.description


def test_a_check_name_is_declared_only_once():
    rule = lambda con, spec, target: None  # noqa: E731
    with pytest.raises(ValueError, match="'check_x' is declared twice"):
        check_registry(Check("check_x", "one", rule), Check("check_x", "two", rule))
