"""The data commands: replay, backfill, validate, the demo, the replay loop, and the UIs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

from mlops_assets.cli import runs
from mlops_assets.cli.common import UsageError, dataset_spec, model_spec, model_target, state_layout
from mlops_assets.core.paths import PROJECT_ROOT, StateLayout


def replay(args) -> int:
    layout, spec = state_layout(args), dataset_spec(args)
    start = args.start or spec.partitions.start_date
    for landed in replay_some(spec, layout, start, args.days):
        print(f"landed {spec.grain.label(landed.day)}  {landed.rows:>7} {'labels' if landed.labels else 'rows':<6}  {landed.path}")
    return 0


def replay_some(spec, layout: StateLayout, start: dt.date, days: int):
    """Land the days; a window with no rows in the source is a mistake in --start/--days, not a no-op."""
    from mlops_assets.ingest.landing import replay

    landed = replay(spec, layout, start, days)
    if not any(not f.labels for f in landed):
        end = spec.grain.shift(spec.grain.partition_of(start), days - 1)
        raise UsageError(f"the source of {spec.name} has no rows from {start} to {end}: "
                         "is --start beyond (or before) the data?")
    return landed


def backfill(args) -> int:
    from mlops_assets.ingest.landing import landed_days

    layout, spec = state_layout(args), dataset_spec(args)
    start = spec.grain.partition_of(args.start or spec.partitions.start_date)
    wanted = [spec.grain.shift(start, i) for i in range(args.days)]
    landed = {day for day, _ in landed_days(layout, spec)}
    missing = [day for day in wanted if day not in landed]
    if missing:
        print(f"no landing file for {len(missing)} day(s), skipped: {', '.join(map(str, missing[:10]))}"
              + (" ..." if len(missing) > 10 else ""))
    days = [day for day in wanted if day in landed]
    if not days:
        print(f"error: nothing landed in {layout.landing_dir_for(spec.name)} for {start}..{wanted[-1]}", file=sys.stderr)
        return 2
    # the outcomes first, so that each day's trailing rates see the outcomes due before it
    label_days = [day for day, _ in landed_days(layout, spec, labels=True) if day in set(wanted)]
    failed = runs.run_ingestion(spec, label_days, labels=True) if spec.labels is not None and label_days else []
    failed += runs.run_ingestion(spec, days)
    return 1 if failed else 0


def validate(args) -> int:
    from mlops_assets.core.spec import SpecError, load_spec
    from mlops_assets.core.spec_checks import source_type_problems
    from mlops_assets.ingest.sources import SourceError, source_column_types, source_partitions

    spec = load_spec(args.path or args.spec)
    cache_dir = StateLayout.from_env().cache_dir
    try:
        source_types = source_column_types(spec, cache_dir)
        problems = source_type_problems(spec, source_types) if source_types is not None else []
        spans = source_partitions(spec, cache_dir) if source_types is not None and not problems else None
    except SourceError as error:
        raise SpecError(str(error)) from None
    if spans is not None and spans.rows_without_time and spec.timestamp.derive:
        # (an unreadable timestamp column is the schema gate's finding, with the rows named)
        problems.append(f"timestamp.derive ({spec.timestamp.derive}): gives no time for {spans.rows_without_time} "
                        "row(s) of the source, so no partition holds them")
    if problems:
        raise SpecError(f"spec {spec.name!r} does not match its source:\n" + "\n".join(f"  - {p}" for p in problems))
    source_note = (f"{len(source_types)} source columns read" if source_types is not None
                   else "no replay source: landing files are checked when ingested")
    if spans is not None and spans.count:
        label = spec.grain.label
        source_note += (f"; {spans.count} {spec.partitions.grain} partitions from {label(spans.first)} to "
                        f"{label(spans.last)}" if spec.grain.partitioned else "; one table (unpartitioned)")
    print(f"spec {spec.name!r} is valid: {len(spec.columns)} columns, {len(spec.features)} features, "
          f"{len(spec.trailing_rates)} trailing rates, forbidden: {', '.join(spec.forbidden_columns) or 'none'}; "
          f"{source_note}")
    return 0


# What the demo lands of each dataset, in partitions of its grain: a training window with its
# out-of-time tail (7 partitions by default) and some partitions to learn from, run in about a minute.
DEMO_PARTITIONS = {"hourly": 24 * 14, "daily": 28, "weekly": 10, "monthly": 12, "yearly": 10}


def demo(args) -> int:
    from mlops_assets.cli.report import data_summary

    started = time.monotonic()
    layout = state_layout(args)
    print(f"state folder: {layout.root}")
    ingested = []
    for spec in demo_datasets(args):
        partitions = args.days or DEMO_PARTITIONS[spec.partitions.grain]
        landed = replay_some(spec, layout, args.start or spec.partitions.start_date, partitions)
        rows, labelled = [f for f in landed if not f.labels], [f for f in landed if f.labels]
        print(f"landed {len(rows)} {spec.grain.unit}s of {spec.name} ({sum(f.rows for f in rows)} rows) in "
              f"{layout.landing_dir_for(spec.name)}")
        days = [f.day for f in rows]
        failed_days = []
        if labelled:
            # the outcomes land after the rows: the last partitions are scored before theirs exist. The
            # landed outcomes are stored first, so each day's trailing rates see those due before it.
            waiting = [day for day in days if day > labelled[-1].day]
            print(f"landed the outcomes of {len(labelled)} of them ({labelled[0].day}..{labelled[-1].day}) in "
                  f"{layout.landing_dir_for(spec.name) / 'labels'}"
                  + (f"; those of {', '.join(map(str, waiting))} are due later (labels.delay: {spec.labels.delay})"
                     if waiting else ""))
            failed_days += runs.run_ingestion(spec, [f.day for f in labelled], labels=True)
        failed_days += runs.run_ingestion(spec, days)
        print()
        print(data_summary(spec, layout, days))
        if failed_days:
            # training on what did ingest would only add a second, misleading error ("no features yet")
            print(f"\nerror: ingest of {spec.name} failed on {len(failed_days)} of {len(days)} {spec.grain.unit}s "
                  f"(first: {failed_days[0]}); fix that and rerun, nothing was trained", file=sys.stderr)
            return 1
        ingested.append((spec, days))
        print()
    trained = True
    if not args.skip_training:
        from mlops_assets.cli.report import model_summary

        for spec, days in ingested:
            for model, defs in demo_models(args, spec):
                print(f"model {model.model.name} ({model.model.task}, target {model.target.name}, "
                      f"dataset {model.name}):")
                trained = runs.run_training(model, defs, days[0], days[-1]) and trained
                print(model_summary(model, layout))
                print()
    print(f"done in {time.monotonic() - started:.1f}s")
    print("Dagster UI: `mlops-assets dev` (http://127.0.0.1:3000); "
          "MLflow UI: `mlops-assets mlflow-ui` (http://127.0.0.1:5000)")
    return 0 if trained else 1


def demo_datasets(args) -> list:
    """What the demo lands and ingests: the dataset of ``--model``, of ``--spec`` (or
    MLOPS_DATASET_SPEC), else every dataset the project's models are built on, each once."""
    from mlops_assets.core.spec import SPEC_ENV
    from mlops_assets.definitions import project_models

    if args.model:
        return [model_spec(args)[0]]
    if args.spec or os.environ.get(SPEC_ENV):
        return [dataset_spec(args)]
    datasets = {spec.name: spec for spec in project_models().values()}
    return [datasets[name] for name in sorted(datasets)] or [dataset_spec(args)]


