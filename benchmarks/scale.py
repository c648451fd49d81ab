"""Scale: a 10M-row flights dataset (real days replicated with jitter, benchmarks/generate_flights.py)
through ingestion, features, the training snapshot and training, each stage in a fresh process so
its peak RSS (from the OS) is its own. Target: every stage under 6 GB peak.

Training runs the platform's own step (model_steps.train_and_log: read the frozen snapshot, tune,
save, log to MLflow) with a smaller search than the default (``--trials``, default 1): at 8M training
rows one trial of up to 300 trees takes minutes on 2 cores, and memory, the target, does not grow
with the number of trials.
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
from _common import emit, machine, table  # noqa: E402

TARGET_PEAK_GIB = 6.0
STAGES = ("generate", "ingestion", "features", "snapshot", "training")


def _spec_and_layout(state: str):
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.paths import StateLayout

    layout = StateLayout(Path(state)).ensure()
    for key, value in layout.environment().items():
        os.environ[key] = value
    return load_spec(), layout


def _days(layout, spec) -> list[dt.date]:
    from mlops_assets.ingest.landing import landed_days

    return [day for day, _ in landed_days(layout, spec)]


def stage_generate(state: str, args: argparse.Namespace) -> dict:
    from generate_flights import generate

    spec, layout = _spec_and_layout(state)
    landed = generate(spec, layout, start=dt.date.fromisoformat(args.start), days=args.days, rows=args.rows)
    return {"rows": sum(n for _, n in landed), "days": len(landed)}


def stage_ingestion(state: str, args: argparse.Namespace) -> dict:
    """What the raw asset and its data gates do, day by day (first half of day_pipeline)."""
    from mlops_assets.pipeline.ingest_day import ingest_and_gate

    spec, layout = _spec_and_layout(state)
    rows = 0
    for day in _days(layout, spec):
        snapshot, results = ingest_and_gate(spec, layout, day)
        _require_passed(day, results)
        rows += snapshot.rows
    return {"rows": rows}


def stage_features(state: str, args: argparse.Namespace) -> dict:
    """What the features asset and its checks do, day by day (second half of day_pipeline)."""
    from mlops_assets.pipeline.ingest_day import featurize_and_check

    spec, layout = _spec_and_layout(state)
    rows = 0
    for day in _days(layout, spec):
        build, results = featurize_and_check(spec, layout, day)
        _require_passed(day, results)
        rows += build.rows
    return {"rows": rows}


def _require_passed(day, results) -> None:
    failed = [result.summary for result in results if not result.passed]
    if failed:
        raise RuntimeError(f"{day}: {failed}")


def stage_snapshot(state: str, args: argparse.Namespace) -> dict:
    from mlops_assets.train.snapshot import build_training_snapshot
    from mlops_assets.train.window import TrainingWindow

    spec, layout = _spec_and_layout(state)
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(), run_id="scale-benchmark")
    Path(state, "snapshot_hash").write_text(snapshot.content_hash)
    return {"rows": sum(snapshot.rows.values()), "splits": snapshot.rows}


def stage_training(state: str, args: argparse.Namespace) -> dict:
    from mlops_assets.defs.model import CODE_VERSIONS
    from mlops_assets.defs.resources import ModelRegistryResource
    from mlops_assets.core.registry import model_name
    from mlops_assets.pipeline.train_model import train_and_log
    from mlops_assets.train.model import TuningBudget

    spec, layout = _spec_and_layout(state)
    registry = ModelRegistryResource().registry(layout, model_name(spec))
    handle, _ = train_and_log(
        spec, layout, registry, Path(state, "snapshot_hash").read_text(),
        TuningBudget(trials=args.trials, max_rounds=args.max_rounds), dagster_run_id="scale-benchmark",
        trigger_reason="benchmark", code_version=CODE_VERSIONS["candidate_model"], log=lambda _: None,
    )
    return {"validation_auc": round(handle["validation_auc"], 4), "trees": handle["best_rounds"]}


def run_stage(name: str, state: str, args: argparse.Namespace) -> dict:
    """One stage in a fresh interpreter; its own peak RSS comes back from the OS (wait4)."""
    command = [sys.executable, "-W", "ignore", __file__, "--stage", name, "--state", state,
               "--rows", str(args.rows), "--days", str(args.days), "--start", args.start,
               "--trials", str(args.trials), "--max-rounds", str(args.max_rounds)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"stage {name} failed (exit {process.returncode})")
    return {"stage": name, "seconds": elapsed, "peak_rss_kib": usage.ru_maxrss, **json.loads(output.splitlines()[-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30, help="real days replicated (30 keeps flight numbers <= 9999)")
    parser.add_argument("--start", default="2013-01-01")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--max-rounds", type=int, default=300)
    parser.add_argument("--state", help="state folder to use and keep (default: a temporary one, removed afterwards)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help="comma-separated stages to run, in order (later ones need the earlier ones' state)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--output")
    args = parser.parse_args()

    if args.stage:
        print(json.dumps(globals()[f"stage_{args.stage}"](args.state, args), default=str))
        return 0

    stages = [s for s in STAGES if s in args.stages.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        state = args.state or scratch
        results = [run_stage(name, state, args) for name in stages]
    peak = max((r["peak_rss_kib"] for r in results if r["stage"] != "generate"), default=0) / 2**20
    total_rows = next((r["rows"] for r in results if "rows" in r), 0)
    rows = []
    for r in results:
        extra = {k: v for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_kib")}
        rows.append([r["stage"], f"{r['seconds']:.1f} s", f"{r['peak_rss_kib'] / 2**20:.2f} GiB",
                     ", ".join(f"{k} {v}" for k, v in extra.items())])
    met = peak < TARGET_PEAK_GIB
    emit(f"### Scale: {total_rows:,} rows over {args.days} days "
         f"(training: {args.trials} trial(s) of up to {args.max_rounds} trees; {machine()})\n\n"
         + table(rows, ["stage", "time", "peak RSS", "notes"])
         + f"\n\nPeak RSS of the platform's stages: {peak:.2f} GiB; target < {TARGET_PEAK_GIB:g} GiB: "
         + ("met" if met else "MISSED"), args.output)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
