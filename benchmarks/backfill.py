"""Backfills at the speed of a script: N days of ingestion and features through Dagster's ranged
runs against the same plain calls, and `mlops-assets demo` end to end. Targets: the backfill at most
1.3x the plain calls; the demo (28 days, training included) within 60 s on an installed venv.

The days are landed once (not measured) and copied into a fresh state folder for every measured
run, so each run ingests, gates and featurizes every day from nothing; with the bundled flights'
label feed both paths store the landed outcomes first, as `mlops-assets backfill` does. The plain path is what
ingest_job's steps call, day after day in one process (``ingest_and_featurize``); the Dagster path
is ingest_job over the days as the CLI and a backfill run it: one ranged run per stretch of
``backfill_days_per_run`` days (the spec's; ``--days-per-run`` overrides it), on a fresh sqlite
instance, in the same warm process. The two alternate, medians over ``--repeats``. The demo runs
as a user runs it, the ``mlops-assets`` entry point (``mlops_assets.cli.main``) of this venv's Python
in a fresh state folder, in its own process.
``--replay-loop-days`` also times ``mlops-assets replay-loop`` (reported, no target).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table  # noqa: E402

BACKFILL_TARGET = 1.3
DEMO_TARGET_SECONDS = 60.0
START = dt.date(2013, 1, 1)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def fresh_state(root: Path, landed: Path):
    """A new state folder holding only the landed files."""
    from mlops_assets.core.paths import StateLayout

    layout = StateLayout(root).ensure()
    shutil.copytree(landed, layout.landing_dir, dirs_exist_ok=True)
    return layout


def plain_backfill(spec, layout, days: list[dt.date], label_days: list[dt.date] = ()) -> set[dt.date]:
    """The landed outcomes first (so trailing rates see them), then the rows. Returns the days with a
    failed gate or check (the real data has some: 2013-12-31's weather)."""
    from mlops_assets.ingest.labels import ingest_labels
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    for day in label_days:
        ingest_labels(spec, layout, day, "plain")
    return {day for day in days if not all(r.passed for r in ingest_and_featurize(spec, layout, day, "plain"))}


def failed_days(layout, spec) -> set[dt.date]:
    """Days whose newest verdict on some gate or check is a failure, as the warehouse records them."""
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        rows = con.execute(
            "SELECT day FROM (SELECT day, asset, check_name, arg_max(passed, checked_at) AS passed "
            "FROM gate_results WHERE dataset = ? GROUP BY ALL) WHERE NOT passed", [spec.name]
        ).fetchall()
    return {spec.grain.as_start(row[0]) for row in rows}


def dagster_backfill(spec, layout, days: list[dt.date], days_per_run: int | None,
                     label_days: list[dt.date] = ()) -> int:
    """The labels job over ``label_days``, then ingest_job over ``days``, in ranged runs on a fresh
    instance, as `mlops-assets backfill` runs them; returns the number of runs."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.common import run_partitions
    from mlops_assets.defs.names import DatasetNames
    from mlops_assets.defs.resources import StateResource
    from mlops_assets.pipeline.backfill import day_ranges

    names = DatasetNames.of(spec)
    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)))
    stages = [(names.labels_job, label_days), (names.ingest_job, days)] if label_days else [(names.ingest_job, days)]
    runs = 0
    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        for job_name, stage_days in stages:
            job = defs.resolve_job_def(job_name)
            for first, last in day_ranges(stage_days, days_per_run):
                # a run fails when a day fails a check; the work done is the plain path's (compared below)
                job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                       **run_partitions(first, last))
                runs += 1
    return runs


def timed_command(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cli_environment(state: Path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MLOPS_", "DAGSTER_", "MLFLOW_"))}
    env["MLOPS_STATE_DIR"] = str(state)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365, help="days backfilled (default 365: the whole year; 0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days-per-run", type=int, default=0,
                        help="days per ranged run (default 0: the spec's backfill_days_per_run)")
    parser.add_argument("--day-by-day", action="store_true",
                        help="also measure ingest_job as one run per day (how the platform ran before ranged runs)")
    parser.add_argument("--demo-repeats", type=int, default=1, help="timed `mlops-assets demo` runs (0: skip)")
    parser.add_argument("--replay-loop-days", type=int, default=0,
                        help="also time `mlops-assets replay-loop --days N` (337: the rest of the year; 0: skip)")
    parser.add_argument("--output")
    args = parser.parse_args()

    met = True
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as root:
        root = Path(root)
        if args.days:
            met &= backfill_section(root, args)
        cli = [sys.executable, "-m", "mlops_assets.cli.main"]  # the `mlops-assets` console script's entry point
        rows = []
        demo = [timed_command([*cli, "demo"], cli_environment(root / f"demo-{i}")) for i in range(args.demo_repeats)]
        if demo:
            met &= median(demo) <= DEMO_TARGET_SECONDS
            rows.append(["`mlops-assets demo` (28 days + training), fresh state", f"{median(demo):.1f} s",
                         _runs(demo), f"<= {DEMO_TARGET_SECONDS:.0f} s "
                         f"{'met' if median(demo) <= DEMO_TARGET_SECONDS else 'MISSED'}"])
        if args.replay_loop_days:
            seconds = timed_command([*cli, "replay-loop", "--days", str(args.replay_loop_days)],
                                    cli_environment(root / "replay-loop"))
            rows.append([f"`mlops-assets replay-loop --days {args.replay_loop_days}` (28 + {args.replay_loop_days} days)",
                         f"{seconds:.0f} s", "", "reported"])
        if rows:
            emit(f"### The platform's own commands, end to end ({machine()})\n\n"
                 + table(rows, ["command", "median", "runs", "target"]), args.output)
    return 0 if met else 1


def backfill_section(root: Path, args) -> bool:
    """Plain calls against ranged ingest_job runs over the same days; emits the table, returns met."""
    from mlops_assets.core.paths import StateLayout
    from mlops_assets.core.spec import load_spec
    from mlops_assets.ingest.landing import replay

    spec = load_spec()
    days_per_run = args.days_per_run or spec.partitions.backfill_days_per_run
    template = StateLayout(root / "template").ensure()
    for key, value in template.environment().items():
        os.environ[key] = value
    landed = replay(spec, template, START, args.days)  # with the bundled flights' label feed, their outcomes too
    days = [f.day for f in landed if not f.labels]
    label_days = [f.day for f in landed if f.labels]
    plain, orchestrated, daily, runs, expected = [], [], [], 0, set()
    # warm-up of both paths on a few days: imports, first connections
    warm = days[: min(3, len(days))]
    warm_labels = [day for day in label_days if day in warm]
    plain_backfill(spec, fresh_state(root / "warm-plain", template.landing_dir), warm, warm_labels)
    dagster_backfill(spec, fresh_state(root / "warm-dagster", template.landing_dir), warm, days_per_run, warm_labels)
    for repeat in range(args.repeats):
        paths = [("plain", plain), ("dagster", orchestrated)] + ([("daily", daily)] if args.day_by_day else [])
        for name, measured in paths:
            layout = fresh_state(root / f"{name}-{repeat}", template.landing_dir)
            started = time.perf_counter()
            if name == "plain":
                expected = plain_backfill(spec, layout, days, label_days)
            elif name == "dagster":
                runs = dagster_backfill(spec, layout, days, days_per_run, label_days)
            else:
                dagster_backfill(spec, layout, days, 1, label_days)
            measured.append(time.perf_counter() - started)
            if failed_days(layout, spec) != expected:
                raise RuntimeError(f"{name}: failed days {sorted(failed_days(layout, spec))}, plain: {sorted(expected)}")
            shutil.rmtree(layout.root)
    ratio = median(orchestrated) / median(plain)
    rows = [
        [f"{args.days} days, plain calls (ingest_labels, then ingest_and_featurize, a day at a time)", f"{median(plain):.1f} s", _runs(plain), "1.00", ""],
        [f"{args.days} days, {'the labels job and ' if label_days else ''}ingest_job in {runs} ranged run(s) of "
         f"<= {days_per_run or 'all'} days",
         f"{median(orchestrated):.1f} s", _runs(orchestrated), f"{ratio:.2f}",
         f"<= {BACKFILL_TARGET} {'met' if ratio <= BACKFILL_TARGET else 'MISSED'}"],
    ]
    if daily:
        rows.append([f"{args.days} days, ingest_job one run per day (before ranged runs)", f"{median(daily):.1f} s",
                     _runs(daily), f"{median(daily) / median(plain):.2f}", ""])
    failing = f"; days failing a gate or check on both paths: {', '.join(map(str, sorted(expected)))}" if expected else ""
    emit(f"### Backfill: {args.days} days of ingestion and features, plain calls vs ranged runs "
         f"({args.repeats} runs each; {machine()})\n\n"
         + table(rows, ["path", "median", "runs", "ratio", "target"])
         + f"\n\nDagster's own cost per backfilled day (difference of the medians / days): "
           f"{(median(orchestrated) - median(plain)) / args.days * 1000:.0f} ms{failing}", args.output)
    return ratio <= BACKFILL_TARGET


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in seconds)


if __name__ == "__main__":
    sys.exit(main())
