"""Ranged runs: one step over many days that reports every day as a run of that day alone would.

A backfill of the daily data assets runs as few runs as the spec's ``backfill_days_per_run`` allows;
each step then covers a range of days and works through them in order (``partition_days``), so a
day's point-in-time features only ever see earlier days' accepted snapshots. The raw snapshot and
label steps stop at the first day that fails, after recording the days before it (``days_in_order``).

Dagster 1.13 turns a step's output into one materialization per partition of the range, all with
the same data version and tags (dagster-io/dagster#18123). Our data versions are each day's content
hash, so a ranged step reports each day itself: after its output, which Dagster needs to run the
steps downstream in the run, it records one materialization per day with the tags a run of that
one day writes (content-hash data version, code version, input data version and event pointer), and
one check evaluation per day and check. Every day's latest materialization and check evaluations
are then those of a day-by-day run; the range's own materialization stays in the history before it.

Blocking checks: in a run of one day a failed ERROR check stops what is downstream in the run, as
Dagster does. In a range, Dagster would skip the whole downstream step, the good days with the bad
one; so a ranged checks step records failures as non-blocking events and the per-day refusal
downstream keeps the guarantee: the features step refuses any day whose snapshot has not passed
every data gate (``features.build``), stops there and names the day and the gate. Its failure skips
the feature checks step, so before failing it judges the days it did build itself: the days before
the bad one end with features and verdicts, as day-by-day runs leave them. A ranged checks step with
nothing downstream of its asset in the run fails itself, naming the days and checks.

Monitoring (scoring, drift, live performance): a day reads only its own features and predictions,
so a day that cannot be done (no checked features, labels not arrived) does not stop the others
(``each_day``). The step records every other day and then fails naming the days it could not do.
A failed step skips the steps downstream of it for the whole range, so before failing it does
their days itself for the days it did (as the features step judges its built days).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)

from mlops_assets.core.grain import UNPARTITIONED_START, key_of, start_of_key

RANGE_OUTPUT_NOTE = "ranged run: this day's own materialization follows"
T = TypeVar("T")


def range_output(days: list[dt.date]) -> dg.MaterializeResult:
    """The output a ranged step yields before its per-day materializations (Dagster writes it to
    every day of the range; the day's own materialization supersedes it)."""
    return dg.MaterializeResult(metadata={"ranged_run": f"{days[0]}..{days[-1]} ({len(days)} days); {RANGE_OUTPUT_NOTE}"})


def day_materialization(
    context: dg.AssetExecutionContext,
    day: dt.date,
    data_version: str,
    metadata: dict[str, Any],
    parents: Iterable[dg.AssetKey] = (),
    *,
    parent_days: Mapping[dg.AssetKey, dt.date] | None = None,
    asset: dg.AssetsDefinition | None = None,
) -> dg.AssetMaterialization:
    """One day's materialization with the tags Dagster writes when a run materializes that day alone.

    ``parent_days``: the parent's day where its partition mapping is not the same day; ``asset``: an
    asset downstream in the run whose day this step does for it (default: the step's own asset)."""
    asset = asset or context.assets_def
    key = asset.key
    tags = {
        CODE_VERSION_TAG: asset.code_versions_by_key[key] or context.run.run_id,
        DATA_VERSION_TAG: data_version,
        DATA_VERSION_IS_USER_PROVIDED_TAG: "true",
    }
    for parent in parents:
        record = _latest_materialization(context.instance, parent, (parent_days or {}).get(parent, day))
        if record is None:
            continue
        parent_version = record.event_log_entry.tags.get(DATA_VERSION_TAG, "")
        # Dagster's input data version for a partitioned input: sha256 over its partitions' versions
        tags[get_input_data_version_tag(parent)] = hashlib.sha256(parent_version.encode()).hexdigest()
        # its event pointer: the parent's newest materialization of any day when the day runs alone,
        # which is this day's own if the parent is materialized in the run
        if not selected_in_run(context, parent):
            record = _latest_materialization(context.instance, parent, None) or record
        tags[get_input_event_pointer_tag(parent)] = str(record.storage_id)
    return dg.AssetMaterialization(asset_key=key, partition=key_of(day), metadata=metadata, tags=tags)


def day_check_evaluations(
    instance: dg.DagsterInstance, results: list[dg.AssetCheckResult], asset_key: dg.AssetKey, day: dt.date,
    *, blocking: bool,
) -> list[dg.AssetCheckEvaluation]:
    """One day's evaluations of its checks, against that day's latest materialization of ``asset_key``."""
    record = _latest_materialization(instance, asset_key, day)
    target = None if record is None else AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp,
    )
    return [
        dg.AssetCheckEvaluation(
            asset_key=asset_key, check_name=result.check_name, passed=result.passed, metadata=result.metadata,
            target_materialization_data=target, severity=result.severity, description=result.description,
            blocking=blocking, partition=None if day is None else key_of(day),
        )
        for result in results
    ]


