"""Jobs people launch from the UI or the CLI: a dataset's ingestion, a model's training and
monitoring (names from ``defs.names``)."""

from __future__ import annotations

import dagster as dg

from mlops_assets.defs.names import DatasetNames, ModelNames


def build_ingest_job(names: DatasetNames, raw_asset: dg.AssetsDefinition,
                     features_asset: dg.AssetsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.ingest_job,
        selection=dg.AssetSelection.assets(raw_asset, features_asset),
        description=(
            f"Ingest landed days of {names.dataset}, run their data gates, and build their features (with "
            "their checks) for every model built on it. A failed data gate stops the day's features."
        ),
    )


def build_labels_job(names: DatasetNames, labels_asset: dg.AssetsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.labels_job,
        selection=dg.AssetSelection.assets(labels_asset),
        description=(
            f"Store the labels landed for partitions of {names.dataset} (landing/{names.dataset}/labels/): "
            "training learns from these rows, and each model's live performance is measured on them."
        ),
    )


def build_train_job(names: ModelNames, model_assets: list) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.train_job,
        selection=dg.AssetSelection.assets(*[a for a in model_assets if isinstance(a, dg.AssetsDefinition) and a.keys]),
        description=(
            f"Freeze a training window for {names.model}, train and tune a candidate, evaluate it against the "
            "champion, run the promotion gates, write its model card and, only if every gate passed, make it "
            "the champion. The training window is the training_snapshot config."
        ),
    )


def build_monitoring_jobs(names: ModelNames, batch_predictions, drift_report, live_performance,
                          monitoring_timeline) -> list:
    return [
        dg.define_asset_job(
            names.job("score"),
            selection=dg.AssetSelection.assets(batch_predictions, drift_report),
            description=f"Score days with the {names.model} champion and compute their drift against its training data.",
        ),
        dg.define_asset_job(
            names.job("performance"),
            selection=dg.AssetSelection.assets(live_performance),
            description=f"Measure the {names.model} champion on days whose labels have arrived.",
        ),
        dg.define_asset_job(
            names.job("timeline"),
            selection=dg.AssetSelection.assets(monitoring_timeline),
            description=f"Rebuild {names.model}'s monitoring timeline (drift, retraining runs, promotions, live metric).",
        ),
    ]
