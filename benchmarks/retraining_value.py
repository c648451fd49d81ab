"""What retraining buys (issue 16, deliverable 4): January-June 2013 of the flights replayed day by day
with four ways of keeping a model, on the same features, each measured on every scored day by the
binary model's primary metric (AUC of that day's flights, once their labels are in):

- **loop**: the platform's retraining loop. Each day, as the automation does, the day is scored and
  its drift measured with the champion (``monitor.scoring.score_day``, ``monitor.drift.drift_for_day``)
  and yesterday's live performance recorded (``monitor.performance.measure_day``); then the retraining
  sensor's decision (``retrain.requests.retraining_request``: ``decide`` with its cool-down, the
  minimum of checked days, the held-out tail) and, on a request, train_job's steps as plain calls
  (snapshot, ``train_and_log`` with the model's tuning budget, ``evaluate_and_store``, the task's
  promotion gates, card, ``promote``). A promoted champion scores from the next day.
- **frozen**: the loop's first champion, never replaced.
- **weekly**: a blind retrain every 7 days on the last 28 days (nothing held out), always deployed.
- **loop_refit**: the loop, except what it deploys: when the gates promote a candidate, the
  candidate's hyperparameters and seed are refit (no search) on the whole window, the held-out
  tail included, and that refit becomes the champion, with the candidate's evaluation and verdicts
  recorded for it (the gates judged the procedure, not the deployed bytes). Its later decisions
  (drift, degradation against the candidate's out-of-time reference, champion comparisons) see
  the refit as the champion.

Orchestration is excluded: the same plain functions the sensors and assets call run in-process, day
by day, on one warehouse whose features are built once for the whole period by the platform's own
feature builder (``ingest_and_featurize``, a day at a time, so each day's point-in-time features see
only earlier days). Through Dagster (`mlops-assets replay-loop`) the loop costs ~25-30 s a replayed
day on this 2-core machine, hours for six months; what orchestration adds is measured apart
(orchestration_overhead.py, replay_loop.py) and decides nothing here.

Seeded and deterministic: the tuning budget's seed, one xgboost thread, seeded bootstraps; the
variants share one warehouse under distinct model names, so their tables and registered
models never mix. ``--features-cache`` keeps the featurized warehouse between runs; ``--variants``
runs some of them (frozen trains the loop's first champion, without the loop).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, table  # noqa: E402

START = dt.date(2013, 1, 1)
END = dt.date(2013, 6, 30)
FIRST_TRAINING_DAYS = 28  # as `mlops-assets demo` and replay-loop: four weeks, then the first champion
WEEKLY_EVERY_DAYS = 7
VARIANTS = ("loop", "frozen", "weekly", "loop_refit")
LOOPS = ("loop", "loop_refit")  # the variants the retraining loop keeps; loop_refit deploys refits
PAIRS = (("loop", "frozen"), ("loop", "weekly"), ("weekly", "frozen"),
         ("loop_refit", "frozen"), ("loop_refit", "weekly"), ("loop_refit", "loop"))


# -- the pure parts: what the results table claims -------------------------------------------------

@dataclass(frozen=True)
class Paired:
    """``a`` minus ``b`` over the days both have: the mean difference, its standard error (days
    treated as independent), and on how many days ``a`` was higher."""

    mean: float
    standard_error: float
    better_days: int
    days: int


def paired_difference(a: dict[dt.date, float], b: dict[dt.date, float]) -> Paired:
    days = sorted(day for day in a if day in b and a[day] is not None and b[day] is not None)
    if len(days) < 2:
        raise ValueError(f"a paired difference needs at least 2 common days with values, got {len(days)}")
    differences = [a[day] - b[day] for day in days]
    return Paired(statistics.fmean(differences), statistics.stdev(differences) / math.sqrt(len(days)),
                  sum(1 for d in differences if d > 0), len(days))


def monthly_means(per_day: dict[dt.date, float]) -> dict[str, float]:
    """The mean of the defined per-day values of each calendar month ("2013-01"), oldest first."""
    months: dict[str, list[float]] = {}
    for day in sorted(per_day):
        if per_day[day] is not None:
            months.setdefault(day.strftime("%Y-%m"), []).append(per_day[day])
    return {month: statistics.fmean(values) for month, values in months.items()}


def monthly_table(live: dict[str, dict[dt.date, float]]) -> str:
    """One row per month and one for the whole period: each variant's mean per-day metric and days."""
    names = list(live)
    per_month = {name: monthly_means(values) for name, values in live.items()}
    months = sorted({month for values in per_month.values() for month in values})
    rows = []
    for month in months:
        days = {sum(1 for d, v in live[name].items() if v is not None and d.strftime("%Y-%m") == month) for name in names}
        rows.append([month, *(f"{per_month[name][month]:.4f}" if month in per_month[name] else "" for name in names),
                     "/".join(str(n) for n in sorted(days))])
    overall = {name: statistics.fmean(v for v in live[name].values() if v is not None) for name in names}
    rows.append(["**all**", *(f"**{overall[name]:.4f}**" for name in names),
                 str(max(sum(1 for v in live[name].values() if v is not None) for name in names))])
    return table(rows, ["month", *names, "days"])


