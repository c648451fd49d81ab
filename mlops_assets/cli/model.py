"""The model commands: train, score, rollback, overrides, registry resets and the ledger."""

from __future__ import annotations

import sys
import time

from mlops_assets.cli import runs
from mlops_assets.cli.common import UsageError, dataset_spec, state_layout
from mlops_assets.defs.runs import quiet, step_failure_message


def train(args) -> int:
    start, end, last_days = args.start, args.end, args.last_days
    if start is not None and last_days is not None:
        raise UsageError("give --start or --last-days, not both")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    from mlops_assets.cli.report import model_summary

    layout, spec = state_layout(args), dataset_spec(args)
    trained = runs.run_training(spec, start, end, last_days=last_days, trials=args.trials, holdout_days=args.holdout_days)
    print(model_summary(spec, layout))
    return 0 if trained else 1


def score(args) -> int:
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.jobs import SCORE_JOB

    layout, spec = state_layout(args), dataset_spec(args)
    day = spec.grain.first_day(args.day)  # the partition holding the day asked for
    partitions = spec.partitions
    if day < partitions.start_date or (partitions.end_date and day >= partitions.end_date):
        raise UsageError(f"--day {day} is outside {spec.name}'s partitions "
                          f"({partitions.start_date} to {partitions.end_date or 'open-ended'})")
    job = build_definitions(spec).resolve_job_def(SCORE_JOB)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(job, instance=instance, partition_key=day.isoformat(), raise_on_error=False,
                                    run_config=quiet())
    status = "ok" if result.success else "FAILED"
    print(f"  {SCORE_JOB} {day}: {status} ({time.monotonic() - started:.1f}s, run {result.run_id[:8]})")
    if not result.success:
        print(f"score refused: {step_failure_message(result)}", file=sys.stderr)
        return 1
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        shown = {key: value.value for key, value in materialization.metadata.items()
                 if key in ("rows", "champion_version", "mean_score", "high_drift", "moderate_drift")}
        print(f"  {materialization.asset_key.to_user_string()}: "
              + ", ".join(f"{key} {value}" for key, value in shown.items()))
    print(f"reports: {layout.reports_dir / spec.name}")
    return 0


def operator(args) -> str:
    import getpass

    return args.operator or getpass.getuser()


def rollback(args) -> int:
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.rollback import ROLLBACK_JOB

    layout, spec = state_layout(args), dataset_spec(args)
    config = {"reason": args.reason, "to_version": args.to_version, "operator": operator(args),
              "override_until": args.override_until}
    job = build_definitions(spec).resolve_job_def(ROLLBACK_JOB)
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(
            job, instance=instance, raise_on_error=False,
            run_config=quiet({"ops": {"roll_back_champion": {"config": config}}}),
        )
    if not result.success:
        print(f"rollback refused: {step_failure_message(result)} (run {result.run_id[:8]})", file=sys.stderr)
        return 1
    from mlops_assets.promote import ledger
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        entry = ledger.entries(con, spec.name)[-1]
    print(f"champion is now version {entry.to_version} (was {entry.from_version}); ledger: {entry.reason}")
    return 0


def override(args) -> int:
    from mlops_assets.gate.registry import PROMOTION_GATES
    from mlops_assets.gate.overrides import OverrideRefused, grant, parse_expiry
    from mlops_assets.core.verdicts import EVALUATION_ASSET
    from mlops_assets.core.warehouse import connect

    layout, spec = state_layout(args), dataset_spec(args)
    if len(args.model) < 8:
        raise OverrideRefused("--model needs at least 8 characters of the model's sha256")
    with connect(layout.warehouse_path) as con:
        matches = [row[0] for row in con.execute(
            "SELECT DISTINCT content_hash FROM gate_results WHERE dataset = ? AND asset = ? AND starts_with(content_hash, ?)",
            [spec.name, EVALUATION_ASSET, args.model.lower()],
        ).fetchall()]
        if len(matches) != 1:
            raise OverrideRefused(f"--model {args.model} matches {len(matches)} evaluated models; give more of its sha256")
        granted = grant(con, dataset=spec.name, model_sha256=matches[0], gates=args.gates, operator=operator(args),
                        reason=args.reason, expires_at=parse_expiry(args.until), known_gates=list(PROMOTION_GATES))
    for item in granted:
        print(f"override recorded for model {item.model_sha256[:12]}: {item.sentence()}")
    print("re-execute the failed train_job run (or run train_job again) to promote it")
    return 0


def acknowledge_registry_reset(args) -> int:
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.core.warehouse import connect
    from mlops_assets.promote.agreement import acknowledge_reset

    layout, spec = state_layout(args), dataset_spec(args)
    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name(spec))
    with connect(layout.warehouse_path) as con:
        entry = acknowledge_reset(con, spec.name, registry, operator=operator(args), reason=args.reason)
    print(f"recorded: version {entry.from_version} (model {entry.model_sha256[:12]}) is no longer the champion; "
          "the next train_job may promote a new first champion")
    return 0


def ledger(args) -> int:
    from mlops_assets.promote import ledger
    from mlops_assets.core.warehouse import connect

    layout, spec = state_layout(args), dataset_spec(args)
    with connect(layout.warehouse_path) as con:
        rows = ledger.entries(con, spec.name)
    for entry in rows:
        print(f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}  {entry.action:<8} {entry.from_version or '-':>4} -> "
              f"{entry.to_version:<4} by {entry.operator}: {entry.reason}")
    if not rows:
        print("the ledger is empty: no champion yet")
    return 0