def check_outputs(context: dg.AssetCheckExecutionContext):
    """The step's outputs for its checks (what yielding an AssetCheckResult does), so that the steps
    gated on them see them emitted."""
    asset_layer = context.job_def.asset_layer
    for key in context.selected_asset_check_keys:
        yield dg.Output(None, output_name=asset_layer.get_op_output_name(key))


def downstream_in_run(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> bool:
    """Whether an asset built from ``asset_key`` is materialized in this run (it then refuses bad days itself)."""
    asset_layer = context.job_def.asset_layer
    selected = context.run.asset_selection or asset_layer.selected_asset_keys
    return bool(asset_layer.get(asset_key).child_keys & set(selected))


def checks_in_run(context: dg.AssetExecutionContext, asset_key: dg.AssetKey) -> set[str]:
    """Names of the checks of ``asset_key`` that this run executes."""
    keys = context.run.asset_check_selection
    if keys is None:
        keys = context.job_def.asset_layer.asset_graph.get(asset_key).check_keys
    return {key.name for key in keys if key.asset_key == asset_key}


@dataclass(frozen=True)
class DayOutcome:
    """What a step did for one day: its data version and materialization metadata."""

    day: dt.date
    data_version: str
    metadata: dict[str, Any]


def each_day(
    days: list[dt.date], work: Callable[[dt.date], DayOutcome], errors: tuple[type[Exception], ...]
) -> tuple[list[DayOutcome], dict[dt.date, str]]:
    """``work`` for every day in order; a day failing with one of ``errors`` is named with its reason
    and the next day still runs (any other error stops the step)."""
    done, failed = [], {}
    for day in days:
        try:
            done.append(work(day))
        except errors as error:
            failed[day] = str(error)
    return done, failed


def failed_days_message(asset_key: dg.AssetKey, days: list[dt.date], failed: Mapping[dt.date, str]) -> str:
    done = len(days) - len(failed)
    return (f"{asset_key.to_user_string()}: {len(failed)} of {len(days)} day(s) failed, {done} done; "
            + "; ".join(f"{day}: {reason}" for day, reason in sorted(failed.items())))


def days_in_order(
    context: dg.AssetExecutionContext,
    days: list[dt.date],
    work: Callable[[dt.date], T],
    errors: tuple[type[Exception], ...],
    outcome: Callable[[T], DayOutcome],
    stopped: Callable[[dt.date, Exception, list[T]], str],
    summary: Callable[[T], str],
    *,
    alone_raises: bool = False,
    parents: "Parents | None" = None,
    before_failing: Callable[[list[T]], Iterable] | None = None,
):
    """The events of a step that does its days in order and stops at the first that fails with one of
    ``errors``: each day's ``outcome`` (one day as a run of it always did, a range as ``range_output``
    and a materialization a day, with its ``parents``' versions) after one log line a day
    (``summary``). On the failing day a range first records the days done before it and yields
    ``before_failing``'s events for them, then fails with ``stopped``'s message (given the day, the
    error and what was done); a run of one day fails with that message too, or with the error itself
    where ``alone_raises``."""
    done: list[T] = []
    for day in days:
        try:
            done.append(work(day))
        except errors as error:
            if alone_raises and len(days) == 1:
                raise
            yield from _day_materializations(context, [outcome(d) for d in done], parents or {})
            if before_failing is not None:
                yield from before_failing(done)
            raise dg.Failure(stopped(day, error, done)) from None
    # one log event for the step, not one a day: each event costs ~20-40 ms on the sqlite instance
    context.log.info("\n".join(summary(d) for d in done))
    outcomes = [outcome(d) for d in done]
    if len(days) == 1:
        yield dg.MaterializeResult(data_version=dg.DataVersion(outcomes[0].data_version), metadata=outcomes[0].metadata)
    else:
        yield range_output(days)
        yield from _day_materializations(context, outcomes, parents or {})


# a parent of a daily asset -> the days from the asset's day to the parent's (0: the same day)
Parents = Mapping[dg.AssetKey, int]
# (an asset downstream in the run, its work for a day, its parents)
Downstream = tuple[dg.AssetsDefinition, Callable[[dt.date], DayOutcome], Parents]


def independent_days(
    context: dg.AssetExecutionContext,
    work: Callable[[dt.date], DayOutcome],
    parents: Parents,
    errors: tuple[type[Exception], ...],
    downstream: Iterable[Downstream] = (),
):
    """The events of a step whose days do not read each other: one day as a run of it always did;
    a range day by day, every day it can, then failing naming the days it could not do, after doing
    the ``downstream`` assets of this run (which its failure skips) for the days it did."""
    days = ([UNPARTITIONED_START] if context.assets_def.partitions_def is None
            else sorted(start_of_key(key) for key in context.partition_keys))
    if len(days) == 1:
        outcome = work(days[0])
        yield dg.MaterializeResult(data_version=dg.DataVersion(outcome.data_version), metadata=outcome.metadata)
        return
    done, failed = each_day(days, work, errors)
    if not failed:
        yield range_output(days)
    yield from _day_materializations(context, done, parents)
    if not failed:
        return
    messages = [failed_days_message(context.assets_def.key, days, failed)]
    done_days = [outcome.day for outcome in done]
    for asset, their_work, their_parents in downstream:
        if done_days and selected_in_run(context, asset.key):
            theirs, their_failed = each_day(done_days, their_work, errors)
            yield from _day_materializations(context, theirs, their_parents, asset)
            if their_failed:
                messages.append(failed_days_message(asset.key, done_days, their_failed))
            else:
                messages.append(f"{asset.key.to_user_string()} done here for the {len(done_days)} other day(s)")
    raise dg.Failure(". ".join(messages))


def _day_materializations(context, outcomes: list[DayOutcome], parents: Parents, asset=None):
    for outcome in outcomes:
        yield day_materialization(
            context, outcome.day, outcome.data_version, outcome.metadata, parents,
            parent_days={key: _later(outcome.day, offset) for key, offset in parents.items()},
            asset=asset,
        )


def _later(day: dt.date, partitions: int) -> dt.date:
    """The partition ``partitions`` after ``day``: hours after an hour, days after a date."""
    return day + (dt.timedelta(hours=partitions) if isinstance(day, dt.datetime) else dt.timedelta(days=partitions))


def selected_in_run(context: dg.AssetExecutionContext, asset_key: dg.AssetKey) -> bool:
    """Whether this run materializes ``asset_key``."""
    selected = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    return asset_key in selected


def _latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey, day: dt.date | None):
    """The newest materialization of ``asset_key`` on ``day`` (None: on any day)."""
    partitions = None if day is None else [key_of(day)]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=1
    ).records
    return records[0] if records else None
