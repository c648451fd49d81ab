"""Jobs run on the local Dagster instance from the command line, with a one-line report per run."""

from __future__ import annotations

import datetime as dt
import time

from mlops_assets.defs.runs import quiet, step_failure_message


def run_training(
    spec, defs, start: dt.date | None, end: dt.date | None, *, last_days: int | None = None,
    trials: int | None = None, holdout_days: int | None = None,
) -> bool:
    """Run the model's training job (snapshot through champion) from ``defs`` on the local instance;
    ``None`` bounds are the training window's defaults (the earliest and latest ingested day)."""
    import dagster as dg

    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.names import ModelNames

    names = ModelNames.of(spec)
    job = defs.resolve_job_def(names.train_job)
    started = time.monotonic()
    window = {"start_date": start and start.isoformat(), "end_date": end and end.isoformat(), "last_n_days": last_days,
              "holdout_days": holdout_days}
    configs: dict = {"training_snapshot": {k: v for k, v in window.items() if v is not None}}
    if trials is not None:
        configs["candidate_model"] = {"trials": trials}
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(job, instance=instance, raise_on_error=False,
                                    run_config=quiet(names.run_config(configs)))
    status = "ok" if result.success else "FAILED"
    span = f"last {last_days} {spec.grain.unit}s to {end or 'the latest'}" if last_days else f"{start or 'earliest'}..{end or 'latest'}"
    print(f"  {names.train_job} {span}: {status} ({time.monotonic() - started:.1f}s, run {result.run_id[:8]})")
    if not result.success:
        print(f"    {step_failure_message(result)}")
    for event in result.get_asset_materialization_events():
        reason = event.event_specific_data.materialization.metadata.get("reason")
        if reason is not None:  # champion_model says whether it promoted or found the champion rebuilt
            print(f"    champion: {reason.value}")
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                print(f"    gate {evaluation.check_name} FAILED: {evaluation.description}")
    return result.success


def run_ingestion(spec, days: list[dt.date], *, labels: bool = False) -> list[dt.date]:
    """Run the ingest job (with ``labels``: the labels job) on the local instance, one ranged run per
    stretch of consecutive days (at most the spec's backfill_days_per_run); returns the days whose
    run failed."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process, run_partitions
    from mlops_assets.defs.names import DatasetNames
    from mlops_assets.pipeline.backfill import day_ranges

    names = DatasetNames.of(spec)
    ingest_job = names.labels_job if labels else names.ingest_job
    job = build_definitions(spec).resolve_job_def(ingest_job)
    failed = []
    with dg.DagsterInstance.get() as instance:
        for first, last in day_ranges(days, spec.partitions.backfill_days_per_run, spec.grain):
            step_started = time.monotonic()
            result = execute_in_process(
                job, **(run_partitions(first, last) if spec.grain.partitioned else {}), instance=instance,
                raise_on_error=False, run_config=quiet(),
            )
            label = spec.grain.label
            span = label(first) if first == last else f"{label(first)}..{label(last)}"
            status = "ok" if result.success else f"FAILED: {step_failure_message(result)}"
            print(f"  {ingest_job} {span}: {status} ({time.monotonic() - step_started:.1f}s, run {result.run_id[:8]})")
            if not result.success:
                failed.extend(day for day in days if first <= day <= last)
    return failed
