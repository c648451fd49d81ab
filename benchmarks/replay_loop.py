"""`mlops-assets replay-loop` timed: the first ``--train-days`` days landed and ingested in ranged
runs, the first champion trained, then ``--days`` days replayed one at a time through the real
landing sensor, declarative automation (scoring, drift, live performance, in ranged runs where a tick
asks for several days) and the retraining sensor, on a fresh state folder and Dagster instance.

What it reports: the wall time, the seconds spent per kind of run (ingest_job, automation,
train_job), the runs, and the replayed days' pace. A whole year is ``--days 337`` (28 + 337 = 365).
``--stop-after`` bounds the wall time on a shared machine: the replay stops after the first day
that ends past it, and the report says so and extrapolates the rest of the year from the measured
pace (seconds a replayed day, retraining included), never presenting it as measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, table  # noqa: E402

YEAR_DAYS = 365


class Deadline(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-days", type=int, default=28)
    parser.add_argument("--days", type=int, default=YEAR_DAYS - 28, help="days replayed after the first champion")
    parser.add_argument("--evidently-every", type=int, default=7, help="as the command's default")
    parser.add_argument("--stop-after", type=float, default=None, help="stop replaying after this many seconds")
    parser.add_argument("--output")
    args = parser.parse_args()

    from mlops_assets.core.paths import StateLayout
    from mlops_assets.core.spec import load_spec
    from mlops_assets.defs import simulation

    started = time.perf_counter()
    progress: list[tuple[int, float]] = []  # (days replayed, seconds since start)
    first_champion_at: list[float] = []

    def say(line: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{elapsed:7.1f}s] {line}", flush=True)
        if line.startswith("initial champion"):
            first_champion_at.append(elapsed)
        if ": replayed " in line:
            progress.append((int(line.split(": replayed ")[1].split()[0]), elapsed))
            if args.stop_after and elapsed > args.stop_after:
                raise Deadline

    with tempfile.TemporaryDirectory(prefix="bench-replay-loop-") as root:
        layout = StateLayout(Path(root)).ensure()
        for key, value in layout.environment().items():
            os.environ[key] = value
        spec = load_spec()
        stopped = False
        log_holder = {}
        original_loop = simulation.Loop

        class RecordingLoop(original_loop):  # keeps the run log when the replay is stopped early
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                log_holder["log"] = self.log

        simulation.Loop = RecordingLoop
        try:
            simulation.simulate(spec, layout, start=spec.partitions.start_date, train_days=args.train_days,
                                days=args.days, evidently_every=args.evidently_every, say=say)
        except Deadline:
            stopped = True
        finally:
            simulation.Loop = original_loop
        wall = time.perf_counter() - started
        runs = log_holder["log"].runs
    by_kind: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        by_kind[run["kind"]].append(run["seconds"])
    failed = sum(1 for run in runs if not run["success"] and run["kind"] != "train_job")
    rows = [[kind, str(len(seconds)), f"{sum(seconds):.0f} s"] for kind, seconds in sorted(by_kind.items())]
    replayed, at = progress[-1] if progress else (0, wall)
    setup = first_champion_at[0] if first_champion_at else 0.0
    pace = (at - setup) / replayed if replayed else float("nan")
    lines = [
        f"### replay-loop: {args.train_days} days then {replayed if stopped else args.days} replayed "
        f"(evidently every {args.evidently_every}; {machine()})", "",
        table(rows, ["runs", "count", "seconds"]), "",
        f"Wall time: {wall:.0f} s ({wall / 60:.1f} min); first {args.train_days} days ingested and the first champion "
        f"trained after {setup:.0f} s; {len(runs)} runs, {failed} failed outside training.",
    ]
    if replayed:
        lines.append(f"Replayed days: {pace:.1f} s a day (ingest, monitoring, retraining sensor and any retraining).")
    if stopped:
        year = setup + pace * (YEAR_DAYS - args.train_days)
        lines.append(
            f"**Stopped after {replayed} replayed days** (--stop-after {args.stop_after:.0f} s). Not measured: the "
            f"rest of the year. Extrapolated at the measured pace: {setup:.0f} s + {pace:.1f} s x "
            f"{YEAR_DAYS - args.train_days} days = {year:.0f} s ({year / 60:.0f} min) for the whole year.")
    emit("\n".join(lines), args.output)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