# -- the run ----------------------------------------------------------------------------------------

@dataclass
class Training:
    variant: str
    day: dt.date  # the last day of its window: it serves from the next day
    rule: str
    reason: str
    holdout_days: int
    promoted: bool
    model_sha256: str
    seconds: float
    gates: dict[str, bool] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # the gates it failed
    oot_mean_daily_auc: float | None = None
    paired_oot: dict[str, float | None] | None = None  # candidate - champion on rows neither trained on
    comparison_days: list[str] = field(default_factory=list)
    # loop_refit: the candidate's hyperparameters refit on the whole window, deployed in its place
    refit_sha256: str | None = None
    refit_seconds: float = 0.0  # part of ``seconds``

    @property
    def deployed_sha256(self) -> str:
        """The model that served after this training's promotion."""
        return self.refit_sha256 or self.model_sha256


class Model:
    """A trained booster kept in memory, to score days without the registry round-trip."""

    def __init__(self, trained: Any, sha: str) -> None:
        self.trained, self.sha = trained, sha

    def day_metric(self, spec, frame) -> float | None:
        """The day's primary metric as ``measure_day`` computes it, on the labelled rows."""
        import numpy as np

        from mlops_assets.evaluate.tasks import task_of
        from mlops_assets.evaluate.weighted import full_data_value

        labelled = frame[frame[spec.target.name].notna()]
        if labelled.empty:
            return None
        task = task_of(spec.model.task)
        classes = self.trained.encoding.classes
        stored = task.stored_predictions(self.trained.predict(labelled), classes)
        labels, predictions = task.validate(task.labels(labelled[spec.target.name], classes),
                                            np.asarray(stored[task.stored_metric_input], dtype="float64"))
        value = full_data_value(task.metrics(classes)[task.primary_metric], labels, predictions, None)
        return None if np.isnan(value) else float(value)


def variant_spec(spec, variant: str):
    from mlops_assets.core.spec_sections import ModelSection

    model = spec.model
    return spec.for_model(ModelSection(name=f"{model.name}_{variant}"[:60], target=model.target, task=model.task,
                                       description=f"{variant} ({model.name}, retraining_value benchmark)"))


def featurize(spec, layout, start: dt.date, end: dt.date, say) -> None:
    from mlops_assets.ingest.landing import replay
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    for landed in replay(spec, layout, start, (end - start).days + 1):
        failed = [r.summary for r in ingest_and_featurize(spec, layout, landed.day) if not r.passed]
        if failed:
            say(f"{landed.day}: not usable ({'; '.join(failed)})")
        if landed.day.day == 1:
            say(f"featurized up to {landed.day}")


