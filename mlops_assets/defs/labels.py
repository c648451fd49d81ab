"""<dataset>_labels: the outcomes of a partition's rows, landed after them (a dataset with a label feed)."""

import dataclasses

import dagster as dg

from mlops_assets.core.spec import DatasetSpec, sections_digest
from mlops_assets.defs.common import OWNERS, WAREHOUSE_POOL, backfill_policy, partition_days, partitions_definition
from mlops_assets.defs.names import DatasetNames
from mlops_assets.defs.ranges import DayOutcome, days_in_order
from mlops_assets.defs.resources import StateResource
from mlops_assets.ingest.labels import LabelBatch, LabelError, ingest_labels

LABELS_CODE_VERSION = "1"


def build_labels_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    names = DatasetNames.of(spec)

    @dg.asset(
        name=names.labels_asset,
        partitions_def=partitions_definition(spec),
        group_name=names.group,
        kinds={"duckdb", spec.source.format},
        owners=OWNERS,
        code_version=f"{LABELS_CODE_VERSION}-{sections_digest(spec, {'labels', 'targets', 'entity_key'})}",
        pool=WAREHOUSE_POOL,
        backfill_policy=backfill_policy(spec),
        description=(
            f"The outcomes of one partition of {spec.name}, as landed in landing/{spec.name}/labels/ "
            f"({', '.join(spec.label_columns)} by entity key), checked against their column rules, with every "
            "target computed from them. A later file replaces the partition's labels (labels may land late, "
            "out of order or partially); each model's live performance is measured when they land. Data "
            "version: the sha256 of the stored labels."
        ),
    )
    def labels(context: dg.AssetExecutionContext, state: StateResource):
        days = partition_days(context, spec.grain)
        layout = state.layout()
        yield from days_in_order(
            context, days, lambda day: ingest_labels(spec, layout, day, context.run.run_id), (LabelError,),
            outcome=lambda b: DayOutcome(b.day, b.content_hash, label_metadata(b)),
            stopped=lambda day, error, _stored: f"labels of {day} not stored: {error}",
            summary=lambda b: (
                f"{'new' if b.is_new else 'unchanged'} labels of {b.day}: {b.rows} rows"
                + (f", {b.coverage:.0%} of its rows" if b.coverage is not None else ", no rows ingested yet")
            ),
        )

    return labels


def build_label_checks(spec: DatasetSpec, labels_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The features' outcome checks, judged again on each partition whose labels land (the verdict is
    also recorded as the features' own: ``pipeline.ingest_day.check_labelled_features``)."""
    from mlops_assets.defs.checks import daily_checks_step
    from mlops_assets.features.checks import OUTCOME_CHECKS
    from mlops_assets.pipeline.ingest_day import check_labelled_features

    checks = {
        name: dataclasses.replace(check, description=(
            f"{check.description} Judged again on the partition's {spec.features_asset_name} with these labels "
            "(built before them, the features had no outcome to be measured against); a failure keeps the "
            "partition out of training."))
        for name, check in OUTCOME_CHECKS.items()
    }
    return daily_checks_step(spec, labels_asset, DatasetNames.of(spec).label_checks_step, checks, check_labelled_features,
                             f"The features' outcome checks on one partition of {spec.name}, once its labels land.")


def label_metadata(batch: LabelBatch) -> dict:
    metadata = {
        "content_hash": batch.content_hash,
        "rows": dg.MetadataValue.int(batch.rows),
        "source_file": dg.MetadataValue.path(batch.source_file),
        "new_version": batch.is_new,
        "dagster/row_count": batch.rows,
    }
    if batch.matched_rows is not None:
        metadata["rows_matched"] = dg.MetadataValue.int(batch.matched_rows)
    if batch.coverage is not None:
        metadata["coverage"] = dg.MetadataValue.float(round(batch.coverage, 4))
    metadata.update({f"{name}_rate": dg.MetadataValue.float(rate) for name, rate in batch.target_rates.items()
                     if rate is not None})
    return metadata
