"""Incremental cost: what one new day costs (ingest with its data gates, features with their checks,
scoring by the champion, drift) with 10 days of history against 300 days. Target: ratio at most
1.2, i.e. a day's cost does not grow with history.

Two state folders get the same real flights: one holds the 10 days before the measured days, the
other the 300 days before them. Each gets a champion through the plain training lifecycle on its
last 10 days (the same window in both). Then the same new days (``--days``, each landing as a new
day, so every measurement is a first ingestion) run through the platform's own functions in a
fresh process per state, alternating between the states; the per-step medians are compared.
The drift step's window is 28 days by design, so with 10 days of history it holds 11 days, with
300 it holds 28: the window is bounded, and the table shows whether its cost is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table  # noqa: E402

TARGET_RATIO = 1.2
FIRST_NEW_DAY = dt.date(2013, 10, 28)  # 300 days after 2013-01-01
STEPS = ("ingest", "features", "scoring", "drift")


def _open(state: Path):
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.paths import StateLayout

    layout = StateLayout(state).ensure()
    for key, value in layout.environment().items():
        os.environ[key] = value
    return load_spec(), layout


def prepare(state: Path, history_days: int, new_days: int, trials: int) -> dict:
    """Land history + new days, ingest the history, train a champion on its last 10 days."""
    from orchestration_overhead import plain_lifecycle

    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.ingest.landing import replay

    spec, layout = _open(state)
    start = FIRST_NEW_DAY - dt.timedelta(days=history_days)
    replay(spec, layout, start, history_days + new_days)
    seconds = []
    for offset in range(history_days):
        day = start + dt.timedelta(days=offset)
        started = time.perf_counter()
        failed = [r.summary for r in ingest_and_featurize(spec, layout, day) if not r.passed]
        seconds.append(time.perf_counter() - started)
        if failed:
            raise RuntimeError(f"{day}: {failed}")
    last = FIRST_NEW_DAY - dt.timedelta(days=1)
    plain_lifecycle(spec, layout, last, trials, start=last - dt.timedelta(days=9))
    return {"first_days_s": median(seconds[:10]), "last_days_s": median(seconds[-10:])}


def measure(state: Path, day: dt.date) -> dict:
    """The four steps of one new day, each timed on its own (imports are warmed first)."""
    from mlops_assets.pipeline.ingest_day import featurize_and_check, ingest_and_gate
    from mlops_assets.defs.resources import ModelRegistryResource
    from mlops_assets.core.registry import model_name
    from mlops_assets.monitor.drift import drift_for_day
    from mlops_assets.monitor.policy import LoopPolicy
    from mlops_assets.monitor.scoring import score_day
    from mlops_assets.core.warehouse import connect

    import mlflow  # noqa: F401  (heavy imports are not what is measured)
    import pandera  # noqa: F401
    import xgboost  # noqa: F401

    spec, layout = _open(state)
    registry = ModelRegistryResource().registry(layout, model_name(spec))
    timings = {}

    started = time.perf_counter()
    _snapshot, results = ingest_and_gate(spec, layout, day)
    timings["ingest"] = time.perf_counter() - started
    failed = [r.summary for r in results if not r.passed]
    if failed:
        raise RuntimeError(f"{day}: {failed}")

    started = time.perf_counter()
    featurize_and_check(spec, layout, day)
    timings["features"] = time.perf_counter() - started

    started = time.perf_counter()
    score_day(spec, layout, registry, day, run_id=None)
    timings["scoring"] = time.perf_counter() - started

    started = time.perf_counter()
    result, _ = drift_for_day(spec, layout, registry, day, LoopPolicy(), run_id=None)
    timings["drift"] = time.perf_counter() - started
    return {**timings, "drift_window_rows": result.rows}


def run_child(mode: str, state: Path, **options) -> dict:
    command = [sys.executable, "-W", "ignore", __file__, "--mode", mode, "--state", str(state)]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{mode} in {state} failed")
    return {**json.loads(output.splitlines()[-1]), "peak_rss_mib": usage.ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-history", type=int, default=10)
    parser.add_argument("--long-history", type=int, default=300)
    parser.add_argument("--days", type=int, default=3, help="new days measured (the median is reported)")
    parser.add_argument("--trials", type=int, default=2, help="tuning trials of the champion (not measured)")
    parser.add_argument("--mode", choices=("prepare", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--output")
    args = parser.parse_args()

    if args.mode == "prepare":
        print(json.dumps(prepare(Path(args.state), args.history, args.days, args.trials)))
        return 0
    if args.mode == "measure":
        print(json.dumps(measure(Path(args.state), dt.date.fromisoformat(args.day))))
        return 0

    histories = {"short": args.short_history, "long": args.long_history}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as scratch:
        states = {name: Path(scratch, name) for name in histories}
        prepared = {name: run_child("prepare", states[name], history=days, days=args.days, trials=args.trials)
                    for name, days in histories.items()}
        runs: dict[str, list[dict]] = {name: [] for name in histories}
        for offset in range(args.days):
            day = FIRST_NEW_DAY + dt.timedelta(days=offset)
            for name in histories:  # alternate, so load on a shared machine hits both
                runs[name].append(run_child("measure", states[name], day=day.isoformat()))

    def step_median(name: str, step: str) -> float:
        return median([r[step] for r in runs[name]])

    def total(name: str) -> float:
        return median([sum(r[step] for step in STEPS) for r in runs[name]])

    rows = [[step, f"{step_median('short', step):.2f} s", f"{step_median('long', step):.2f} s",
             f"{step_median('long', step) / step_median('short', step):.2f}", ""] for step in STEPS]
    ratio = total("long") / total("short")
    rows.append(["**one day, all four steps**", f"{total('short'):.2f} s", f"{total('long'):.2f} s", f"{ratio:.2f}",
                 f"<= {TARGET_RATIO} {'met' if ratio <= TARGET_RATIO else 'MISSED'}"])
    peak = {name: max(r["peak_rss_mib"] for r in runs[name]) for name in histories}
    notes = (
        f"Peak RSS of a day's steps: {peak['short']:.0f} MiB ({args.short_history} days), "
        f"{peak['long']:.0f} MiB ({args.long_history} days). Drift window rows: "
        f"{runs['short'][0]['drift_window_rows']:,} vs {runs['long'][0]['drift_window_rows']:,} (28-day window). "
        f"While preparing, ingest_and_featurize took {prepared['long']['first_days_s']:.2f} s a day over the "
        f"first 10 days of history and {prepared['long']['last_days_s']:.2f} s over the last 10."
    )
    emit(f"### Incremental cost of one new day: {args.short_history} vs {args.long_history} days of history "
         f"(median of {args.days} new days; {machine()})\n\n"
         + table(rows, ["step", f"{args.short_history} days", f"{args.long_history} days", "ratio", "target"])
         + "\n\n" + notes, args.output)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
