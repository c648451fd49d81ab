"""The README's gate tables and gate_policy row say what the registries declare (regenerate them
from the message when a gate is added)."""

from __future__ import annotations

from pathlib import Path

from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.gate.registry import PROMOTION_GATES
from mlops_assets.validate.data_gates import DATA_GATES

README = Path(__file__).resolve().parents[1] / "README.md"


def promotion_gates_table() -> str:
    rows = [
        f"| `{gate.check}` | {', '.join(gate.tasks)} | {gate.description} | {', '.join(gate.metrics)} on `{gate.split}` | "
        + ", ".join(f"`{t.name}` {t.default:g}" for t in gate.thresholds) + " |"
        for gate in PROMOTION_GATES.values()
    ]
    return "\n".join(["| promotion gate | task | passes when | reads (split) | thresholds (`gate_policy`, default) |",
                      "|---|---|---|---|---|", *rows])


def daily_checks_table() -> str:
    rows = [f"| `{check.name}` | {asset} | {check.description} |"
            for asset, registry in (("raw snapshot", DATA_GATES), ("features", FEATURE_CHECKS))
            for check in registry.values()]
    return "\n".join(["| data gate / feature check | on the day's | passes when |", "|---|---|---|", *rows])


def gate_policy_row() -> str:
    fields = ", ".join(f"`{t.name}` {t.default:g}" for gate in PROMOTION_GATES.values() for t in gate.thresholds)
    return f"| gate thresholds | the model's `gates:` block, or at launch its resource `<model>_gate_policy`: {fields} | |"


def test_readme_lists_the_declared_promotion_gates():
    text = README.read_text(encoding="utf-8")
    table = promotion_gates_table()
    assert table in text, f"the README's promotion gate table should read:\n{table}"
    row = gate_policy_row()
    assert row in text, f"the README's gate thresholds row should read:\n{row}"


def test_readme_lists_the_declared_data_gates_and_feature_checks():
    table = daily_checks_table()
    assert table in README.read_text(encoding="utf-8"), f"the README's daily checks table should read:\n{table}"
