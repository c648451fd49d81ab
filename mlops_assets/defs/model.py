"""The model half: training_snapshot -> candidate_model -> candidate_evaluation (gates) ->
model_card -> champion_model. Each asset is a thin call into the plain modules."""

import dagster as dg

from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL
from mlops_assets.defs.config import derived_config
from mlops_assets.defs.metadata import evaluation_metadata, label_statistic, rounded, trials_table
from mlops_assets.defs.names import ModelNames
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.train.window import TrainingWindow
from mlops_assets.train.tuning import TuningBudget

TRIGGER_TAG = "mlops/trigger_reason"
CODE_VERSIONS = {
    # 2: days judged under an earlier spec are re-judged (or refused) first, and the window's last
    # holdout_days days are the out-of-time split
    # 3: the label statistic and the single-value refusal of the model's task; held-out classes trained on
    "training_snapshot": "3",
    # 2: the training split streams into a QuantileDMatrix; 3: one tuned-parameter set, a manifest of the files;
    # 4: logged as a self-contained pyfunc (encoding inside, every prediction package pinned)
    # 5: the objective, labels and tuning metric of the model's task (multiclass: its classes in the encoding)
    "candidate_model": "5",
    # 2: records the champion status (an unloadable champion is recorded, not fatal); 3: the calibration
    # plot uses the gated ECE's bins; 4: refuses to run when the registry cannot produce the ledger's
    # champion; 5: models predict through the registered pyfunc class, the out-of-time test, the
    # champion compared on held-out days neither model trained on
    # 6: the metrics, paired differences and trivial baseline of the model's task (evaluate.tasks)
    "candidate_evaluation": "6",
    # 2: in-period and out-of-time figures side by side, and which test each gate judged on; 3: slices
    # too small (or with one class) to gate are marked; 4: a rebuilt registered model's card goes beside
    # the registered card, never over it
    # 5: names the model's task and its label statistic
    "model_card": "5",
    # 2: the same agreement check before the alias moves, and the ledger names the sensor, schedule or
    # user that promoted, never a bare "dagster"; 3: a rebuilt champion is reported "unchanged: the
    # candidate is the champion vN"
    "champion_model": "3",
}
CARD_CHECK = "check_card_complete"


class TrainingWindowConfig(derived_config(TrainingWindow, dg.Config)):
    """Which gate-passed feature days training_snapshot freezes (from train.window.TrainingWindow)."""


class TuningConfig(derived_config(TuningBudget, dg.Config)):
    """The seeded hyperparameter search of candidate_model (from train.tuning.TuningBudget)."""


class EvaluationConfig(derived_config(EvaluationSettings, dg.Config)):
    """The bootstrap and slices of candidate_evaluation (from evaluate.settings.EvaluationSettings)."""


def tuning_config(tuning: TuningBudget | None) -> type[dg.Config]:
    """candidate_model's config class, its defaults the model's own tuning budget when it has one."""
    if tuning is None or tuning == TuningBudget():
        return TuningConfig  # no class to build (~5 ms each, on every import of the code location)
    return type("TuningConfig", (derived_config(TuningBudget, dg.Config, tuning),), {"__doc__": TuningConfig.__doc__})


def learned_from(spec: DatasetSpec, features_key: dg.AssetKey) -> list[dg.AssetKey]:
    """What a training snapshot reads: the features, and with a label feed the labels that landed."""
    from mlops_assets.defs.names import DatasetNames

    labels = [dg.AssetKey(DatasetNames.of(spec).labels_asset)] if spec.labels is not None else []
    return [features_key, *labels]


