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


SCORE_JOB = "score_job"
PERFORMANCE_JOB = "performance_job"
TIMELINE_JOB = "timeline_job"


def build_monitoring_jobs(batch_predictions, drift_report, live_performance, monitoring_timeline) -> list:
    return [
        dg.define_asset_job(
            SCORE_JOB,
            selection=dg.AssetSelection.assets(batch_predictions, drift_report),
            description="Score one day with the champion and compute that day's drift against its training data.",
        ),
        dg.define_asset_job(
            PERFORMANCE_JOB,
            selection=dg.AssetSelection.assets(live_performance),
            description="Measure the champion on one day whose labels have arrived.",
        ),
        dg.define_asset_job(
            TIMELINE_JOB,
            selection=dg.AssetSelection.assets(monitoring_timeline),
            description="Rebuild the monitoring timeline (drift, retraining runs, promotions, live AUC).",
        ),
    ]