def demo_models(args, spec) -> list:
    """What the demo trains on a dataset: ``--model`` alone, else every model of the project built on
    it (the spec's own model when the spec is not one of the project's)."""
    from mlops_assets.definitions import project_definitions, project_models

    if args.model or args.spec:
        return [model_target(args)]
    models = [m for m in project_models().values() if m.name == spec.name]
    if not models:
        return [model_target(args)]
    defs = project_definitions()
    return [(model, defs) for model in sorted(models, key=lambda m: m.model.name)]


def dev(args) -> int:
    layout = state_layout(args)
    if args.spec:
        dataset_spec(args)
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(PROJECT_ROOT / "workspace.yaml"),
        "-h", args.host, "-p", str(args.port),
    ]
    print(f"DAGSTER_HOME={layout.dagster_home}\n$ {' '.join(command)}")
    return subprocess.call(command, cwd=PROJECT_ROOT, env=os.environ.copy())


def replay_loop(args) -> int:
    from mlops_assets.monitor.timeline import timeline_text
    from mlops_assets.defs.simulation import simulate

    started = time.monotonic()
    layout = state_layout(args)
    spec, defs = model_target(args)
    start = args.start or spec.partitions.start_date
    print(f"state folder: {layout.root}")
    log = simulate(spec, layout, start=start, train_days=args.train_days, days=args.days,
                   evidently_every=args.evidently_every, defs=defs)
    print()
    print(timeline_text(log.timeline))
    failed = [run for run in log.runs if not run["success"] and not run["kind"].endswith("_train_job")]
    print(f"\n{len(log.runs)} runs ({len(failed)} failed outside training) in {time.monotonic() - started:.0f}s; "
          f"timeline plot: {layout.model_reports_dir(spec.model.name) / 'timeline.png'} (asset monitoring_timeline)")
    return 1 if failed else 0


def mlflow_ui(args) -> int:
    layout = state_layout(args)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", layout.mlflow_tracking_uri,
        "--default-artifact-root", layout.mlflow_artifacts_dir.as_uri(),
        "--host", args.host, "--port", str(args.port),
    ]
    from mlops_assets.core.secrets import redact

    print(f"$ {redact(' '.join(command))}")
    return subprocess.call(command, env=os.environ.copy())
