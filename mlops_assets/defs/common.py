"""What every asset of the platform shares: owners, partitions built from the spec."""

from __future__ import annotations

import contextlib
import datetime as dt
import os

import dagster as dg

from mlops_assets.core.grain import UNPARTITIONED_START, Grain, key_of
from mlops_assets.core.spec import DatasetSpec

OWNERS = ["team:mlops"]
WAREHOUSE_POOL = "warehouse"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partitions_definition(spec: DatasetSpec) -> dg.TimeWindowPartitionsDefinition | None:
    """The spec's partitions, one per period of its grain (``core.grain``) in the spec's timezone,
    named by their start (the first day; the first hour for hourly); None for an unpartitioned
    dataset, whose assets are then unpartitioned ones built by the same builders."""
    grain = spec.grain
    if not grain.partitioned:
        return None
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=grain.cron_schedule,
        fmt=grain.key_format,
        start=grain.key(spec.partitions.start_date),
        end=grain.key(spec.partitions.end_date) if spec.partitions.end_date else None,
        timezone=spec.timestamp.timezone,
    )


def backfill_policy(spec: DatasetSpec) -> dg.BackfillPolicy | None:
    """How a backfill of the data assets is cut into runs (the spec's backfill_days_per_run partitions)."""
    if not spec.grain.partitioned:
        return None
    days = spec.partitions.backfill_days_per_run
    return dg.BackfillPolicy.single_run() if days is None else dg.BackfillPolicy.multi_run(days)


def partition_day(context, grain: Grain) -> dt.date | dt.datetime:
    """The run's one partition start (a datetime for hourly)."""
    return grain.parse_key(context.partition_key)


def execute_in_process(job: dg.JobDefinition, *, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process``, with no earlier run of this process left STARTED and holding a
    ``warehouse`` slot: a write fault (a full disk) can stop Dagster from recording a run's end, and
    every later run of this process would wait for that slot forever. Released before the run (the
    fault may have outlasted the failed run) and after it. For the CLI and the replay loop, which
    run one job at a time."""
    from mlops_assets.defs.instance import release_abandoned_runs

    release_abandoned_runs(instance, finished_pid=os.getpid())
    try:
        return job.execute_in_process(instance=instance, **kwargs)
    finally:
        with contextlib.suppress(Exception):  # housekeeping never hides the run's own error
            release_abandoned_runs(instance, finished_pid=os.getpid())


def partition_days(context, grain: Grain) -> list[dt.date]:
    """The run's partition starts in order (days, or hours for hourly): one for a partition run,
    every one of the range for a ranged run; the one start of an unpartitioned dataset."""
    if not grain.partitioned:
        return [UNPARTITIONED_START]
    return sorted(grain.parse_key(key) for key in context.partition_keys)


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    """Run tags for one run over the partitions start..end (inclusive), as a backfill launches it."""
    return {RANGE_START_TAG: key_of(start), RANGE_END_TAG: key_of(end)}


def run_partitions(start: dt.date, end: dt.date) -> dict:
    """What selects start..end for a run (``execute_in_process`` or ``RunRequest`` keywords): a
    partition key for one partition, as a run of it has always been tagged; range tags otherwise."""
    return {"partition_key": key_of(start)} if start == end else {"tags": range_tags(start, end)}
