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
