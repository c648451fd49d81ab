"""The model half's steps as plain functions: what each Dagster asset does, callable without Dagster.

The assets in ``defs/model.py`` are thin wrappers over these, and the orchestration-overhead
benchmark calls them directly, so "the same functions in a plain script" is literally true.
Steps pass small JSON-able handles (hashes, ids, parameters); the heavy objects stay in the
warehouse and MLflow.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from mlops_assets.core.grain import NO_OUT_OF_TIME_UNPARTITIONED
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect
from mlops_assets.evaluate.settings import EvaluationSettings


def train_and_log(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    snapshot_hash: str,
    budget: Any,
    *,
    dagster_run_id: str,
    trigger_reason: str,
    code_version: str,
    log: Callable[[str], None] = print,
    params: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Tune and train on a frozen snapshot, save the model, log it to MLflow; returns (handle, model).
    With ``params`` (a trained model's), no search: those hyperparameters refit on this snapshot."""
    from mlops_assets.core.registry import MANIFEST_TAG
    from mlops_assets.train.model import train_candidate, tuned_params, write_manifest
    from mlops_assets.train.smoke import write_smoke_sample
    from mlops_assets.train.snapshot import load_training_snapshot, read_split, streamed_split

    snapshot = load_training_snapshot(layout, spec.name, snapshot_hash, grain=spec.grain)
    validation = read_split(layout, snapshot, "validation")
    # the training split streams in batches: as one pandas frame it is gigabytes at 10M rows
    with streamed_split(layout, snapshot, "train", columns=[*spec.features, spec.target.name]) as train:
        trained = train_candidate(train, validation, spec, budget, log=log, params=params)
    scratch = layout.root / "models" / f".partial-{dagster_run_id}"
    _, sha256 = trained.save(scratch)
    write_smoke_sample(scratch, trained, validation)
    manifest = write_manifest(scratch)
    model_dir = layout.root / "models" / sha256[:16]
    if model_dir.exists():
        shutil.rmtree(model_dir)
    scratch.rename(model_dir)
    tuned = tuned_params(trained.params)
    run_id, model_uri = registry.log_candidate(
        model_dir=model_dir,
        manifest_sha256=manifest,
        # numbers as float64: integer columns in a signature cannot hold the missing values scoring sees
        sample_input=validation[trained.encoding.columns].head(200).astype(
            {column: "float64" for column in trained.encoding.numeric}
        ),
        # the seed is no hyperparameter, but MLflow keeps it so a run can be reproduced from there
        params={**tuned, "seed": trained.params["seed"], "trees": trained.best_rounds,
                **({"threshold": trained.threshold} if trained.threshold is not None else {})},
        metrics={trained.validation_metric: trained.validation_score},
        tags={
            "run_name": f"{spec.name}-{snapshot.content_hash[:8]}",
            "dataset": spec.name,
            "model": spec.model.name,
            "snapshot_hash": snapshot.content_hash,
            "dagster_run_id": dagster_run_id,
            "code_version": code_version,
            "model_sha256": sha256,
            MANIFEST_TAG: manifest,
            "trigger_reason": trigger_reason,
        },
    )
    handle = {
        "model_sha256": sha256,
        MANIFEST_TAG: manifest,
        "snapshot_hash": snapshot.content_hash,
        "mlflow_run_id": run_id,
        "model_uri": model_uri,
        "params": tuned,
        "best_rounds": trained.best_rounds,
        "threshold": trained.threshold,
        trained.validation_metric: trained.validation_score,
        "features": trained.encoding.columns,
        "trigger_reason": trigger_reason,
        "dagster_run_id": dagster_run_id,
        "code_version": code_version,
    }
    return handle, trained


