"""The training lifecycle (snapshot through champion) on one month of flights, through Dagster as
the platform runs it (train_job, in-process executor), against the same functions called in a plain
Python script on the same snapshot. Target ratio: at most 1.15.

Both paths face the same situation: a champion trained on the same snapshot already exists, so every
measured run evaluates against it and ends in an "unchanged" promotion. Runs alternate between the
two paths so load on a shared machine hits both equally; both run in one warm process, so neither
pays imports or process start.

The executor is the platform's own choice, in-process: train_job is a chain (snapshot -> model ->
evaluation -> gates and card -> champion) with nothing long to run side by side, and a process per
step would add ~1.8 s of Python start-up and imports to each of six steps. What Dagster then costs
is its event log: on the sqlite instance each event is a few connections and commits (measured
here: ~8 ms for a step event, ~30 ms for a materialization, ~45 ms for a planned asset), so the
platform keeps steps few (each asset's checks run as one step) rather than making events cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table  # noqa: E402

TARGET_RATIO = 1.15
START = dt.date(2013, 1, 1)


def prepare_month(spec, layout, days: int) -> None:
    """Land, ingest, gate and featurize a month with the plain functions (not what is measured)."""
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.ingest.landing import replay

    for landed in replay(spec, layout, START, days):
        failed = [r.summary for r in ingest_and_featurize(spec, layout, landed.day) if not r.passed]
        if failed:
            raise RuntimeError(f"{landed.day}: {failed}")


def plain_lifecycle(spec, layout, end: dt.date, trials: int, start: dt.date = START) -> None:
    """The same steps train_job runs, called directly."""
    from mlops_assets.defs.model import CODE_VERSIONS
    from mlops_assets.defs.resources import ModelRegistryResource
    from mlops_assets.gate.registry import GateThresholds, gates_for
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.core.registry import model_name
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.pipeline.train_model import evaluate_and_store, judge, train_and_log, write_candidate_card
    from mlops_assets.promote.promotion import promote
    from mlops_assets.train.model import TuningBudget
    from mlops_assets.train.snapshot import TrainingWindow, build_training_snapshot

    run_id = f"plain-{time.time_ns()}"
    registry = ModelRegistryResource().registry(layout, model_name(spec))
    snapshot = build_training_snapshot(spec, layout, TrainingWindow(start_date=start, end_date=end), run_id)
    candidate, _ = train_and_log(spec, layout, registry, snapshot.content_hash, TuningBudget(trials=trials),
                                 dagster_run_id=run_id, trigger_reason="benchmark",
                                 code_version=CODE_VERSIONS["candidate_model"], log=lambda _: None)
    evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(), run_id=run_id)
    thresholds = GateThresholds()
    judged = judge(spec, layout, candidate["model_sha256"], list(gates_for(spec.model.task)), thresholds, run_id)
    if not all(judgement.verdict.passed for judgement in judged.values()):
        raise RuntimeError("a gate failed in the plain path")
    card, markdown, html = write_candidate_card(spec, layout, candidate, dagster_run_id=run_id, code_versions=CODE_VERSIONS)
    promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
            card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
            dagster_run_id=run_id, operator="benchmark")


def dagster_lifecycle(spec, layout, end: dt.date, trials: int, instance) -> None:
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.jobs import TRAIN_JOB
    from mlops_assets.defs.resources import StateResource

    job = build_definitions(spec, StateResource(state_dir=str(layout.root))).resolve_job_def(TRAIN_JOB)
    result = job.execute_in_process(
        instance=instance,
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            "ops": {
                "training_snapshot": {"config": {"start_date": START.isoformat(), "end_date": end.isoformat()}},
                "candidate_model": {"config": {"trials": trials}},
            },
        },
    )
    if not result.success:
        raise RuntimeError("train_job failed")


@contextlib.contextmanager
def _instance(kind: str, layout):
    """The platform's own instance (DAGSTER_HOME from the state folder, the project's dagster.yaml),
    or the same configuration with its storage on a throwaway Postgres server."""
    import dagster as dg
    import yaml

    if kind == "sqlite":
        with dg.DagsterInstance.get() as instance:
            yield instance
        return
    from _postgres import throwaway_postgres

    with throwaway_postgres() as url, tempfile.TemporaryDirectory(prefix="bench-dagster-home-") as home:
        config = yaml.safe_load((layout.dagster_home / "dagster.yaml").read_text())
        config["storage"] = {"postgres": {"postgres_url": url}}
        (Path(home) / "dagster.yaml").write_text(yaml.safe_dump(config))
        with dg.DagsterInstance.from_config(home) as instance:
            yield instance


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite",
                        help="the embedded sqlite instance (the default platform) or a Postgres-backed one, "
                             "on a throwaway local server (the scaled-out configuration)")
    parser.add_argument("--output")
    args = parser.parse_args()

    import dagster as dg

    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.paths import StateLayout

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as root:
        layout = StateLayout(Path(root)).ensure()
        for key, value in layout.environment().items():
            os.environ[key] = value
        spec = load_spec()
        prepare_month(spec, layout, args.days)
        end = START + dt.timedelta(days=args.days - 1)
        plain_lifecycle(spec, layout, end, args.trials)  # warm-up: imports, MLflow schema, first champion
        plain, orchestrated = [], []
        with _instance(args.instance, layout) as instance:
            dagster_lifecycle(spec, layout, end, args.trials, instance)  # warm-up of Dagster's own paths
            for _ in range(args.repeats):
                started = time.perf_counter()
                plain_lifecycle(spec, layout, end, args.trials)
                plain.append(time.perf_counter() - started)
                started = time.perf_counter()
                dagster_lifecycle(spec, layout, end, args.trials, instance)
                orchestrated.append(time.perf_counter() - started)
    ratio = median(orchestrated) / median(plain)
    rows = [
        ["plain script (same functions)", f"{median(plain):.1f} s", _runs(plain), "1.00", ""],
        ["train_job through Dagster (in-process executor)", f"{median(orchestrated):.1f} s", _runs(orchestrated),
         f"{ratio:.2f}", f"<= {TARGET_RATIO} {'met' if ratio <= TARGET_RATIO else 'MISSED'}"],
    ]
    emit(f"### Orchestration overhead: training lifecycle on {args.days} days of flights, {args.instance} "
         f"instance ({args.repeats} runs each, {args.trials} trials; {machine()})\n\n"
         + table(rows, ["path", "median", "runs", "ratio", "target"])
         + f"\n\nDagster's own cost per run (median of the paired differences): "
           f"{median([o - p for o, p in zip(orchestrated, plain)]):.2f} s", args.output)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
