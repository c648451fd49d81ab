"""What every asset of the platform shares: owners, partitions built from the spec."""

from __future__ import annotations

import datetime as dt

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