def evaluate_and_store(
    spec: DatasetSpec,
    layout: StateLayout,
    registry: Any,
    candidate: dict[str, Any],
    *,
    settings: EvaluationSettings,
    run_id: str,
):
    """Score the test and out-of-time splits with the candidate (loaded back from MLflow, every file
    checked against its manifest), and the champion on the out-of-time rows of days it did not train
    on; store and return the evaluation. A champion that cannot be loaded safely, or whose training
    days cannot be read, is recorded as such (its comparison gates then fail), not silently skipped; a
    ledger that names a champion the registry cannot produce stops it before any gate runs."""
    from mlops_assets.core.registry import MANIFEST_TAG
    from mlops_assets.evaluate.evaluation import UnloadableChampion, evaluate_candidate, store_evaluation
    from mlops_assets.promote.agreement import check_agreement
    from mlops_assets.train.snapshot import OOT_SPLIT, load_training_snapshot, read_split

    with connect(layout.warehouse_path) as con:
        check_agreement(con, spec.model.name, registry)  # before "no champion" can pass a gate by rule
    loaded = registry.load_run_model(
        candidate["mlflow_run_id"], candidate["model_sha256"], candidate.get(MANIFEST_TAG), candidate["threshold"]
    )
    champion_ref = registry.champion()
    champion, champion_trained_days = None, []
    if champion_ref is not None:
        try:
            champion = registry.load_version(champion_ref)  # checks every file against its manifest first
            champion_trained_days = _trained_days(layout, spec, champion_ref)
        except Exception as error:  # noqa: BLE001 - a missing or tampered artifact is the finding
            champion = UnloadableChampion(champion_ref.version, str(error))
    snapshot = load_training_snapshot(layout, spec.name, candidate["snapshot_hash"], grain=spec.grain)
    evaluation = evaluate_candidate(
        model=spec.model.name, slices=spec.slices, target=spec.target.name,
        test=read_split(layout, snapshot, "test"), candidate=loaded,
        oot=read_split(layout, snapshot, OOT_SPLIT) if snapshot.oot_days else None,
        champion_trained_days=champion_trained_days,
        candidate_sha256=candidate["model_sha256"], snapshot_hash=snapshot.content_hash,
        train_label_rate=snapshot.label_rates["train"], champion=champion,
        plots_dir=layout.model_reports_dir(spec.model.name) / "evaluations" / candidate["model_sha256"][:16],
        settings=settings, task=spec.model.task, grain=spec.grain,
        no_out_of_time="" if spec.grain.partitioned else NO_OUT_OF_TIME_UNPARTITIONED,
    )
    with connect(layout.warehouse_path) as con:
        store_evaluation(con, evaluation, run_id)
    logged = {f"test_{k}": v["value"] for k, v in evaluation.metrics.items()}
    logged |= {f"oot_{k}": v["value"] for k, v in (evaluation.oot_metrics or {}).items()}
    if evaluation.oot_mean_daily_auc is not None:
        logged["oot_mean_daily_auc"] = evaluation.oot_mean_daily_auc
    registry.log_metrics(candidate["mlflow_run_id"], logged)
    return evaluation


def _trained_days(layout: StateLayout, spec: DatasetSpec, champion_ref: Any) -> list[str]:
    """The days the champion learned from (its snapshot's in-period days): their rows are no fair
    test of it. A champion whose snapshot cannot be read cannot be compared fairly."""
    from mlops_assets.train.snapshot import load_training_snapshot

    snapshot_hash = champion_ref.tags.get("snapshot_hash")
    if not snapshot_hash:
        raise LookupError(f"champion v{champion_ref.version} has no snapshot_hash tag: its training days are unknown")
    return load_training_snapshot(layout, spec.name, snapshot_hash, grain=spec.grain).in_period_days


@dataclass(frozen=True)
class Judgement:
    """One promotion gate's verdict on a candidate, and the override in force if it failed."""

    verdict: Any
    override: Any = None


