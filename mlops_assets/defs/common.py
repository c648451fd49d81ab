"""What every asset of the platform shares: owners, partitions built from the spec."""

from __future__ import annotations

import contextlib
import datetime as dt
import os

import dagster as dg

from mlops_assets.core.spec import DatasetSpec

OWNERS = ["team:mlops"]
WAREHOUSE_POOL = "warehouse"


def daily_partitions(spec: DatasetSpec) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=spec.partitions.end_date.isoformat() if spec.partitions.end_date else None,
        timezone=spec.timestamp.timezone,
    )


def partition_day(context) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


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
