"""<dataset>_features: the day's point-in-time features, and the checks that guard them."""


import dagster as dg

from mlops_assets import verdicts
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, daily_partitions, partition_day
from mlops_assets.defs.metadata import check_result, records_table, table_schema
from mlops_assets.defs.resources import StateResource
from mlops_assets.feature_checks import FEATURE_CHECKS, FEATURES_ASSET
from mlops_assets.features import build_features, current_feature_version, features_code_version
from mlops_assets.spec import DatasetSpec, sql_problems
from mlops_assets.warehouse import connect

CHECK_DESCRIPTIONS = {
    "check_feature_schema": "Every declared feature is present, of its kind, in its range and under its null ceiling.",
    "check_no_leakage": (
        "No outcome-side column (or a column derived from one, by feature-SQL lineage or a "
        "near-perfect single-feature AUC) reaches the feature set."
    ),
}


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


def build_feature_checks(spec: DatasetSpec, features_asset: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    return [_feature_check(spec, features_asset, name) for name in FEATURE_CHECKS]


def _feature_check(spec: DatasetSpec, features_asset: dg.AssetsDefinition, name: str) -> dg.AssetChecksDefinition:
    rule = FEATURE_CHECKS[name]

    @dg.asset_check(
        asset=features_asset,
        name=name,
        blocking=True,
        partitions_def=daily_partitions(spec),
        pool=WAREHOUSE_POOL,
        description=CHECK_DESCRIPTIONS[name],
    )
    def feature_check(context: dg.AssetCheckExecutionContext, state: StateResource) -> dg.AssetCheckResult:
        day = partition_day(context)
        with connect(state.layout().warehouse_path) as con:
            version = current_feature_version(con, spec, day)
            if version is None:
                raise dg.Failure(f"no features of {spec.name} for {day}; materialize {spec.features_asset_name} first")
            result = rule(con, spec, day)
            verdicts.record(
                con, dataset=spec.name, asset=FEATURES_ASSET, day=day,
                content_hash=version[0], result=result, run_id=context.run.run_id,
            )
        return check_result(result, {"content_hash": version[0]})

    return feature_check