def prepare_state(spec, root: Path, cache: Path | None, start: dt.date, end: dt.date, say):
    """A state folder whose warehouse holds the period's checked features; from the cache if given."""
    from mlops_assets.core.paths import StateLayout
    from mlops_assets.features.build import features_code_version

    # features of another feature code (a changed spec or builder) are never reused
    stamp = f"{start.isoformat()}_{end.isoformat()}_{features_code_version(spec)[:12]}"
    if cache is not None and (cache / stamp).is_dir():
        shutil.copytree(cache / stamp, root, dirs_exist_ok=True)
        say(f"features from the cache {cache / stamp}")
        return StateLayout(root).ensure()
    layout = StateLayout(root).ensure()
    featurize(spec, layout, start, end, say)
    if cache is not None:
        shutil.copytree(root, cache / stamp)
    return layout


def lifecycle(spec, layout, registry, window, budget, *, variant: str, rule: str, reason: str, judged: bool,
              thresholds: Any = None, refit: bool = False) -> tuple[Training, dict[str, Model]]:
    """train_job's steps as plain calls (snapshot, candidate, evaluation, gates, card, champion);
    without ``judged``, the first two only: the blind retrain, deployed whatever it is. With
    ``refit``, a candidate the gates pass is refit on the whole window and the refit is promoted.
    Returns the training and the models it trained, by sha256."""
    from mlops_assets.defs.model import CODE_VERSIONS
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.gate.registry import GateThresholds, gates_for
    from mlops_assets.pipeline.train_model import evaluate_and_store, judge, train_and_log, write_candidate_card
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.promote.promotion import promote
    from mlops_assets.train.snapshot import build_training_snapshot

    started = time.perf_counter()
    run_id = f"{spec.model.name}-{window.end_date.isoformat()}"
    snapshot = build_training_snapshot(spec, layout, window, run_id)
    candidate, trained = train_and_log(spec, layout, registry, snapshot.content_hash, budget, dagster_run_id=run_id,
                                       trigger_reason=reason, code_version=CODE_VERSIONS["candidate_model"],
                                       log=lambda _: None)
    training = Training(variant, window.end_date, rule, reason, window.holdout_days,
                        promoted=not judged, model_sha256=candidate["model_sha256"], seconds=0.0)
    models = {candidate["model_sha256"]: Model(trained, candidate["model_sha256"])}
    if judged:
        evaluation = evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(),
                                        run_id=run_id)
        verdicts = judge(spec, layout, candidate["model_sha256"], list(gates_for(spec.model.task)),
                         thresholds or GateThresholds(), run_id, registry)
        training.gates = {gate: j.verdict.passed for gate, j in verdicts.items()}
        training.failed = [gate for gate, j in verdicts.items() if not j.verdict.passed]
        training.oot_mean_daily_auc = evaluation.oot_mean_daily_auc
        if evaluation.champion_status.compared:
            training.paired_oot = evaluation.paired.get("auc")
            training.comparison_days = list(evaluation.comparison_days)
        if all(training.gates.values()):
            if refit:
                refit_started = time.perf_counter()
                candidate, refitted = refit_whole_window(spec, layout, registry, window, budget, candidate, trained,
                                                         verdicts, run_id=f"{run_id}-refit")
                training.refit_sha256 = candidate["model_sha256"]
                training.refit_seconds = time.perf_counter() - refit_started
                models[training.refit_sha256] = Model(refitted, training.refit_sha256)
            card, markdown, html = write_candidate_card(spec, layout, candidate, dagster_run_id=run_id,
                                                        code_versions=CODE_VERSIONS)
            promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
                    card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
                    dagster_run_id=run_id, operator="retraining_value benchmark")
            training.promoted = True
    training.seconds = time.perf_counter() - started
    return training, models


