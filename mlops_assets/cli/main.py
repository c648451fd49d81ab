"""``mlops-assets``: the command line for people who are not in the Dagster UI.

- ``demo``: land the first days of the dataset and run the lifecycle on them through Dagster, on the
  embedded defaults, then print what happened. Runs are recorded in the local Dagster instance, so
  ``mlops-assets dev`` shows them afterwards.
- ``replay``: land whole days from the dataset's source into the landing folder.
- ``backfill``: ingest the landed days of a range through Dagster, in ranged runs.
- ``validate``: check a dataset spec without running anything.
- ``dev``: start ``dagster dev`` (webserver and daemon) on 127.0.0.1 with the state folder wired in.
- ``rollback``: run rollback_job (previous champion, or a named version) on the local instance.
- ``override``: record a gate override (who, why, until when) for one model.
- ``acknowledge-registry-reset``: record that the ledger's champion is gone from a lost MLflow store.
- ``ledger``: print the promotion ledger.
- ``train``: run train_job on a window of ingested days (``--start/--end`` or ``--last-days``).
- ``score``: run score_job on one ingested day (predictions and drift).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from mlops_assets.core.paths import PROJECT_ROOT, StateLayout
from mlops_assets.defs.runs import quiet, step_failure_message


class UsageError(RuntimeError):
    """A command line that cannot be run as given; the message names the argument."""


class _Parser(argparse.ArgumentParser):
    """argparse, raising instead of printing usage and exiting, so every refusal is one line."""

    def error(self, message: str):
        # argparse says "argument --days: must be ..."; say "--days must be ..."
        message = re.sub(r"^argument (\S+): ", r"\1 ", message)
        raise UsageError(f"{self.prog}: {message}")


def main(argv: list[str] | None = None) -> int:
    """Run a command; a refusal (bad arguments, spec, state folder or warehouse) is one line on
    stderr and exit code 2, never a traceback."""
    from mlops_assets.core.paths import StateFolderError
    from mlops_assets.core.spec import SpecError
    from mlops_assets.core.warehouse import WarehouseNotWritableError, WarehouseUnreadableError
    from mlops_assets.gate.overrides import OverrideRefused
    from mlops_assets.ingest.landing import LandingError
    from mlops_assets.promote.agreement import ChampionDisagreement

    refusals = (UsageError, SpecError, OverrideRefused, StateFolderError, WarehouseUnreadableError,
                WarehouseNotWritableError, LandingError, ChampionDisagreement)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return args.handler(args)
    except refusals as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in _UNWRITABLE:
            raise
        print(f"error: cannot write {error.filename or 'the state folder'}: {error.strerror}; make the state "
              "folder writable (and free space), or point --state-dir / MLOPS_STATE_DIR elsewhere", file=sys.stderr)
        return 2


# a state folder we may not write to (or a full disk): the user's to fix, not a crash
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC)


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, got {text!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, got {text!r}")
        return number

    return parse


_positive_days = _whole_number(1)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a day as YYYY-MM-DD, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlops-assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", help="state folder (default: $MLOPS_STATE_DIR or ./.mlops_state)")
    parser.add_argument("--spec", help="dataset spec: a YAML path or a built-in name (default: nycflights)")
    commands = parser.add_subparsers(dest="command")

    demo = commands.add_parser("demo", help="land the first days and run the lifecycle on them")
    demo.add_argument("--start", type=_day, help="first day (default: the spec's start)")
    demo.add_argument("--days", type=_positive_days, default=28, help="how many days to land and ingest (default 28)")
    demo.add_argument("--skip-training", action="store_true", help="only the data half")
    demo.set_defaults(handler=_demo)

    replay = commands.add_parser("replay", help="land whole days from the dataset's source")
    replay.add_argument("--start", type=_day, help="first day (default: the spec's start)")
    replay.add_argument("--days", type=_positive_days, default=1)
    replay.set_defaults(handler=_replay)

    backfill = commands.add_parser("backfill", help="ingest the landed days of a range, in ranged ingest_job runs")
    backfill.add_argument("--start", type=_day, help="first day (default: the spec's start)")
    backfill.add_argument("--days", type=_positive_days, default=1)
    backfill.set_defaults(handler=_backfill)

    validate = commands.add_parser("validate", help="validate a dataset spec (shape, names and SQL)")
    validate.add_argument("path", nargs="?", help="spec path (default: --spec or the built-in)")
    validate.set_defaults(handler=_validate)

    dev = commands.add_parser("dev", help="start the Dagster UI and daemon on 127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    dev.set_defaults(handler=_dev)

    loop = commands.add_parser("replay-loop", help="replay days through the real sensors and automation")
    loop.add_argument("--start", type=_day, help="first day (default: the spec's start)")
    loop.add_argument("--train-days", type=_positive_days, default=28, help="days before the first champion (default 28)")
    loop.add_argument("--days", type=_positive_days, default=150,
                      help="days replayed after that (default 150: through June; 337 for the whole year)")
    loop.add_argument("--evidently-every", type=int, default=7,
                      help="write Evidently's HTML drift report every N days (0: never)")
    loop.set_defaults(handler=_replay_loop)

    roll = commands.add_parser("rollback", help="make the previous champion (or --to-version) the champion again")
    roll.add_argument("--reason", required=True, help="why (kept in the ledger)")
    roll.add_argument("--to-version", help="registry version (default: the champion before the current one)")
    roll.add_argument("--operator", help="who rolls back (default: your user name)")
    roll.add_argument("--override-until", help="for a version that never passed the gates: override until this date")
    roll.set_defaults(handler=_rollback)

    override = commands.add_parser("override", help="let one model past failed promotion gates, until a date")
    override.add_argument("--model", required=True, help="the model's sha256 (a unique prefix of 8+ characters)")
    override.add_argument("--gate", action="append", required=True, dest="gates",
                          help="a failed gate to accept (repeat for several)")
    override.add_argument("--reason", required=True, help="why the failed gate may be ignored")
    override.add_argument("--until", required=True, help="expiry: YYYY-MM-DD or an ISO time (at most 90 days)")
    override.add_argument("--operator", help="who accepts it (default: your user name)")
    override.set_defaults(handler=_override)

    reset = commands.add_parser(
        "acknowledge-registry-reset",
        help="record that the ledger's champion is gone from the MLflow store for good, so training may promote anew",
    )
    reset.add_argument("--reason", required=True, help="why the old champion cannot be restored (kept in the ledger)")
    reset.add_argument("--operator", help="who accepts it (default: your user name)")
    reset.set_defaults(handler=_acknowledge_registry_reset)

    show_ledger = commands.add_parser("ledger", help="print the promotion ledger")
    show_ledger.set_defaults(handler=_ledger)

    mlflow_ui = commands.add_parser("mlflow-ui", help="start the MLflow UI on the platform's store")
    mlflow_ui.add_argument("--port", type=int, default=5000)
    mlflow_ui.add_argument("--host", default="127.0.0.1")
    mlflow_ui.set_defaults(handler=_mlflow_ui)

    train = commands.add_parser("train", help="run train_job on a window of ingested days (promotes only past the gates)")
    train.add_argument("--start", type=_day, help="first day, YYYY-MM-DD (default: the earliest ingested)")
    train.add_argument("--end", type=_day, help="last day, inclusive, YYYY-MM-DD (default: the latest ingested)")
    train.add_argument("--last-days", type=_positive_days, help="train on the N days ending at --end (instead of --start)")
    train.add_argument("--trials", type=_whole_number(1), help="hyperparameter sets tried (default: the tuning budget's)")
    train.add_argument("--holdout-days", type=_whole_number(0), help="the window's last N days held out as the out-of-time test "
                                              "the champion is compared on (default 7; 0 disables it)")
    train.set_defaults(handler=_train)

    score = commands.add_parser("score", help="run score_job on one ingested day: predictions and drift")
    score.add_argument("--day", type=_day, required=True, help="the day to score, YYYY-MM-DD")
    score.set_defaults(handler=_score)
    return parser


def _layout(args) -> StateLayout:
    if args.state_dir:
        os.environ["MLOPS_STATE_DIR"] = str(Path(args.state_dir).expanduser().resolve())
    from mlops_assets.defs.instance import prepare

    layout = prepare(StateLayout.from_env())
    for key, value in layout.environment().items():
        os.environ.setdefault(key, value)
    if layout.warehouse_path.exists():
        from mlops_assets.core.warehouse import connect

        # a damaged warehouse or a read-only state is refused here, in one line, before any run
        # starts and fails on it step by step
        with connect(layout.warehouse_path):
            pass
    return layout


def _spec(args):
    from mlops_assets.core.spec import SPEC_ENV, load_spec

    if args.spec:
        os.environ[SPEC_ENV] = str(Path(args.spec).resolve()) if Path(args.spec).exists() else args.spec
    return load_spec(args.spec)


def _replay(args) -> int:
    layout, spec = _layout(args), _spec(args)
    start = args.start or spec.partitions.start_date
    for landed in _replay_some(spec, layout, start, args.days):
        print(f"landed {landed.day}  {landed.rows:>7} rows  {landed.path}")
    return 0


def _replay_some(spec, layout: StateLayout, start: dt.date, days: int):
    """Land the days; a window with no rows in the source is a mistake in --start/--days, not a no-op."""
    from mlops_assets.ingest.landing import replay

    landed = replay(spec, layout, start, days)
    if not landed:
        end = start + dt.timedelta(days=days - 1)
        raise UsageError(f"the source of {spec.name} has no rows from {start} to {end}: "
                         "is --start beyond (or before) the data?")
    return landed


def _backfill(args) -> int:
    from mlops_assets.ingest.landing import landed_days

    layout, spec = _layout(args), _spec(args)
    start = args.start or spec.partitions.start_date
    wanted = [start + dt.timedelta(days=i) for i in range(args.days)]
    landed = {day for day, _ in landed_days(layout, spec)}
    missing = [day for day in wanted if day not in landed]
    if missing:
        print(f"no landing file for {len(missing)} day(s), skipped: {', '.join(map(str, missing[:10]))}"
              + (" ..." if len(missing) > 10 else ""))
    days = [day for day in wanted if day in landed]
    if not days:
        print(f"error: nothing landed in {layout.landing_dir_for(spec.name)} for {start}..{wanted[-1]}", file=sys.stderr)
        return 2
    return 1 if run_ingestion(spec, days) else 0


def _validate(args) -> int:
    from mlops_assets.core.spec import SpecError, load_spec, source_type_problems
    from mlops_assets.ingest.sources import SourceError, source_column_types

    spec = load_spec(args.path or args.spec)
    try:
        source_types = source_column_types(spec, StateLayout.from_env().cache_dir)
    except SourceError as error:
        raise SpecError(str(error)) from None
    problems = source_type_problems(spec, source_types) if source_types is not None else []
    if problems:
        raise SpecError(f"spec {spec.name!r} does not match its source:\n" + "\n".join(f"  - {p}" for p in problems))
    source_note = (f"{len(source_types)} source columns read" if source_types is not None
                   else "no replay source: landing files are checked when ingested")
    print(f"spec {spec.name!r} is valid: {len(spec.columns)} columns, {len(spec.features)} features, "
          f"{len(spec.trailing_rates)} trailing rates, forbidden: {', '.join(spec.forbidden_columns) or 'none'}; "
          f"{source_note}")
    return 0


def _demo(args) -> int:
    from mlops_assets.cli.report import data_summary

    started = time.monotonic()
    layout, spec = _layout(args), _spec(args)
    start = args.start or spec.partitions.start_date
    print(f"state folder: {layout.root}")
    landed = _replay_some(spec, layout, start, args.days)
    print(f"landed {len(landed)} days of {spec.name} ({sum(f.rows for f in landed)} rows) in {layout.landing_dir_for(spec.name)}")
    days = [f.day for f in landed]
    failed_days = run_ingestion(spec, days)
    print()
    print(data_summary(spec, layout, days))
    if failed_days:
        # training on what did ingest would only add a second, misleading error ("no features yet")
        print(f"\nerror: ingest failed on {len(failed_days)} of {len(days)} days (first: {failed_days[0]}); "
              "fix that and rerun, nothing was trained", file=sys.stderr)
        return 1
    trained = run_training(spec, days[0], days[-1]) if not args.skip_training else True
    if not args.skip_training:
        from mlops_assets.cli.report import model_summary

        print()
        print(model_summary(spec, layout))
    print(f"\ndone in {time.monotonic() - started:.1f}s")
    print("Dagster UI: `mlops-assets dev` (http://127.0.0.1:3000); "
          "MLflow UI: `mlops-assets mlflow-ui` (http://127.0.0.1:5000)")
    return 1 if failed_days or not trained else 0


def run_training(
    spec, start: dt.date | None, end: dt.date | None, *, last_days: int | None = None, trials: int | None = None,
    holdout_days: int | None = None,
) -> bool:
    """Run the training job (snapshot through champion) on the local instance; ``None`` bounds are
    the training window's defaults (the earliest and latest ingested day)."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.jobs import TRAIN_JOB

    job = build_definitions(spec).resolve_job_def(TRAIN_JOB)
    started = time.monotonic()
    window = {"start_date": start and start.isoformat(), "end_date": end and end.isoformat(), "last_n_days": last_days,
              "holdout_days": holdout_days}
    ops: dict = {"training_snapshot": {"config": {k: v for k, v in window.items() if v is not None}}}
    if trials is not None:
        ops["candidate_model"] = {"config": {"trials": trials}}
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(job, instance=instance, raise_on_error=False, run_config=quiet({"ops": ops}))
    status = "ok" if result.success else "FAILED"
    span = f"last {last_days} days to {end or 'the latest'}" if last_days else f"{start or 'earliest'}..{end or 'latest'}"
    print(f"  {TRAIN_JOB} {span}: {status} ({time.monotonic() - started:.1f}s, run {result.run_id[:8]})")
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


