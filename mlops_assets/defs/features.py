"""<dataset>_features: the day's point-in-time features, and the checks that guard them."""


import dagster as dg

from mlops_assets.pipeline.ingest_day import check_feature_day
from mlops_assets.defs.checks import daily_checks_step
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, backfill_policy, partitions_definition, partition_days
from mlops_assets.defs.names import DatasetNames
from mlops_assets.defs.metadata import check_result, records_table, table_schema
from mlops_assets.defs.ranges import DayOutcome, checks_in_run, day_check_evaluations, days_in_order
from mlops_assets.defs.resources import StateResource
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.features.build import FeatureBuild, FeatureError, build_features, features_code_version
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.spec_sql import sql_problems



def build_features_asset(spec: DatasetSpec, raw_asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.features_asset_name,
        partitions_def=partitions_definition(spec),
        deps=[raw_asset],
        group_name=DatasetNames.of(spec).group,
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        code_version=features_code_version(spec),
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
        description=(
            f"Model features for one day of {spec.name}, computed in DuckDB SQL from that day's "
            "gate-passed snapshot, the spec's reference tables and trailing target rates over "
            "earlier days only (point-in-time). Training and scoring read this one definition. "
            "Data version: sha256 of the day's feature rows; code version changes with the spec's "
            "feature definition."
        ),
    )
    def features(context: dg.AssetExecutionContext, state: StateResource):
        problems = sql_problems(spec)
        if problems:
            raise dg.Failure("the dataset spec's SQL is invalid: " + "; ".join(problems))
        days = partition_days(context, spec.grain)
        # in order: a day's trailing rates read the days before it that passed their gates
        yield from days_in_order(
            context, days, lambda day: build_features(spec, state.layout(), day, context.run.run_id), (FeatureError,),
            outcome=lambda b: DayOutcome(b.day, b.content_hash, features_metadata(b)),
            stopped=lambda day, error, built: (
                f"features stopped at {day}: {error}. "
                + (f"Built {days[0]}..{built[-1].day}; " if built else "")
                + f"not built: {day}..{days[-1]} (later days follow {day}: their trailing rates include it once it passes)"
            ),
            summary=lambda b: (f"features {b.content_hash[:12]} for {b.day}: {b.rows} rows, {len(b.history_days)} "
                               "earlier days for trailing rates"),
            alone_raises=True, parents={raw_asset.key: 0},
            # this failure skips the feature checks step: judge the days built so far here
            before_failing=lambda built: _checks_of(context, spec, state, built),
        )

    return features


def features_metadata(build: FeatureBuild) -> dict:
    return {
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
    }


def _checks_of(context: dg.AssetExecutionContext, spec: DatasetSpec, state: StateResource, builds: list[FeatureBuild]):
    """The feature checks of this run on the days built, as the feature checks step records them."""
    key = context.assets_def.key
    names = checks_in_run(context, key)
    for build in builds if names else []:
        content_hash, results = check_feature_day(spec, state.layout(), build.day, context.run.run_id, names)
        yield from day_check_evaluations(
            context.instance, [check_result(r, {"content_hash": content_hash}, asset_key=key) for r in results],
            key, build.day, blocking=False,
        )


def build_feature_checks(spec: DatasetSpec, features_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The feature checks (features/checks.py): blocking checks on the day's features, run as one step (as the
    data gates are)."""
    return daily_checks_step(spec, features_asset, DatasetNames.of(spec).feature_checks_step, FEATURE_CHECKS, check_feature_day,
                             f"The checks on one day of {spec.features_asset_name}.")
