"""The model commands: train, score, rollback, overrides, registry resets and the ledger."""

from __future__ import annotations

import sys
import time

from mlops_assets.cli import runs
from mlops_assets.cli.common import UsageError, dataset_spec, model_spec, model_target, state_layout
from mlops_assets.defs.runs import quiet, step_failure_message


def train(args) -> int:
    start, end, last_days = args.start, args.end, args.last_days
    if start is not None and last_days is not None:
        raise UsageError("give --start or --last-days, not both")
    from mlops_assets.core.grain import GRAINS

    as_time = GRAINS["hourly"].as_start  # a day and an hour compare as times
    if start is not None and end is not None and as_time(start) > as_time(end):
        raise UsageError(f"--start {start} is after --end {end}")
    from mlops_assets.cli.report import model_summary

    layout = state_layout(args)
    spec, defs = model_target(args)
    trained = runs.run_training(spec, defs, start, end, last_days=last_days, trials=args.trials,
                                holdout_days=args.holdout_days)
    print(model_summary(spec, layout))
    return 0 if trained else 1


def score(args) -> int:
    import dagster as dg

    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.names import ModelNames

    layout = state_layout(args)
    spec, defs = model_target(args)
    score_job = ModelNames.of(spec).job("score")
    day = spec.grain.partition_of(args.day)  # the partition holding the day (or hour) asked for
    partitions = spec.partitions
    if day < spec.grain.as_start(partitions.start_date) or (
            partitions.end_date and day >= spec.grain.as_start(partitions.end_date)):
        raise UsageError(f"--day {day} is outside {spec.name}'s partitions "
                          f"({partitions.start_date} to {partitions.end_date or 'open-ended'})")
    job = defs.resolve_job_def(score_job)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        partition_key = spec.grain.key(day) if spec.grain.partitioned else None
        result = execute_in_process(job, instance=instance, partition_key=partition_key, raise_on_error=False,
                                    run_config=quiet())
    status = "ok" if result.success else "FAILED"
    print(f"  {score_job} {spec.grain.label(day)}: {status} ({time.monotonic() - started:.1f}s, run {result.run_id[:8]})")
    if not result.success:
        print(f"score refused: {step_failure_message(result)}", file=sys.stderr)
        return 1
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        shown = {key: value.value for key, value in materialization.metadata.items()
                 if key in ("rows", "champion_version", "mean_score", "high_drift", "moderate_drift")}
        print(f"  {materialization.asset_key.to_user_string()}: "
              + ", ".join(f"{key} {value}" for key, value in shown.items()))
    print(f"reports: {layout.model_reports_dir(spec.model.name)}")
    return 0


def operator(args) -> str:
    import getpass

    return args.operator or getpass.getuser()


def rollback(args) -> int:
    import dagster as dg

    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.names import ModelNames

    layout = state_layout(args)
    spec, defs = model_target(args)
    names = ModelNames.of(spec)
    config = {"reason": args.reason, "to_version": args.to_version, "operator": operator(args),
              "override_until": args.override_until}
    job = defs.resolve_job_def(names.rollback_job)
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(
            job, instance=instance, raise_on_error=False,
            run_config=quiet(names.run_config({"roll_back_champion": config})),
        )
    if not result.success:
        print(f"rollback refused: {step_failure_message(result)} (run {result.run_id[:8]})", file=sys.stderr)
        return 1
    from mlops_assets.promote import ledger
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        entry = ledger.entries(con, spec.model.name)[-1]
    print(f"champion is now version {entry.to_version} (was {entry.from_version}); ledger: {entry.reason}")
    return 0


def override(args) -> int:
    from mlops_assets.gate.registry import PROMOTION_GATES
    from mlops_assets.gate.overrides import OverrideRefused, grant, parse_expiry
    from mlops_assets.core.verdicts import evaluation_asset
    from mlops_assets.core.warehouse import connect

    layout, (spec, _) = state_layout(args), model_spec(args)
    if len(args.sha) < 8:
        raise OverrideRefused("--sha needs at least 8 characters of the model's sha256")
    with connect(layout.warehouse_path) as con:
        matches = [row[0] for row in con.execute(
            "SELECT DISTINCT content_hash FROM gate_results WHERE dataset = ? AND asset = ? AND starts_with(content_hash, ?)",
            [spec.name, evaluation_asset(spec.model.name), args.sha.lower()],
        ).fetchall()]
        if len(matches) != 1:
            raise OverrideRefused(f"--sha {args.sha} matches {len(matches)} evaluated models of {spec.model.name}; "
                                  "give more of its sha256")
        granted = grant(con, model=spec.model.name, model_sha256=matches[0], gates=args.gates, operator=operator(args),
                        reason=args.reason, expires_at=parse_expiry(args.until), known_gates=list(PROMOTION_GATES))
    for item in granted:
        print(f"override recorded for model {item.model_sha256[:12]}: {item.sentence()}")
    print(f"re-execute the failed {spec.model.name}_train_job run (or train again) to promote it")
    return 0


def acknowledge_registry_reset(args) -> int:
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.core.warehouse import connect
    from mlops_assets.promote.agreement import acknowledge_reset

    layout, (spec, _) = state_layout(args), model_spec(args)
    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name(spec))
    with connect(layout.warehouse_path) as con:
        entry = acknowledge_reset(con, spec.model.name, registry, operator=operator(args), reason=args.reason)
    print(f"recorded: version {entry.from_version} (model {entry.model_sha256[:12]}) is no longer the champion; "
          "the next train_job may promote a new first champion")
    return 0


def ledger(args) -> int:
    from mlops_assets.promote import ledger
    from mlops_assets.core.warehouse import connect

    layout, (spec, _) = state_layout(args), model_spec(args)
    with connect(layout.warehouse_path) as con:
        rows = ledger.entries(con, spec.model.name)
    for entry in rows:
        print(f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}  {entry.action:<8} {entry.from_version or '-':>4} -> "
              f"{entry.to_version:<4} by {entry.operator}: {entry.reason}")
    if not rows:
        print("the ledger is empty: no champion yet")
    return 0


def migrate(args) -> int:
    from mlops_assets.pipeline.state_migration import migrate_to_models

    layout, spec = state_layout(args), dataset_spec(args)
    migration = migrate_to_models(layout, spec)
    if not migration.changed:
        print(f"nothing to migrate: the state of {spec.name} in {layout.root} is already keyed by model")
        return 0
    print(f"the state of {spec.name} now belongs to its model {migration.model}:")
    for item in [*migration.tables, *migration.moved]:
        print(f"  {item}")
    return 0