def refit_whole_window(spec, layout, registry, window, budget, candidate, trained, verdicts, *, run_id: str
                       ) -> tuple[dict[str, Any], Any]:
    """The judged candidate's hyperparameters and seed refit (no search) on its whole window, the
    held-out tail included; the candidate's evaluation and gate verdicts are recorded for the refit,
    which has no out-of-time test of its own: the gates judged the procedure. Its live reference is
    so the candidate's out-of-time AUC, not an in-period test of the refit."""
    from mlops_assets.core import verdicts as verdict_log
    from mlops_assets.core.warehouse import connect
    from mlops_assets.defs.model import CODE_VERSIONS
    from mlops_assets.evaluate.evaluation import load_evaluation, store_evaluation
    from mlops_assets.pipeline.train_model import train_and_log
    from mlops_assets.train.snapshot import build_training_snapshot

    snapshot = build_training_snapshot(spec, layout, dataclasses.replace(window, holdout_days=0), run_id)
    judged_sha = candidate["model_sha256"]
    handle, refitted = train_and_log(spec, layout, registry, snapshot.content_hash, budget, dagster_run_id=run_id,
                                     trigger_reason=f"{candidate['trigger_reason']}; refit of {judged_sha[:12]}",
                                     code_version=CODE_VERSIONS["candidate_model"], log=lambda _: None,
                                     params=trained.params)
    note = f" [judged on candidate {judged_sha[:12]}; this model is its refit on the whole window]"
    with connect(layout.warehouse_path) as con:
        evaluation = load_evaluation(con, spec.model.name, judged_sha)
        store_evaluation(con, dataclasses.replace(evaluation, model_sha256=handle["model_sha256"]), run_id)
        for judgement in verdicts.values():
            verdict_log.record(con, dataset=spec.name, asset=verdict_log.evaluation_asset(spec.model.name), day=None,
                               content_hash=handle["model_sha256"],
                               result=dataclasses.replace(judgement.verdict, summary=judgement.verdict.summary + note),
                               run_id=run_id)
    return handle, refitted


def day_frames(spec, layout, start: dt.date, end: dt.date) -> dict[dt.date, Any]:
    """Every checked day's feature rows, read once."""
    from mlops_assets.core.warehouse import connect
    from mlops_assets.monitor.scoring import checked_features
    from mlops_assets.train.window import passed_feature_days

    with connect(layout.warehouse_path) as con:
        days = sorted(passed_feature_days(con, spec, start, end))
        return {day: checked_features(con, spec, day)[0] for day in days}