def build_model_assets(spec: DatasetSpec, features_key: dg.AssetKey, tuning: TuningBudget | None = None) -> list:
    """The model's training chain, under its own key prefix and group (``defs.names``); the
    dataset's features asset is upstream by key, since every model on the dataset shares it."""
    names = ModelNames.of(spec)
    model_tuning = tuning_config(tuning)
    registered_name = spec.model.name

    @dg.asset(
        deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in learned_from(spec, features_key)],
        key_prefix=names.prefix,
        group_name=names.group,
        kinds={"duckdb"},
        owners=OWNERS,
        code_version=CODE_VERSIONS["training_snapshot"],
        pool=WAREHOUSE_POOL,
        io_manager_key="handles",
        description=(
            "A window of feature days that passed their checks, frozen into its own table: its last "
            "`holdout_days` days held out whole as the out-of-time test, the earlier days split "
            "80/10/10 by a hash of the entity key (stable across windows, seeds and row order). "
            "Data version: sha256 of the frozen rows."
        ),
    )
    def training_snapshot(context: dg.AssetExecutionContext, config: TrainingWindowConfig, state: StateResource):
        from mlops_assets.train.snapshot import build_training_snapshot

        snapshot = build_training_snapshot(spec, state.layout(), config.plain(), context.run.run_id)
        context.log.info(f"training snapshot {snapshot.content_hash[:12]}: {snapshot.rows} rows, {snapshot.start}..{snapshot.end}")
        if snapshot.rejudged_days or snapshot.refused_days or snapshot.rebuilt_days:
            context.log.warning(f"judged again under the current spec: {sorted(snapshot.rejudged_days) or 'none'}; "
                                f"features rebuilt under it: {sorted(snapshot.rebuilt_days) or 'none'}; "
                                f"refused by it: {snapshot.refused_days or 'none'}")
        return dg.MaterializeResult(
            value=snapshot.to_handle(),
            data_version=dg.DataVersion(snapshot.content_hash),
            metadata={
                "content_hash": snapshot.content_hash,
                "start": snapshot.start.isoformat(),
                "end": snapshot.end.isoformat(),
                "days": dg.MetadataValue.int(len(snapshot.days)),
                "skipped_days": dg.MetadataValue.json(snapshot.skipped_days),
                "rejudged_days": dg.MetadataValue.json(snapshot.rejudged_days),
                "refused_days": dg.MetadataValue.json(snapshot.refused_days),
                "rebuilt_days": dg.MetadataValue.json(snapshot.rebuilt_days),
                "oot_days": dg.MetadataValue.json(snapshot.oot_days),
                "rows": dg.MetadataValue.json(snapshot.rows),
                # the task's label statistic per split: label_rate, label_mean or class_frequencies
                label_statistic(spec): dg.MetadataValue.json(rounded(snapshot.label_rates)),
                "dagster/row_count": sum(snapshot.rows.values()),
            },
        )

    @dg.asset(
        key_prefix=names.prefix,
        group_name=names.group,
        kinds={"xgboost", "mlflow"},
        owners=OWNERS,
        code_version=CODE_VERSIONS["candidate_model"],
        io_manager_key="handles",
        description=(
            "An xgboost (hist) model tuned by a seeded random search on the validation split, logged "
            "to MLflow with its signature, pinned requirements, snapshot hash, Dagster run id and code "
            "version. Saved in xgboost's JSON format, never pickle, with a manifest of every file it needs "
            "to predict, whose digest is checked before every load. Data version: the model file's sha256."
        ),
    )
    def candidate_model(
        context: dg.AssetExecutionContext,
        config: model_tuning,
        training_snapshot: dict,
        state: StateResource,
        model_registry: ModelRegistryResource,
    ):
        from mlops_assets.pipeline.train_model import train_and_log
        layout = state.layout()
        budget = config.plain()
        trigger = context.run.tags.get(TRIGGER_TAG, "manual run")
        handle, trained = train_and_log(
            spec, layout, model_registry.registry(layout, registered_name), training_snapshot["content_hash"], budget,
            dagster_run_id=context.run.run_id, trigger_reason=trigger,
            code_version=CODE_VERSIONS["candidate_model"], log=context.log.info,
        )
        sha256, run_id = handle["model_sha256"], handle["mlflow_run_id"]
        return dg.MaterializeResult(
            value=handle,
            data_version=dg.DataVersion(sha256),
            metadata={
                "model_sha256": sha256,
                "model_manifest_sha256": handle["model_manifest_sha256"],
                trained.validation_metric: dg.MetadataValue.float(trained.validation_score),
                "trees": dg.MetadataValue.int(trained.best_rounds),
                **({"threshold": dg.MetadataValue.float(trained.threshold)} if trained.threshold is not None else {}),
                "mlflow_run_id": run_id,
                "trials": trials_table(trained.trials),
                "trigger_reason": trigger,
            },
        )

    @dg.asset(
        key_prefix=names.prefix,
        group_name=names.group,
        kinds={"python", "mlflow"},
        owners=OWNERS,
        code_version=CODE_VERSIONS["candidate_evaluation"],
        io_manager_key="handles",
        description=(
            "The candidate on the snapshot's in-period test split and its out-of-time days, against the "
            "current champion scored on the held-out days neither model trained on (paired bootstrap "
            "differences) and a class-prior baseline: AUC, log loss, "
            "Brier, precision and recall with bootstrap intervals, per-slice metrics, ROC, "
            "calibration and importance plots. Its blocking checks are the promotion gates."
        ),
    )
    def candidate_evaluation(
        context: dg.AssetExecutionContext,
        config: EvaluationConfig,
        candidate_model: dict,
        state: StateResource,
        model_registry: ModelRegistryResource,
    ):
        from mlops_assets.pipeline.train_model import evaluate_and_store

        layout = state.layout()
        evaluation = evaluate_and_store(
            spec, layout, model_registry.registry(layout, registered_name), candidate_model,
            settings=config.plain(),
            run_id=context.run.run_id,
        )
        return dg.MaterializeResult(
            value={"model_sha256": evaluation.model_sha256, "champion_version": evaluation.champion_version},
            data_version=dg.DataVersion(f"{evaluation.model_sha256[:16]}-vs-{evaluation.champion_version or 'none'}"),
            metadata=evaluation_metadata(evaluation),
        )

    @dg.asset(
        # lineage and order only: the card reads the snapshot and the evaluation from the warehouse
        deps=[training_snapshot, candidate_evaluation],
        key_prefix=names.prefix,
        group_name=names.group,
        kinds={"markdown", "html"},
        owners=OWNERS,
        code_version=CODE_VERSIONS["model_card"],
        io_manager_key="handles",
        check_specs=[dg.AssetCheckSpec(CARD_CHECK, asset=names.key("model_card"), blocking=True,
                                       description="Every required section of the model card has content.")],
        description=(
            "The candidate's model card, generated only from upstream assets: details, intended use "
            "and limitations from the spec, training data, metrics with intervals, slices, gate "
            "verdicts, lineage and plots. Markdown here and an HTML file beside the warehouse."
        ),
    )
    def model_card(context: dg.AssetExecutionContext, candidate_model: dict, state: StateResource):
        from mlops_assets.promote.card import missing_sections, render_markdown
        from mlops_assets.pipeline.train_model import write_candidate_card

        sha = candidate_model["model_sha256"]
        card, markdown_path, html_path = write_candidate_card(
            spec, state.layout(), candidate_model, dagster_run_id=context.run.run_id, code_versions=CODE_VERSIONS,
        )
        missing = missing_sections(card)
        return dg.MaterializeResult(
            value={"model_sha256": sha, "markdown": str(markdown_path), "html": str(html_path),
                   "missing_sections": missing},
            data_version=dg.DataVersion(sha[:16]),
            metadata={
                "card": dg.MetadataValue.md(render_markdown(card)),
                "card_html": dg.MetadataValue.path(str(html_path)),
                "card_markdown": dg.MetadataValue.path(str(markdown_path)),
            },
            # checked in the card's own step: completeness is known the moment the card is written
            check_results=[dg.AssetCheckResult(
                check_name=CARD_CHECK,
                passed=not missing,
                description="all required sections present" if not missing else f"incomplete: {missing}",
                metadata={"card": dg.MetadataValue.path(str(markdown_path))},
            )],
        )

    @dg.asset(
        deps=[candidate_evaluation],  # its blocking gates stop this asset; promote() re-reads the verdicts
        key_prefix=names.prefix,
        group_name=names.group,
        kinds={"mlflow"},
        owners=OWNERS,
        code_version=CODE_VERSIONS["champion_model"],
        io_manager_key="handles",
        pool=WAREHOUSE_POOL,
        description=(
            "The champion: registers the candidate in the MLflow registry and moves the `champion` "
            "alias to it only when every gate passed. The previous champion stays registered. Every "
            "promotion is a row in the append-only promotion ledger. Data version: the registry version."
        ),
    )
    def champion_model(
        context: dg.AssetExecutionContext,
        model_card: dict,
        candidate_model: dict,
        state: StateResource,
        model_registry: ModelRegistryResource,
    ):
        from mlops_assets.pipeline.train_model import write_candidate_card
        from mlops_assets.promote.ledger import os_user, run_operator
        from mlops_assets.promote.promotion import promote

        layout = state.layout()

        def rewrite_card(version: str):
            _, markdown_path, html_path = write_candidate_card(
                spec, layout, candidate_model, dagster_run_id=candidate_model["dagster_run_id"],
                code_versions=CODE_VERSIONS, version=version,
            )
            return markdown_path, html_path

        result = promote(
            spec=spec, layout=layout, registry=model_registry.registry(layout, registered_name),
            candidate=candidate_model, card=model_card, dagster_run_id=context.run.run_id,
            operator=run_operator(context.run.tags, context.run.run_id, os_user()), rewrite_card=rewrite_card,
        )
        return dg.MaterializeResult(
            value={"version": result.to_version, "model_sha256": candidate_model["model_sha256"]},
            data_version=dg.DataVersion(f"v{result.to_version}"),
            metadata={
                "champion_version": result.to_version,
                "previous_champion": result.from_version or "none",
                "model_sha256": candidate_model["model_sha256"],
                "reason": result.reason,
                "card": dg.MetadataValue.path(model_card["html"]),
            },
        )

    return [training_snapshot, candidate_model, candidate_evaluation, model_card, champion_model]
