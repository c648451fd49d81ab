"""An asset's daily blocking checks as one step: one event-log round and one warehouse connection
per day instead of one per check. Each check stays its own check in the UI, and any subset of them
can be run alone. In a ranged run the step judges every day of the range in order and records each
day's evaluations against that day (``defs.ranges``)."""

import datetime as dt
from typing import Callable

import dagster as dg

from mlops_assets.pipeline.ingest_day import NotMaterializedError
from mlops_assets.defs.common import WAREHOUSE_POOL, partitions_definition, partition_days
from mlops_assets.defs.metadata import check_result
from mlops_assets.defs.ranges import check_outputs, day_check_evaluations, downstream_in_run
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
    partitions = partitions_definition(spec)
    specs = [
        dg.AssetCheckSpec(check.name, asset=asset, blocking=True, partitions_def=partitions,
                          description=check.description)
        for check in checks.values()
    ]

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True, pool=WAREHOUSE_POOL, description=description)
    def day_checks(context: dg.AssetCheckExecutionContext, state: StateResource):
        selected = {key.name for key in context.selected_asset_check_keys}
        days = partition_days(context, spec.grain)
        failed = []
        for day in days:
            try:
                content_hash, results = run_checks(spec, state.layout(), day, context.run.run_id, selected)
            except NotMaterializedError as error:
                raise dg.Failure(str(error)) from None
            # one day: Dagster's block; a range: the downstream step's per-day refusal (defs.ranges)
            yield from day_check_evaluations(
                context.instance, [check_result(r, {"content_hash": content_hash}, asset_key=asset.key) for r in results],
                asset.key, day if spec.grain.partitioned else None, blocking=len(days) == 1,
            )
            failed += [f"{day} {r.check}: {r.summary}" for r in results if not r.passed]
        yield from check_outputs(context)
        if failed and len(days) > 1 and not downstream_in_run(context, asset.key):
            raise dg.Failure(f"{len(failed)} check(s) of {asset.key.to_user_string()} failed: " + "; ".join(failed))

    return day_checks
