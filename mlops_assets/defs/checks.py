"""An asset's daily blocking checks as one step: one event-log round and one warehouse connection
per day instead of one per check. Each check stays its own check in the UI, and any subset of them
can be run alone."""

import datetime as dt
from typing import Callable

import dagster as dg

from mlops_assets.pipeline.ingest_day import NotMaterializedError
from mlops_assets.defs.common import WAREHOUSE_POOL, daily_partitions, partition_day
from mlops_assets.defs.metadata import check_result
from mlops_assets.defs.resources import StateResource
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import Check, GateResult

# (spec, layout, day, run_id, check names) -> (content hash judged, results in order)
DayChecks = Callable[[DatasetSpec, StateLayout, dt.date, str, set[str]], tuple[str, list[GateResult]]]


def daily_checks_step(
    spec: DatasetSpec,
    asset: dg.AssetsDefinition,
    name: str,
    checks: dict[str, Check],
    run_checks: DayChecks,
    description: str,
) -> dg.AssetChecksDefinition:
    partitions = daily_partitions(spec)
    specs = [
        dg.AssetCheckSpec(check.name, asset=asset, blocking=True, partitions_def=partitions,
                          description=check.description)
        for check in checks.values()
    ]

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True, pool=WAREHOUSE_POOL, description=description)
    def day_checks(context: dg.AssetCheckExecutionContext, state: StateResource):
        selected = {key.name for key in context.selected_asset_check_keys}
        try:
            content_hash, results = run_checks(spec, state.layout(), partition_day(context), context.run.run_id, selected)
        except NotMaterializedError as error:
            raise dg.Failure(str(error)) from None
        for result in results:
            yield check_result(result, {"content_hash": content_hash}, asset_key=asset.key)

    return day_checks
