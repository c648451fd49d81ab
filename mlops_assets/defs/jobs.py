"""Jobs people launch from the UI or the CLI."""

from __future__ import annotations

import dagster as dg

INGEST_JOB = "ingest_job"


def build_ingest_job(raw_asset: dg.AssetsDefinition, features_asset: dg.AssetsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.assets(raw_asset, features_asset),
        description=(
            "Ingest one landed day, run its data gates, and build its features (with their checks). "
            "A failed data gate stops the day's features from being built."
        ),
    )


TRAIN_JOB = "train_job"


def build_train_job(model_assets: list) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        TRAIN_JOB,
        selection=dg.AssetSelection.assets(*[a for a in model_assets if isinstance(a, dg.AssetsDefinition) and a.keys]),
        description=(
            "Freeze a training window, train and tune a candidate, evaluate it against the champion, "
            "run the promotion gates, write its model card and, only if every gate passed, make it "
            "the champion. The training window is the training_snapshot config."
        ),
    )
