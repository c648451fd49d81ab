"""The promotion gates of a model's task as blocking checks on its candidate_evaluation, one step."""

import dagster as dg

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.names import ModelNames
from mlops_assets.gate.registry import gates_for


def build_gate_checks(evaluation_asset: dg.AssetsDefinition, spec: DatasetSpec) -> dg.AssetChecksDefinition:
    """The promotion gates of the model's task (declared in gate/registry.py): blocking checks on
    candidate_evaluation, judged in one step.

    One step, not one per gate: each step costs the run a dozen event-log writes while a gate is a
    millisecond of arithmetic on the stored evaluation. Each gate is still its own check in the UI,
    and any subset can be re-run alone (after a policy change or an override) without retraining.
    """
    gates = list(gates_for(spec.model.task).values())
    specs = [dg.AssetCheckSpec(gate.check, asset=evaluation_asset, blocking=True, description=gate.description)
             for gate in gates]

    names = ModelNames.of(spec)

    @dg.multi_asset_check(specs=specs, name=names.gates_step, can_subset=True,
                          ins={"candidate_evaluation": dg.AssetIn(evaluation_asset.key)},
                          required_resource_keys={"state", "model_registry", names.gate_policy},
                          description="The promotion gates on the candidate's evaluation.")
    def promotion_gates(context: dg.AssetCheckExecutionContext, candidate_evaluation: dict):
        # names only at definition time: the evaluation (numpy, pandas) loads here, in the step
        from mlops_assets.pipeline.train_model import judge

        sha = candidate_evaluation["model_sha256"]
        selected = {key.name for key in context.selected_asset_check_keys}
        chosen = [gate.check for gate in gates if gate.check in selected]
        resources = context.resources
        layout = resources.state.layout()
        judged = judge(spec, layout, sha, chosen, getattr(resources, names.gate_policy).thresholds(), context.run.run_id,
                       registry=resources.model_registry.registry(layout, spec.model.name))
        for name, judgement in judged.items():
            yield _gate_result(evaluation_asset.key, name, judgement, sha)

    return promotion_gates


def _gate_result(asset_key: dg.AssetKey, name: str, judgement, sha: str) -> dg.AssetCheckResult:
    verdict, override = judgement.verdict, judgement.override
    numbers = {k: v for k, v in verdict.measurement().items() if isinstance(v, (int, float))}
    metadata = {**numbers, "metric": verdict.metric, "reason": verdict.summary, "model_sha256": sha}
    if override is not None:
        # still a failure, shown as a warning: a blocking check only stops the run at ERROR severity
        return dg.AssetCheckResult(
            asset_key=asset_key, check_name=name, passed=False, severity=dg.AssetCheckSeverity.WARN,
            description=f"{verdict.summary} (OVERRIDDEN: {override.sentence()})",
            metadata={**metadata, "override": override.sentence()},
        )
    return dg.AssetCheckResult(asset_key=asset_key, check_name=name, passed=verdict.passed,
                               description=verdict.summary, metadata=metadata)
