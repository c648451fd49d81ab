"""Run every benchmark, each in its own process, and write one markdown report.

    .venv/bin/python benchmarks/run_all.py                  # the real targets (about 40 minutes on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick          # smaller data and fewer repeats (not the targets)
    .venv/bin/python benchmarks/run_all.py --only drift,scale

The report (default ``benchmarks/results.md``, also printed) starts with the machine and versions
and a summary (target met or missed, wall time, peak RSS of the whole benchmark from the OS), then
each benchmark's own table: medians, ratios, and per-part peak RSS where it measures them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine, table  # noqa: E402

# name -> (script, target, options for --quick)
BENCHMARKS = {
    "import": ("import_time.py", "definitions import <= 1.3x bare `import dagster`", ["--repeats", "3"]),
    "orchestration": ("orchestration_overhead.py", "train lifecycle through Dagster: ours above an empty twin's floor <= 10% of plain calls",
                      ["--repeats", "1", "--days", "14", "--trials", "2"]),
    "drift": ("drift_vs_evidently.py", "PSI >= 50x faster than Evidently DataDriftPreset on 1M rows, < 400 MB",
              ["--rows", "200000", "--repeats", "1"]),
    "scale": ("scale.py", "10M rows through ingestion, features, snapshot, training: peak RSS < 6 GB",
              ["--rows", "1000000", "--days", "10", "--max-rounds", "50"]),
    "incremental": ("incremental_cost.py", "one new day with 300 vs 10 days of history <= 1.2x",
                    ["--long-history", "60", "--days", "1", "--trials", "1"]),
    "backfill": ("backfill.py", "365-day ingest + features backfill through Dagster <= 1.3x plain calls; "
                 "`mlops-assets demo` <= 60 s", ["--days", "14", "--repeats", "1"]),
}


def run(name: str, quick: bool) -> tuple[str, float, float, str]:
    """(status, wall seconds, peak RSS GiB, markdown) of one benchmark in its own process."""
    script, _, quick_options = BENCHMARKS[name]
    with tempfile.NamedTemporaryFile(suffix=".md", delete=False) as handle:
        section = Path(handle.name)
    command = [sys.executable, "-W", "ignore", str(HERE / script), "--output", str(section),
               *(quick_options if quick else [])]
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL if not os.environ.get("BENCH_VERBOSE") else None)
    _, status, usage = os.wait4(process.pid, 0)  # usage covers the benchmark and every process it waited for
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    markdown = section.read_text(encoding="utf-8").strip() if section.exists() else ""
    section.unlink(missing_ok=True)
    state = {0: "met", 1: "MISSED"}.get(code, f"ERROR (exit {code})")
    if code not in (0, 1):
        markdown = markdown or f"### {name}\n\nfailed with exit code {code}; rerun `{' '.join(command[2:])}` to see why."
    return state, elapsed, usage.ru_maxrss / 2**20, markdown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats: a smoke run, not the targets")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--output", default=str(HERE / "results.md"))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")

    results = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run(name, args.quick)
        print(f"  {name}: {results[name][0]} in {results[name][1]:.0f} s", file=sys.stderr, flush=True)

    summary = table(
        [[name, BENCHMARKS[name][1], status, f"{seconds / 60:.1f} min", f"{peak:.2f} GiB"]
         for name, (status, seconds, peak, _) in results.items()],
        ["benchmark", "target", "result", "wall time", "peak RSS (largest process)"],
    )
    report = "\n\n".join([
        "# Benchmark results",
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.node()}: {machine()}"
        + (", pandas " + _version("pandas") + ", evidently " + _version("evidently"))
        + ("\n\n**Quick mode**: smaller data and fewer repeats; these are not the targets' conditions." if args.quick else ""),
        summary,
        *(markdown for *_, markdown in results.values()),
    ]) + "\n"
    Path(args.output).write_text(report, encoding="utf-8")
    print(report)
    return 0 if all(status == "met" for status, *_ in results.values()) else 1


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
