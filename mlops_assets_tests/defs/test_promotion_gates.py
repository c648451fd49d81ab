"""A promotion gate declared in one place is everywhere: a blocking check, a gate_policy field with
its default and description, a required verdict for promotion, and a row on the model card."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest

from mlops_assets.defs.names import ModelNames
from mlops_assets.core.verdicts import evaluation_asset, EVALUATION_ASSET, GateResult, unmet_gates_by_name
from mlops_assets.core.warehouse import connect
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.resources import GatePolicy, StateResource
from mlops_assets.evaluate.evaluation import Evaluation, store_evaluation
from mlops_assets.gate.registry import (
    PROMOTION_GATES,
    GateThresholds,
    Threshold,
    judge_evaluation,
    promotion_gate,
    threshold_fields,
)
from mlops_assets.promote.card import render_markdown
from mlops_assets.promote.card_facts import build_card
from mlops_assets.promote.promotion import recorded_verdicts
from mlops_assets.train.snapshot import TrainingSnapshot

SHA = "ab" * 32
EXTRA = "check_max_brier"


@pytest.fixture
def brier_gate():
    """The one place the extra gate is declared."""

    @promotion_gate(
        EXTRA,
        description="The Brier score is under the ceiling.",
        metrics=("brier",),
        thresholds=(Threshold("max_brier", 0.25, "ceiling on the test Brier score", maximum=1.0),),
    )
    def check_max_brier(evaluation, thresholds):
        brier, limit = evaluation.metric("brier"), thresholds.max_brier
        return GateResult(EXTRA, brier <= limit, f"Brier score {brier:.3f} against the ceiling {limit:.3f}",
                          metric="brier", observed=brier, threshold=limit)

    yield
    del PROMOTION_GATES[EXTRA]


def stored_evaluation(layout, spec) -> Evaluation:
    evaluation = Evaluation(
        model=spec.model.name, model_sha256=SHA, snapshot_hash="cd" * 32, test_rows=1_000, threshold=0.4,
        metrics={"auc": {"value": 0.71, "low": 0.69, "high": 0.73}, "brier": {"value": 0.18, "low": None, "high": None}},
        baseline={"auc": 0.5, "log_loss": 0.6, "brier": 0.19, "label_rate": 0.25},
    )
    with connect(layout.warehouse_path) as con:
        store_evaluation(con, evaluation, run_id="test")
    handle = layout.root / "handles" / f"{spec.model.name}__candidate_evaluation.json"
    handle.parent.mkdir(parents=True, exist_ok=True)
    handle.write_text(json.dumps({"model_sha256": SHA, "champion_version": None}))
    return evaluation


def run_extra_gate(defs: dg.Definitions, names: ModelNames, policy: dict) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(names.key(EVALUATION_ASSET), EXTRA)
    job = dg.define_asset_job("judge_extra_gate", selection=dg.AssetSelection.checks(key))
    result = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"resources": {names.gate_policy: {"config": policy}}},
    )
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return evaluation


def test_a_gate_declared_once_is_a_configurable_blocking_check_on_the_card(brier_gate, state, spec):
    evaluation = stored_evaluation(state, spec)
    defs = build_definitions(spec, StateResource(state_dir=str(state.root)))
    names = ModelNames.of(spec)

    check = defs.resolve_asset_graph().get_check_spec(dg.AssetCheckKey(names.key(EVALUATION_ASSET), EXTRA))
    assert check.blocking and check.description == "The Brier score is under the ceiling."
    field = defs.resources[names.gate_policy].get_resource_definition().config_schema.config_type.fields["max_brier"]
    assert (field.default_value, field.description) == (0.25, "ceiling on the test Brier score")
    assert GateThresholds().max_brier == 0.25
    with pytest.raises(ValueError, match="max_brier"):
        GateThresholds(max_brier=2.0)

    with connect(state.warehouse_path) as con:  # promotion requires its verdict before it ever ran
        assert EXTRA in unmet_gates_by_name(con, dataset=spec.name, asset=evaluation_asset(spec.model.name), day=None,
                                            content_hash=SHA, required=list(PROMOTION_GATES))

    strict = run_extra_gate(defs, names, {"max_brier": 0.1})
    assert not strict.passed and strict.severity == dg.AssetCheckSeverity.ERROR  # blocks the run
    assert "0.180 against the ceiling 0.100" in strict.description
    lenient = run_extra_gate(defs, names, {})  # the declared default
    assert lenient.passed and lenient.metadata["threshold"].value == 0.25

    with connect(state.warehouse_path) as con:
        verdicts = recorded_verdicts(con, spec.model.name, SHA)
    assert [v.check for v in verdicts] == [EXTRA] and verdicts[0].passed
    snapshot = TrainingSnapshot(spec.name, "cd" * 32, "snap", dt.date(2013, 1, 1), dt.date(2013, 1, 3),
                                {}, {"train": 800, "test": 100}, {"train": 0.25}, [])
    candidate = {"params": {}, "best_rounds": 10, "threshold": 0.4, "features": ["distance"], "mlflow_run_id": "r"}
    card = build_card(spec=spec, snapshot=snapshot, candidate=candidate, evaluation=evaluation, verdicts=verdicts,
                      dagster_run_id="d", code_versions={})
    assert f"| {EXTRA} | **PASS** | brier | 0.1800 | 0.2500 |" in render_markdown(card)


def test_a_gate_or_threshold_name_is_declared_only_once(brier_gate):
    with pytest.raises(ValueError, match="already declared"):
        promotion_gate(EXTRA, description="twin", metrics=())(lambda evaluation, thresholds: None)
    with pytest.raises(ValueError, match="max_brier.*already declared"):
        promotion_gate("check_other", description="twin", metrics=(),
                       thresholds=(Threshold("max_brier", 0.3, "twin"),))(lambda evaluation, thresholds: None)


def test_the_gate_policy_resource_is_built_from_the_declared_thresholds():
    assert list(GatePolicy.model_fields) == list(threshold_fields())
    assert GatePolicy().thresholds() == GateThresholds()
    assert GatePolicy(min_auc=0.99).thresholds() == GateThresholds(min_auc=0.99)
    assert GatePolicy.model_fields["max_ece"].description == threshold_fields()["max_ece"].description


def test_a_rule_whose_verdict_names_another_gate_is_refused(state, spec):
    @promotion_gate("check_misnamed", description="A copy-paste slip.", metrics=())
    def misnamed(evaluation, thresholds):
        return GateResult("check_min_quality", True, "")

    try:
        with pytest.raises(ValueError, match="'check_misnamed' returned a verdict named 'check_min_quality'"):
            judge_evaluation(stored_evaluation(state, spec), GateThresholds(), ["check_misnamed"])
    finally:
        del PROMOTION_GATES["check_misnamed"]
