"""<dataset>_features: the day's point-in-time features, and the checks that guard them."""


import dagster as dg

from mlops_assets.pipeline.ingest_day import check_feature_day
from mlops_assets.defs.checks import daily_checks_step
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, daily_partitions, partition_day
from mlops_assets.defs.metadata import records_table, table_schema
from mlops_assets.defs.resources import StateResource
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.features.build import build_features, features_code_version
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sql import sql_problems

FEATURE_CHECKS_STEP = "feature_checks"


def build_features_asset(spec: DatasetSpec, raw_asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.features_asset_name,
        partitions_def=daily_partitions(spec),
        deps=[raw_asset],
        group_name="features",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        code_version=features_code_version(spec),
        pool=WAREHOUSE_POOL,
        description=(
            f"Model features for one day of {spec.name}, computed in DuckDB SQL from that day's "
            "gate-passed snapshot, the spec's reference tables and trailing target rates over "
            "earlier days only (point-in-time). Training and scoring read this one definition. "
            "Data version: sha256 of the day's feature rows; code version changes with the spec's "
            "feature definition."
        ),
    )
    def features(context: dg.AssetExecutionContext, state: StateResource) -> dg.MaterializeResult:
        problems = sql_problems(spec)
        if problems:
            raise dg.Failure("the dataset spec's SQL is invalid: " + "; ".join(problems))
        build = build_features(spec, state.layout(), partition_day(context), context.run.run_id)
        context.log.info(
            f"features {build.content_hash[:12]} for {build.day}: {build.rows} rows, "
            f"{len(build.history_days)} earlier days for trailing rates"
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(build.content_hash),
            metadata={
                "content_hash": build.content_hash,
                "raw_snapshot_hash": build.raw_hash,
                "rows": dg.MetadataValue.int(build.rows),
                "label_rate": dg.MetadataValue.float(float(build.label_rate or 0.0)),
                "trailing_history_days": dg.MetadataValue.int(len(build.history_days)),
                "reference_tables": dg.MetadataValue.json(build.reference_hashes),
                "null_rates": records_table(
                    [{"feature": k, "null_rate": v} for k, v in build.null_rates.items()],
                    {"feature": ("string", ""), "null_rate": ("float", "share of the day's rows")},
                ),
                "dagster/column_schema": table_schema(build.columns),
                "dagster/row_count": build.rows,
            },
        )

    return features


def build_feature_checks(spec: DatasetSpec, features_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The feature checks (features/checks.py): blocking checks on the day's features, run as one step (as the
    data gates are)."""
    return daily_checks_step(spec, features_asset, FEATURE_CHECKS_STEP, FEATURE_CHECKS, check_feature_day,
                             f"The checks on one day of {spec.features_asset_name}.")