def run(args) -> int:
    from mlops_assets.core.registry import ModelRegistry
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.warehouse import connect
    from mlops_assets.monitor.drift import drift_for_day
    from mlops_assets.monitor.performance import measure_day
    from mlops_assets.monitor.policy import LoopPolicy
    from mlops_assets.monitor.scoring import score_day
    from mlops_assets.retrain.requests import retraining_request
    from mlops_assets.train.window import TrainingWindow
    from mlops_assets.train.tuning import TuningBudget

    started = time.perf_counter()

    def say(line: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {line}", flush=True)

    from mlops_assets.gate.registry import GateThresholds

    # The flights with their outcomes in the rows, measured label_delay_days (1) after the day: the
    # same timing as the bundled two feeds (outcomes a day later), without replaying a second zone;
    # the bundled spec's trailing rates, one day further back, are not what this compares.
    base = load_spec().model_copy(update={"labels": None})
    policy, budget = LoopPolicy(**settings(args.policy, LoopPolicy)), TuningBudget(nthread=1)
    thresholds = GateThresholds(**settings(args.gate, None))
    with tempfile.TemporaryDirectory(prefix="bench-retraining-value-") as root:
        layout = prepare_state(base, Path(root), args.features_cache, args.start, args.end, say)
        for key, value in layout.environment().items():
            os.environ[key] = value
        featurized_at = time.perf_counter() - started
        frames = day_frames(base, layout, args.start, args.end)
        first_end = args.start + dt.timedelta(days=FIRST_TRAINING_DAYS - 1)
        scored_days = [day for day in frames if day > first_end]
        variants = [name for name in VARIANTS if name in args.variants]
        loops = [name for name in LOOPS if name in variants]
        # frozen is the loop's first champion: trained with the loop's spec even when the loop is not run
        trained_as = {"loop": "loop", "frozen": "loop", "weekly": "weekly", "loop_refit": "loop_refit"}
        specs = {trained_as[name]: variant_spec(base, trained_as[name]) for name in variants}
        registries = {name: ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, s.model.name)
                      for name, s in specs.items()}

        trainings: dict[str, list[Training]] = {name: [] for name in variants}
        serving: dict[str, Model] = {}
        models: dict[str, Model] = {}
        # the first champion, as `mlops-assets demo` trains it: train_job's defaults on the first four weeks
        for name in dict.fromkeys(trained_as[v] for v in variants if v != "weekly"):
            first, trained = lifecycle(specs[name], layout, registries[name],
                                       TrainingWindow(start_date=args.start, end_date=first_end), budget,
                                       variant=name, rule="first", reason="first champion", judged=True,
                                       thresholds=thresholds, refit=name == "loop_refit")
            if not first.promoted:
                raise RuntimeError(f"the first champion of {name} was not promoted: {first.failed}")
            models.update(trained)
            for variant in variants:
                if trained_as[variant] == name:
                    trainings[variant].append(first)
                    serving[variant] = trained[first.deployed_sha256]
            say(f"{name}: first champion {first.seconds:.1f} s")
        if "weekly" in variants:
            weekly, trained = lifecycle(specs["weekly"], layout, registries["weekly"],
                                        TrainingWindow(end_date=first_end, last_n_days=FIRST_TRAINING_DAYS,
                                                       holdout_days=0),
                                        budget, variant="weekly", rule="schedule", reason="weekly", judged=False)
            trainings["weekly"].append(weekly)
            models.update(trained)
            serving["weekly"] = trained[weekly.deployed_sha256]
            say(f"first weekly model {weekly.seconds:.1f} s")
        live: dict[str, dict[dt.date, float | None]] = {name: {} for name in variants}
        served_by: dict[str, dict[dt.date, str]] = {name: {} for name in variants}
        last_trigger: dict[str, dt.date | None] = {name: None for name in loops}
        mismatches: dict[str, list[str]] = {name: [] for name in loops}
        for index, day in enumerate(scored_days):
            frame = frames[day]
            for name in variants:
                live[name][day] = serving[name].day_metric(base, frame)
                served_by[name][day] = serving[name].sha
            previous = scored_days[index - 1] if index else None
            for name in loops:
                # what the automation runs for the day, then the retraining sensor's tick
                spec, registry = specs[name], registries[name]
                score_day(spec, layout, registry, day, run_id=None)
                drift_for_day(spec, layout, registry, day, policy, run_id=None)
                if previous is not None:
                    measured = measure_day(spec, layout, registry, previous, label_delay_days=policy.label_delay_days,
                                           policy=policy, as_of=day, run_id=None)
                    if measured.auc is not None and abs(measured.auc - live[name][previous]) > 1e-9:
                        mismatches[name].append(f"{previous}: platform {measured.auc:.6f}, "
                                                f"benchmark {live[name][previous]:.6f}")
                with connect(layout.warehouse_path) as con:
                    request = retraining_request(con, spec, policy, last_trigger[name])
                if isinstance(request, str):
                    continue
                last_trigger[name] = request.trigger.day
                window = TrainingWindow(end_date=request.trigger.day, last_n_days=request.window_days,
                                        min_days=request.min_days, holdout_days=request.holdout_days)
                training, trained = lifecycle(spec, layout, registry, window, budget, variant=name,
                                              rule=request.trigger.rule, reason=request.trigger.reason, judged=True,
                                              thresholds=thresholds, refit=name == "loop_refit")
                trainings[name].append(training)
                models.update(trained)
                if training.promoted:
                    serving[name] = trained[training.deployed_sha256]
                say(f"{day}: {name} {request.trigger.rule} -> {'promoted' if training.promoted else 'refused'} "
                    f"({training.seconds:.1f} s){'' if training.promoted else ': ' + '; '.join(training.failed)}")
            if "weekly" in variants and (day - first_end).days % WEEKLY_EVERY_DAYS == 0:
                window = TrainingWindow(end_date=day, last_n_days=FIRST_TRAINING_DAYS, holdout_days=0)
                training, trained = lifecycle(specs["weekly"], layout, registries["weekly"], window, budget,
                                              variant="weekly", rule="schedule", reason="weekly", judged=False)
                trainings["weekly"].append(training)
                models.update(trained)
                serving["weekly"] = trained[training.deployed_sha256]
            if day.day == 1:
                say(f"replayed up to {day}")
        wall = time.perf_counter() - started
    report = results_markdown(args, live, trainings, served_by, models, base, frames, mismatches, wall, featurized_at,
                              policy, thresholds)
    emit(report, args.output)
    return 0


