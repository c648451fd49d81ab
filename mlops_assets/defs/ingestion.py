"""raw_<dataset>: daily snapshots of the landing files, and the data gates that guard them."""

import dagster as dg

from mlops_assets.validate.data_gates import DATA_GATES
from mlops_assets.pipeline.ingest_day import gate_raw_day, ingest_and_gate
from mlops_assets.defs.checks import daily_checks_step
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, backfill_policy, partitions_definition, partition_days
from mlops_assets.defs.names import DatasetNames
from mlops_assets.defs.metadata import table_schema
from mlops_assets.defs.ranges import DayOutcome, days_in_order
from mlops_assets.defs.resources import StateResource
from mlops_assets.ingest.snapshots import IngestionError, Snapshot
from mlops_assets.core.spec import DatasetSpec, sections_digest

# 2: dates and times stored as their text, read one way; 3: the data gates' verdicts are written in
# the snapshot's own transaction; 4: a range of days in one run; 5: partitions of the spec's grain
INGESTION_CODE_VERSION = "5"


def ingestion_code_version(spec: DatasetSpec) -> str:
    return f"{INGESTION_CODE_VERSION}-{sections_digest(spec, {'source', 'timestamp'})}"


def build_raw_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.raw_asset_name,
        partitions_def=partitions_definition(spec),
        group_name=DatasetNames.of(spec).group,
        kinds={"duckdb", spec.source.format},
        owners=OWNERS,
        code_version=ingestion_code_version(spec),
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
        description=(
            f"One day of {spec.name} exactly as it landed (landing/{spec.name}/<day>.{spec.source.format}), "
            "captured as an immutable DuckDB snapshot. Versioned by content: the data version is the "
            "sha256 of the canonical rows, so identical content is never stale and changed content is a "
            "new version while the old one stays readable."
        ),
    )
    def raw_snapshot(context: dg.AssetExecutionContext, state: StateResource):
        days = partition_days(context, spec.grain)
        layout = state.layout()

        def snapshot_of(day) -> Snapshot:
            # the gates run here, in the snapshot's transaction; the data_gates step reports their verdicts
            snapshot, _results = ingest_and_gate(spec, layout, day, context.run.run_id)
            return snapshot

        yield from days_in_order(
            context, days, snapshot_of, (IngestionError,),
            outcome=lambda s: DayOutcome(s.day, s.content_hash, snapshot_metadata(s)),
            stopped=lambda day, error, snapshots: (
                f"ingestion stopped at {day}: {error}. "
                + (f"Snapshotted {days[0]}..{snapshots[-1].day}; " if snapshots else "")
                + f"not ingested: {day}..{days[-1]}"
            ),
            summary=lambda s: (f"{'new' if s.is_new else 'unchanged'} snapshot {s.content_hash[:12]} of {s.day}: "
                               f"{s.rows} rows from {s.source_file}"),
            alone_raises=True,
        )

    return raw_snapshot


def snapshot_metadata(snapshot: Snapshot) -> dict:
    return {
        "content_hash": snapshot.content_hash,
        "rows": dg.MetadataValue.int(snapshot.rows),
        "source_file": dg.MetadataValue.path(snapshot.source_file),
        "source_sha256": snapshot.source_sha256,
        "first_timestamp": str(snapshot.min_timestamp),
        "last_timestamp": str(snapshot.max_timestamp),
        "new_version": snapshot.is_new,
        "warehouse_table": snapshot.qualified_table,
        "dagster/column_schema": table_schema(snapshot.columns),
        "dagster/row_count": snapshot.rows,
    }


def build_data_gate_checks(spec: DatasetSpec, raw_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The data gates (validate/data_gates.py): blocking checks on the day's raw snapshot, run as one step."""
    return daily_checks_step(spec, raw_asset, DatasetNames.of(spec).data_gates_step, DATA_GATES, gate_raw_day,
                             f"The data gates on one day of {spec.raw_asset_name}.")
