"""The registered model's name: the model's own name; a bare spec's one model keeps the spelling
registries held before models were named."""

from __future__ import annotations

from mlops_assets.core.registry import model_name
from mlops_assets.core.spec import load_spec


def test_model_name_is_the_spelling_existing_registries_hold():
    # champions were registered as <dataset>_<target>; another spelling would not find them
    assert model_name(load_spec()) == "nycflights_late"


def test_nothing_else_spells_the_name_by_hand():
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "mlops_assets"
    by_hand = re.compile(r"\{(spec|self)\.name\}[-_]?\{(spec\.target|first)\.name\}")
    spelled = [p.name for p in package.rglob("*.py") if by_hand.search(p.read_text())]
    assert spelled == ["spec.py"]  # the default model of a bare spec (DatasetSpec.model)


def test_a_named_model_registers_under_its_own_name():
    from mlops_assets.core.spec_sections import ModelSection

    spec = load_spec().for_model(ModelSection(name="flight_delay", target="arrival_delay_minutes", task="regression"))
    assert model_name(spec) == "flight_delay"