def served_difference(sha: str, other: str, served_by: dict[dt.date, str], models: dict[str, Model], spec, frames
                      ) -> Paired | None:
    """On the days model ``sha`` served, its per-day metric minus model ``other``'s on the same days
    (live, after the fact); None when it served fewer than 2 days."""
    days = [d for d, served in served_by.items() if served == sha]
    if len(days) < 2:
        return None
    return paired_difference({d: models[sha].day_metric(spec, frames[d]) for d in days},
                             {d: models[other].day_metric(spec, frames[d]) for d in days})


def realized(trainings: list[Training], served_by: dict[dt.date, str], models: dict[str, Model], spec, frames
             ) -> dict[dt.date, Paired | None]:
    """Each promotion after the first, by its window's last day: the model it deployed against the
    one deployed before it, on the days the new one served."""
    promoted = [t for t in trainings if t.promoted]
    return {t.day: served_difference(t.deployed_sha256, previous.deployed_sha256, served_by, models, spec, frames)
            for previous, t in zip(promoted, promoted[1:])}


def interval(paired: Paired | None) -> str:
    if paired is None:
        return ""
    return f"{paired.mean:+.4f} ({paired.standard_error:.4f}; {paired.better_days}/{paired.days} days)"


def variant_names(text: str) -> tuple[str, ...]:
    """``--variants``: comma-separated names of VARIANTS."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown or text!r}; choose from {', '.join(VARIANTS)}")
    return names


def settings(pairs: list[str], kind: type | None) -> dict[str, Any]:
    """``name=value`` pairs as keyword arguments; a value takes the type of ``kind``'s field of that
    name (a float when ``kind`` is None: gate thresholds validate their own)."""
    import dataclasses

    types = {f.name: f.type for f in dataclasses.fields(kind)} if kind else {}
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not value:
            raise ValueError(f"expected name=value, got {pair!r}")
        if kind and name not in types:
            raise ValueError(f"{kind.__name__} has no field {name!r}")
        kind_of = str(types.get(name, "float"))
        values[name] = value if "str" in kind_of else int(value) if kind_of.startswith("int") else float(value)
    return values


def results_markdown(args, live, trainings, served_by, models, spec, frames, mismatches, wall, featurized_at,
                     policy, thresholds) -> str:
    names = list(live)
    first_day, last_day = min(live[names[0]]), max(live[names[0]])
    lines = [f"### What retraining buys: {first_day} to {last_day} replayed in-process ({len(live[names[0]])} scored "
             f"days; {machine()})", "",
             "Mean live AUC per day, by month (each day's AUC of its flights, averaged over the month's days):", "",
             monthly_table(live), ""]
    rows = []
    for a, b in (pair for pair in PAIRS if pair[0] in live and pair[1] in live):
        p = paired_difference(live[a], live[b])
        rows.append([f"{a} - {b}", f"{p.mean:+.4f}", f"{p.standard_error:.4f}", f"{p.better_days} of {p.days}"])
    if rows:
        lines += ["Paired differences of the per-day AUC (standard error over days, as if independent):", "",
                  table(rows, ["difference", "mean", "standard error", "days better"]), ""]
    rows = []
    for name in names:
        refits = sum(1 for t in trainings[name] if t.refit_sha256)
        rows.append([name, str(len(trainings[name]) + refits), str(refits),
                     str(sum(1 for t in trainings[name] if t.promoted)),
                     f"{sum(t.seconds for t in trainings[name] if name != 'frozen'):.0f} s"])
    lines += ["Trainings (the first champion counts for loop and frozen; weekly's first model too; a refit counts "
              "as a training, its seconds in the variant's) and promotions:", "",
              table(rows, ["variant", "trainings", "of them refits", "promotions (deployed)", "training seconds"]), ""]
    for name in (n for n in LOOPS if n in live):
        after = realized(trainings[name], served_by[name], models, spec, frames)
        refitting = any(t.refit_sha256 for t in trainings[name])
        rows = []
        for t in trainings[name]:
            paired = t.paired_oot or {}
            row = [
                str(t.day), t.rule, str(t.holdout_days),
                "promoted" if t.promoted else "refused: " + ", ".join(t.failed),
                "" if t.oot_mean_daily_auc is None else f"{t.oot_mean_daily_auc:.4f}",
                "" if paired.get("value") is None
                else f"{paired['value']:+.4f} [{paired['low']:+.4f}, {paired['high']:+.4f}]",
                interval(after.get(t.day)),
            ]
            if refitting:
                row.append("" if not t.refit_sha256 else interval(
                    served_difference(t.refit_sha256, t.model_sha256, served_by[name], models, spec, frames)))
            rows.append(row)
        headers = ["window end", "rule", "held out", "decision", "oot AUC (per day)", "paired oot vs champion",
                   "live vs replaced"] + (["refit live vs judged candidate"] if refitting else [])
        lines += [f"{name}'s trainings: the window's last day, the rule, the days held out, the gates' decision, the "
                  "candidate's out-of-time AUC averaged per day, the paired candidate - champion AUC on the held-out "
                  "rows neither trained on (bootstrap interval), and, for a promotion, the model deployed minus the "
                  "one it replaced on the days the new one served (live, after the fact)"
                  + ("; the refit deployed minus the judged candidate it stands for, on the same days"
                     if refitting else "") + ":", "",
                  table(rows, headers), ""]
    changed = " ".join(args.policy + args.gate) or "none"
    lines += [f"Policy: {policy}; gate thresholds: {thresholds}; changed from the platform's defaults: {changed}. "
              f"Tuning budget: the model's (8 trials, seed 42), one xgboost thread; a refit is one trial with the "
              f"judged candidate's parameters and seed, early-stopped on its own validation split. "
              f"Wall time {wall:.0f} s ({featurized_at:.0f} s of it preparing the features)."]
    for name, found in mismatches.items():
        if found:
            lines += ["", f"**{name}'s live AUC differs from the platform's measure_day on {len(found)} day(s)**: "
                      + "; ".join(found[:5])]
        else:
            lines += ["", f"{name}'s live AUC computed here equals the platform's own `measure_day` on every "
                      "measured day."]
    return "\n".join(lines)


def main() -> int:  # pragma: no cover - the run itself
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=START)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=END)
    parser.add_argument("--features-cache", type=Path, help="keep the featurized warehouse here between runs")
    parser.add_argument("--policy", action="append", default=[], metavar="NAME=VALUE",
                        help="a LoopPolicy field for the loop (e.g. refused_backoff=1); the platform's defaults otherwise")
    parser.add_argument("--gate", action="append", default=[], metavar="NAME=VALUE",
                        help="a promotion gate threshold (e.g. max_auc_drop_vs_champion=0)")
    parser.add_argument("--variants", type=variant_names, default=VARIANTS, metavar="NAME,NAME",
                        help=f"which of {', '.join(VARIANTS)} to run (default: all)")
    parser.add_argument("--output")
    args = parser.parse_args()
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
