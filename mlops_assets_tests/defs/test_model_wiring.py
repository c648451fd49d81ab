"""The Dagster wiring of the model half names the same gates the plain gating module applies."""

from mlops_assets.defs.model import GATE_DESCRIPTIONS
from mlops_assets.gate.apply import MODEL_GATES


def test_every_gate_check_has_a_rule_and_every_rule_a_check():
    # the check names are declared without importing the gating module (it pulls in numpy/pandas),
    # so this is what keeps the two lists from drifting apart
    assert list(GATE_DESCRIPTIONS) == list(MODEL_GATES)
