"""Drift on a 1M-row day: the platform's PSI step against Evidently's DataDriftPreset on the same
reference and current rows. Targets: at least 50x faster, under 400 MB peak RSS.

The rows are the platform's own features: two weeks of January (the reference, as a champion's
training split would be) and two weeks of July (the current window, real seasonal drift), built by
the real ingest and feature steps, then each replicated with jitter to 1,000,000 rows in Parquet.
The platform side is what drift_for_day runs on its reference and window (relation_bins: pinned
bins from the reference; relation_statistics: every feature's drift statistics against them, PSI
among them), reading the Parquet a
column at a time through DuckDB. Evidently gets the same 23 feature columns as pandas frames (it
needs them in memory). Each side runs in its own fresh process, so its peak RSS is its own; times
exclude imports and include reading the Parquet files. Evidently runs once (it is the baseline and
takes minutes); the platform side runs ``--repeats`` times.
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

TARGET_SPEEDUP = 50.0
TARGET_PEAK_MIB = 400.0
REFERENCE_START, CURRENT_START, WINDOW_DAYS = dt.date(2013, 1, 1), dt.date(2013, 7, 1), 14
WEATHER_JITTER = {"origin_temp": 0.5, "origin_dewpoint": 0.5, "origin_humidity": 1.0, "origin_pressure": 0.5}


def prepare(folder: Path, rows: int) -> dict:
    """Real features for the two windows, through the platform's own steps, replicated to ``rows``."""
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.features.build import features_table
    from mlops_assets.ingest.landing import replay
    from mlops_assets.core.spec import DAY_COLUMN, load_spec
    from mlops_assets.core.sql import quote, sql_string
    from mlops_assets.core.paths import StateLayout
    from mlops_assets.core.warehouse import connect

    spec = load_spec()
    layout = StateLayout(folder / "state").ensure()
    for start in (REFERENCE_START, CURRENT_START):
        for landed in replay(spec, layout, start, WINDOW_DAYS):
            failed = [r.summary for r in ingest_and_featurize(spec, layout, landed.day) if not r.passed]
            if failed:
                raise RuntimeError(f"{landed.day}: {failed}")
    columns = ", ".join(
        f"{quote(name)} + ((hash(copy, flight, carrier, time_hour, {sql_string(name)}) % 201)::DOUBLE - 100) "
        f"/ 100 * {jitter} AS {quote(name)}" if name in WEATHER_JITTER else quote(name)
        for name, jitter in ((name, WEATHER_JITTER.get(name)) for name in spec.features)
    )
    with connect(layout.warehouse_path) as con:
        for side, start in (("reference", REFERENCE_START), ("current", CURRENT_START)):
            end = start + dt.timedelta(days=WINDOW_DAYS)
            con.execute(
                f"COPY (SELECT {columns} FROM {features_table(spec)}, range(1000) AS copies(copy) "
                f"WHERE {quote(DAY_COLUMN)} >= DATE '{start}' AND {quote(DAY_COLUMN)} < DATE '{end}' "
                f"ORDER BY copy, time_hour, carrier, flight LIMIT {int(rows)}) "
                f"TO {sql_string(str(folder / f'{side}.parquet'))} (FORMAT parquet)"
            )
    return {"features": len(spec.features)}


def platform_side(folder: Path) -> dict:
    import duckdb

    from mlops_assets.monitor.drift import relation_bins, relation_statistics
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.sql import sql_string

    import pandas  # noqa: F401  (imported lazily by the first Arrow conversion: imports are not timed)
    import pyarrow  # noqa: F401

    spec = load_spec()
    con = duckdb.connect()
    started = time.perf_counter()
    bins = relation_bins(con, f"read_parquet({sql_string(str(folder / 'reference.parquet'))})", spec)
    binned = time.perf_counter()
    statistics = relation_statistics(con, f"read_parquet({sql_string(str(folder / 'current.parquet'))})", bins, spec)
    values = {feature: by_name["psi"] for feature, by_name in statistics.items()}
    done = time.perf_counter()
    return {"bins_seconds": binned - started, "psi_seconds": done - binned, "seconds": done - started,
            "max_psi": max(values.values()), "drifted": sum(v >= 0.2 for v in values.values())}


def evidently_side(folder: Path) -> dict:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from mlops_assets.core.spec import load_spec

    columns = list(load_spec().features)
    started = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet", columns=columns)
    current = pd.read_parquet(folder / "current.parquet", columns=columns)
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    done = time.perf_counter()
    drifted = next((m for m in snapshot.dict()["metrics"] if m.get("metric_name", "").startswith("DriftedColumnsCount")), {})
    return {"seconds": done - started, "drifted": int(drifted.get("value", {}).get("count", -1))}


def run_side(side: str, folder: Path, rows: int) -> dict:
    """One side in a fresh interpreter; its peak RSS from the OS (wait4)."""
    command = [sys.executable, "-W", "ignore", __file__, "--side", side, "--folder", str(folder), "--rows", str(rows)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"the {side} side failed")
    return {**json.loads(output.splitlines()[-1]), "peak_rss_mib": usage.ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows on each side")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the platform side (Evidently runs once)")
    parser.add_argument("--side", choices=("prepare", "platform", "evidently"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--output")
    args = parser.parse_args()

    if args.side:
        sides = {"prepare": lambda f: prepare(f, args.rows), "platform": platform_side, "evidently": evidently_side}
        print(json.dumps(sides[args.side](Path(args.folder)), default=str))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-drift-") as scratch:
        folder = Path(scratch)
        run_side("prepare", folder, args.rows)
        platform = [run_side("platform", folder, args.rows) for _ in range(args.repeats)]
        evidently = run_side("evidently", folder, args.rows)
    ours = median([p["seconds"] for p in platform])
    ours_peak = max(p["peak_rss_mib"] for p in platform)
    speedup = evidently["seconds"] / ours
    daily = median([p["psi_seconds"] for p in platform])
    fast_enough, small_enough = speedup >= TARGET_SPEEDUP, ours_peak < TARGET_PEAK_MIB
    rows = [
        ["Evidently DataDriftPreset (1 run)", f"{evidently['seconds']:.1f} s", f"{evidently['peak_rss_mib']:.0f} MiB",
         "1.0x", f"{evidently['drifted']} columns drifted", ""],
        [f"platform PSI: pinned bins + PSI (median of {args.repeats})", f"{ours:.2f} s", f"{ours_peak:.0f} MiB",
         f"{speedup:.0f}x",
         f"bins {median([p['bins_seconds'] for p in platform]):.2f} s + PSI {median([p['psi_seconds'] for p in platform]):.2f} s; "
         f"{platform[0]['drifted']} features PSI >= 0.2, max {platform[0]['max_psi']:.2f}",
         f">= {TARGET_SPEEDUP:g}x {'met' if fast_enough else 'MISSED'}; < {TARGET_PEAK_MIB:g} MiB "
         f"{'met' if small_enough else 'MISSED'}"],
        # what drift_for_day does each day: the reference's bins are computed once per champion and stored
        ["of which the daily step: PSI against stored bins", f"{daily:.2f} s", "", f"{evidently['seconds'] / daily:.0f}x",
         "bins are computed once per champion and stored (drift_reference_bins)", ""],
    ]
    emit(f"### Drift: {args.rows:,} reference rows and {args.rows:,} current rows x 23 features ({machine()})\n\n"
         + table(rows, ["what", "time", "peak RSS", "speed-up", "notes", "target"]), args.output)
    return 0 if fast_enough and small_enough else 1


if __name__ == "__main__":
    sys.exit(main())