def judge(
    spec: DatasetSpec, layout: StateLayout, model_sha256: str, gates: Sequence[str], thresholds: Any, run_id: str,
    registry: Any = None,
) -> dict[str, Judgement]:
    """Apply the named promotion gates (in registry order) to the stored evaluation and record each
    verdict, in one connection.

    A failed gate comes back with the override granted for it that is still in force (or None).
    With ``registry``, the ledger and the registry must first agree on the champion.
    """
    from mlops_assets.core import verdicts
    from mlops_assets.evaluate.evaluation import load_evaluation
    from mlops_assets.gate.registry import judge_evaluation
    from mlops_assets.gate.overrides import active_overrides
    from mlops_assets.promote.agreement import check_agreement

    judged = {}
    with connect(layout.warehouse_path) as con:
        if registry is not None:
            check_agreement(con, spec.model.name, registry)
        evaluation = load_evaluation(con, spec.model.name, model_sha256)
        for verdict in judge_evaluation(evaluation, thresholds, gates):
            verdicts.record(con, dataset=spec.name, asset=verdicts.evaluation_asset(spec.model.name), day=None,
                            content_hash=model_sha256, result=verdict, run_id=run_id)
            judged[verdict.check] = verdict
        overrides = active_overrides(con, spec.model.name, model_sha256) if not all(v.passed for v in judged.values()) else {}
    return {gate: Judgement(verdict, None if verdict.passed else overrides.get(gate)) for gate, verdict in judged.items()}


def write_candidate_card(
    spec: DatasetSpec,
    layout: StateLayout,
    candidate: dict[str, Any],
    *,
    dagster_run_id: str,
    code_versions: dict[str, str],
    version: str | None = None,
) -> tuple[Any, Path, Path]:
    """Build the model card from the recorded snapshot, evaluation and verdicts; write md + html."""
    from mlops_assets.promote.card_facts import build_card
    from mlops_assets.evaluate.evaluation import load_evaluation
    from mlops_assets.promote.card import write_card
    from mlops_assets.gate.overrides import overrides_for
    from mlops_assets.promote.promotion import recorded_verdicts
    from mlops_assets.train.snapshot import load_training_snapshot

    sha = candidate["model_sha256"]
    with connect(layout.warehouse_path) as con:
        evaluation = load_evaluation(con, spec.model.name, sha)
        gate_verdicts = recorded_verdicts(con, spec.model.name, sha)
        granted = overrides_for(con, spec.model.name, sha)
        registered = registered_versions(con, spec.model.name, sha)
    snapshot = load_training_snapshot(layout, spec.name, candidate["snapshot_hash"], grain=spec.grain)
    card = build_card(
        spec=spec, snapshot=snapshot, candidate=candidate, evaluation=evaluation,
        verdicts=gate_verdicts, dagster_run_id=dagster_run_id, code_versions=code_versions, version=version,
        overrides=granted,
    )
    markdown_path, html_path = write_card(card, card_folder(layout, spec, sha, version, dagster_run_id, registered))
    return card, markdown_path, html_path


def registered_versions(con: Any, model: str, model_sha256: str) -> list[str]:
    """The registry versions the ledger shows holding this exact model (same sha256), oldest first."""
    from mlops_assets.promote import ledger

    found = [e.to_version for e in ledger.entries(con, model)
             if e.model_sha256 == model_sha256 and e.action in ledger.ALIAS_MOVES]
    return list(dict.fromkeys(found))


def card_folder(
    layout: StateLayout, spec: DatasetSpec, sha: str, version: str | None, dagster_run_id: str, registered: list[str]
) -> Path:
    """Where a card goes: ``cards/<sha>`` is the registered card of the first version holding the
    model. A retraining that rebuilds the same bytes never writes there: its unregistered card goes
    beside it, per run, and a further version of the same bytes gets its own folder."""
    folder = layout.model_reports_dir(spec.model.name) / "cards" / sha[:16]
    if not registered or version == registered[0]:
        return folder
    if version is None:
        return folder / f"run-{dagster_run_id[:8]}"
    return folder / f"v{version}"