def run_ingestion(spec, days: list[dt.date]) -> list[dt.date]:
    """Run the ingest job on the local instance, one ranged run per stretch of consecutive days (at
    most the spec's backfill_days_per_run); returns the days whose run failed."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process, run_partitions
    from mlops_assets.defs.jobs import INGEST_JOB
    from mlops_assets.pipeline.backfill import day_ranges

    job = build_definitions(spec).resolve_job_def(INGEST_JOB)
    failed = []
    with dg.DagsterInstance.get() as instance:
        for first, last in day_ranges(days, spec.partitions.backfill_days_per_run):
            step_started = time.monotonic()
            result = execute_in_process(
                job, **run_partitions(first, last), instance=instance, raise_on_error=False, run_config=quiet(),
            )
            span = f"{first}" if first == last else f"{first}..{last}"
            status = "ok" if result.success else f"FAILED: {step_failure_message(result)}"
            print(f"  {INGEST_JOB} {span}: {status} ({time.monotonic() - step_started:.1f}s, run {result.run_id[:8]})")
            if not result.success:
                failed.extend(day for day in days if first <= day <= last)
    return failed


def _dev(args) -> int:
    layout = _layout(args)
    if args.spec:
        _spec(args)
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(PROJECT_ROOT / "workspace.yaml"),
        "-h", args.host, "-p", str(args.port),
    ]
    print(f"DAGSTER_HOME={layout.dagster_home}\n$ {' '.join(command)}")
    return subprocess.call(command, cwd=PROJECT_ROOT, env=os.environ.copy())


def _replay_loop(args) -> int:
    from mlops_assets.monitor.timeline import timeline_text
    from mlops_assets.defs.simulation import simulate

    started = time.monotonic()
    layout, spec = _layout(args), _spec(args)
    start = args.start or spec.partitions.start_date
    print(f"state folder: {layout.root}")
    log = simulate(spec, layout, start=start, train_days=args.train_days, days=args.days,
                   evidently_every=args.evidently_every)
    print()
    print(timeline_text(log.timeline))
    failed = [run for run in log.runs if not run["success"] and run["kind"] != "train_job"]
    print(f"\n{len(log.runs)} runs ({len(failed)} failed outside training) in {time.monotonic() - started:.0f}s; "
          f"timeline plot: {layout.reports_dir / spec.name / 'timeline.png'} (asset monitoring_timeline)")
    return 1 if failed else 0


def _operator(args) -> str:
    import getpass

    return args.operator or getpass.getuser()


def _rollback(args) -> int:
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.rollback import ROLLBACK_JOB

    layout, spec = _layout(args), _spec(args)
    config = {"reason": args.reason, "to_version": args.to_version, "operator": _operator(args),
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


def _override(args) -> int:
    from mlops_assets.gate.registry import PROMOTION_GATES
    from mlops_assets.gate.overrides import OverrideRefused, grant, parse_expiry
    from mlops_assets.core.verdicts import EVALUATION_ASSET
    from mlops_assets.core.warehouse import connect

    layout, spec = _layout(args), _spec(args)
    if len(args.model) < 8:
        raise OverrideRefused("--model needs at least 8 characters of the model's sha256")
    with connect(layout.warehouse_path) as con:
        matches = [row[0] for row in con.execute(
            "SELECT DISTINCT content_hash FROM gate_results WHERE dataset = ? AND asset = ? AND starts_with(content_hash, ?)",
            [spec.name, EVALUATION_ASSET, args.model.lower()],
        ).fetchall()]
        if len(matches) != 1:
            raise OverrideRefused(f"--model {args.model} matches {len(matches)} evaluated models; give more of its sha256")
        granted = grant(con, dataset=spec.name, model_sha256=matches[0], gates=args.gates, operator=_operator(args),
                        reason=args.reason, expires_at=parse_expiry(args.until), known_gates=list(PROMOTION_GATES))
    for item in granted:
        print(f"override recorded for model {item.model_sha256[:12]}: {item.sentence()}")
    print("re-execute the failed train_job run (or run train_job again) to promote it")
    return 0


def _acknowledge_registry_reset(args) -> int:
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.core.warehouse import connect
    from mlops_assets.promote.agreement import acknowledge_reset

    layout, spec = _layout(args), _spec(args)
    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name(spec))
    with connect(layout.warehouse_path) as con:
        entry = acknowledge_reset(con, spec.name, registry, operator=_operator(args), reason=args.reason)
    print(f"recorded: version {entry.from_version} (model {entry.model_sha256[:12]}) is no longer the champion; "
          "the next train_job may promote a new first champion")
    return 0


def _ledger(args) -> int:
    from mlops_assets.promote import ledger
    from mlops_assets.core.warehouse import connect

    layout, spec = _layout(args), _spec(args)
    with connect(layout.warehouse_path) as con:
        rows = ledger.entries(con, spec.name)
    for entry in rows:
        print(f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}  {entry.action:<8} {entry.from_version or '-':>4} -> "
              f"{entry.to_version:<4} by {entry.operator}: {entry.reason}")
    if not rows:
        print("the ledger is empty: no champion yet")
    return 0


def _mlflow_ui(args) -> int:
    layout = _layout(args)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", layout.mlflow_tracking_uri,
        "--default-artifact-root", layout.mlflow_artifacts_dir.as_uri(),
        "--host", args.host, "--port", str(args.port),
    ]
    from mlops_assets.core.secrets import redact

    print(f"$ {redact(' '.join(command))}")
    return subprocess.call(command, env=os.environ.copy())


def _train(args) -> int:
    start, end, last_days = args.start, args.end, args.last_days
    if start is not None and last_days is not None:
        raise UsageError("give --start or --last-days, not both")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    from mlops_assets.cli.report import model_summary

    layout, spec = _layout(args), _spec(args)
    trained = run_training(spec, start, end, last_days=last_days, trials=args.trials, holdout_days=args.holdout_days)
    print(model_summary(spec, layout))
    return 0 if trained else 1


def _score(args) -> int:
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import execute_in_process
    from mlops_assets.defs.jobs import SCORE_JOB

    day = args.day
    layout, spec = _layout(args), _spec(args)
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


if __name__ == "__main__":
    sys.exit(main())
