"""candidate_evaluation: the candidate, the champion and a trivial baseline, in period and forward.

The candidate is measured on two tests: ``test`` (in period: key-hashed rows of the training days,
which share days and weather with the training rows) and ``oot`` (out of time: the window's last
days, held out whole). The champion is compared on the forward rows that neither model trained on:
the oot rows, less any day the champion learned from (its snapshot's in-period days), so a
candidate replaces the champion only if it is better on what came after both. Per-day AUC averaged
over the oot days is what live performance (measured one day at a time) is held against.

Everything the gates and the model card need is computed here once and stored as one JSON document
in the warehouse (``evaluations``), keyed by the candidate model's sha256: point metrics with
bootstrap intervals, the paired candidate-minus-champion differences, per-slice metrics, feature
importance and the plots (PNG files beside the warehouse).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mlops_assets.core.spec import DAY_COLUMN
from mlops_assets.core.warehouse import ensure_model_keyed
from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.evaluate.tasks import BINARY, METRIC_REGISTRY, task_of

EVALUATIONS_DDL = """
    CREATE TABLE IF NOT EXISTS evaluations (
        model VARCHAR NOT NULL,
        model_sha256 VARCHAR NOT NULL,
        snapshot_hash VARCHAR NOT NULL,
        document VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR
    )
"""
NO_CHAMPION_NOTE = "No champion existed; the champion comparison passed by rule."


class ChampionStatus(str, enum.Enum):
    """What the candidate could be compared with; the champion gates decide on this, never on the note."""

    NONE = "none"  # no champion yet: nothing to regress from, the comparison passes by rule
    SCORED = "scored"  # the champion scored the same rows: paired comparison
    CANNOT_SCORE = "cannot_score"  # a champion exists but cannot score these features
    UNVERIFIED = "unverified"  # a champion exists but could not be loaded safely (sha256, missing artifact)
    NO_FORWARD_ROWS = "no_forward_rows"  # the champion trained on every held-out day: nothing fair to compare on

    @property
    def compared(self) -> bool:
        return self is ChampionStatus.SCORED


@dataclass(frozen=True)
class UnloadableChampion:
    """The champion's registry version, and why it could not be loaded safely."""

    version: str
    error: str


@dataclass
class Evaluation:
    model: str
    model_sha256: str
    snapshot_hash: str
    test_rows: int
    threshold: float | None  # the binary decision threshold; None for tasks without one
    metrics: dict[str, dict[str, float | None]]
    baseline: dict[str, Any]  # the trivial baseline's paired metrics and the training label statistic
    champion_version: str | None = None
    champion_metrics: dict[str, dict[str, float | None]] | None = None
    paired: dict[str, dict[str, float | None]] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)
    plots: dict[str, str] = field(default_factory=dict)
    champion_note: str = ""
    champion_status: ChampionStatus = ChampionStatus.NONE
    # out of time; empty in evaluations of snapshots without an oot split (and those stored before it)
    oot_rows: int = 0
    oot_metrics: dict[str, dict[str, float | None]] | None = None
    # per held-out day, the task's primary metric (AUC for binary models: the names predate tasks)
    oot_daily_auc: dict[str, float | None] = field(default_factory=dict)
    # where the champion comparison (champion_metrics, paired, slices, plots) ran: "oot" or "test"
    comparison_split: str = "test"
    comparison_rows: int = 0
    comparison_days: list[str] = field(default_factory=list)
    comparison_metrics: dict[str, dict[str, float | None]] | None = None  # the candidate on those rows
    comparison_daily_auc: dict[str, float | None] = field(default_factory=dict)  # mean per-day primary, by model
    task: str = BINARY  # evaluations stored before tasks are binary
    classes: list[str] = field(default_factory=list)  # multiclass: the model's classes, in column order
    # why no out-of-time test can exist (an unpartitioned dataset: nothing comes after its table);
    # empty when one could be held out. The forward gates then judge on the in-period test and say so.
    no_out_of_time: str = ""

    @property
    def primary_metric(self) -> str:
        return task_of(self.task).primary_metric

    def __post_init__(self) -> None:
        self.champion_status = ChampionStatus(self.champion_status)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> "Evaluation":
        document = json.loads(text)
        if "dataset" in document:  # stored before models were named: the owner was the dataset
            document["model"] = document.pop("dataset")
        document.setdefault("champion_status", _status_of_older_document(document))
        return cls(**document)

    def metric(self, name: str, split: str = "test") -> float | None:
        """The candidate's ``name`` on ``split``: "test" (in period) or "oot" (out of time)."""
        if split not in ("test", "oot"):
            raise ValueError(f"unknown evaluation split {split!r}; expected 'test' or 'oot'")
        found = self.metrics if split == "test" else (self.oot_metrics or {})
        return found.get(name, {}).get("value")

    def compared_metric(self, name: str) -> float | None:
        """The candidate's ``name`` on the rows it was compared with the champion on."""
        if self.comparison_metrics is None:  # stored before: the comparison ran on the test rows
            return self.metric(name)
        return self.comparison_metrics.get(name, {}).get("value")

    @property
    def oot_mean_daily_auc(self) -> float | None:
        from mlops_assets.evaluate.metrics import mean_of_days

        return mean_of_days(self.oot_daily_auc)

    def live_reference(self) -> tuple[float | None, str]:
        """What the live per-day primary metric (binary: AUC) is held against, and its kind: its
        per-day-averaged out-of-time value; an evaluation without an out-of-time test has only its
        pooled in-period test value."""
        spoken = METRIC_REGISTRY[self.primary_metric].spoken
        if self.oot_mean_daily_auc is not None:
            return self.oot_mean_daily_auc, f"out-of-time {spoken} averaged per day"
        return self.metric(self.primary_metric), f"in-period test {spoken} (pooled; no out-of-time test)"

    def champion_metric(self, name: str) -> float | None:
        return (self.champion_metrics or {}).get(name, {}).get("value")

    def slice_frame(self):
        import pandas as pd

        return pd.DataFrame(self.slices)


def evaluate_candidate(
    *,
    model: str,
    slices: list[str],
    target: str,
    test: Any,
    candidate: Any,
    candidate_sha256: str,
    snapshot_hash: str,
    train_label_rate: float,
    champion: Any | UnloadableChampion | None,
    plots_dir: Path,
    settings: EvaluationSettings = EvaluationSettings(),
    oot: Any | None = None,
    champion_trained_days: Iterable[str] = (),
    day_column: str = DAY_COLUMN,
    task: str = BINARY,
    grain: Any = None,
    no_out_of_time: str = "",
) -> Evaluation:
    """Score the test rows with every model and compute what the gates and the card need: the
    metrics, paired differences and trivial baseline of ``task`` (``tasks.TASKS``), whose label
    statistic on the train split is ``train_label_rate`` (binary: the positive rate).

    ``champion`` is the loaded champion, an UnloadableChampion, or None when there is none yet; the
    evaluation's ``champion_status`` records which, and whether the champion could score the rows.
    ``oot``: the out-of-time rows (None or empty when the snapshot has none: the comparison then
    runs on ``test``); ``champion_trained_days``: the days the champion learned from, whose oot rows
    are left out of the comparison. ``grain``: what a partition of ``day_column`` is (None: a day).
    """
    from mlops_assets.evaluate import metrics as m
    from mlops_assets.evaluate.bootstrap import bootstrap_estimates, paired_bootstrap_difference
    from mlops_assets.evaluate.slices import primary_metric_slices, slice_metrics
    from mlops_assets.evaluate import plots

    from mlops_assets.evaluate.weighted import full_data_value

    n_boot, seed = settings.bootstrap_resamples, settings.seed
    kind = task_of(task)
    classes = list(candidate.encoding.classes) if kind.has_classes else []
    measured = {"task": task, "classes": classes, "n_boot": n_boot, "seed": seed}
    kernels = kind.metrics(classes)

    y = kind.labels(test[target], classes)
    p_candidate = candidate.predict(test)
    threshold = None if candidate.threshold is None else float(candidate.threshold)
    estimates = bootstrap_estimates(y, p_candidate, threshold, **measured)
    baseline = kind.baseline(train_label_rate, len(y), classes)
    evaluation = Evaluation(
        model=model,
        model_sha256=candidate_sha256,
        snapshot_hash=snapshot_hash,
        test_rows=int(len(y)),
        threshold=threshold,
        metrics={name: e.to_dict() for name, e in estimates.items()},
        baseline={
            **{name: _finite(full_data_value(kernels[name], *kind.validate(y, baseline), threshold))
               for name in kind.paired_metrics},
            kind.label_statistic: train_label_rate,
        },
        importance=_importance(candidate),
        task=task,
        classes=classes,
        no_out_of_time=no_out_of_time,
    )
    compared, p_compared = test, p_candidate
    if oot is not None and len(oot):
        compared, p_compared = _measure_forward(evaluation, oot, target, candidate, champion, champion_trained_days,
                                                day_column, settings, grain)
        if evaluation.champion_status is ChampionStatus.NO_FORWARD_ROWS:
            champion = None
    y = kind.labels(compared[target], classes)
    p_candidate = candidate.predict(compared) if p_compared is None else p_compared
    evaluation.comparison_rows = int(len(y))
    if day_column in compared.columns:
        evaluation.comparison_days = sorted(set(m.partition_labels(compared[day_column], grain)))
    if evaluation.champion_status is ChampionStatus.NO_FORWARD_ROWS:
        evaluation.comparison_rows, evaluation.comparison_days = 0, []
    if len(y) and compared is oot:  # the same rows, predictions, threshold and resamples: the same intervals
        evaluation.comparison_metrics = {name: dict(values) for name, values in evaluation.oot_metrics.items()}
    elif len(y):
        evaluation.comparison_metrics = {name: e.to_dict() for name, e in
                                         bootstrap_estimates(y, p_candidate, threshold, **measured).items()}
    frame = compared[[c for c in slices if c in compared.columns]].copy()
    if kind.probability_plots:
        frame["__label"], frame["__candidate"] = y, p_candidate
    curves = {"candidate": p_candidate}
    champion_column = None
    if evaluation.champion_status is ChampionStatus.NO_FORWARD_ROWS:
        pass
    elif isinstance(champion, UnloadableChampion):
        evaluation.champion_status = ChampionStatus.UNVERIFIED
        evaluation.champion_note = f"champion v{champion.version} could not be loaded safely: {champion.error}"
    elif champion is not None:
        try:
            champion_classes = list(champion.encoding.classes) if kind.has_classes else []
            if champion_classes != classes:  # its probability columns mean other classes
                raise ValueError(f"it predicts the classes {champion_classes}, the candidate {classes}")
            p_champion = champion.predict(compared)
        except ValueError as error:
            evaluation.champion_status = ChampionStatus.CANNOT_SCORE
            evaluation.champion_note = f"champion v{champion.version} cannot score these features: {error}"
        else:
            evaluation.champion_status = ChampionStatus.SCORED
            champion_threshold = None if champion.threshold is None else float(champion.threshold)
            champion_estimates = bootstrap_estimates(y, p_champion, champion_threshold, **measured)
            evaluation.champion_version = champion.version
            evaluation.champion_metrics = {name: e.to_dict() for name, e in champion_estimates.items()}
            evaluation.paired = {
                name: paired_bootstrap_difference(y, p_candidate, p_champion, name, threshold, **measured).to_dict()
                for name in kind.paired_metrics
            }
            if kind.probability_plots:
                frame["__champion"] = p_champion
            champion_column = "__champion"
            curves["champion"] = p_champion
            if day_column in compared.columns:
                evaluation.comparison_daily_auc = {
                    "candidate": m.mean_of_days(m.daily_values(compared[day_column], y, p_candidate, task,
                                                               grain=grain)),
                    "champion": m.mean_of_days(m.daily_values(compared[day_column], y, p_champion, task,
                                                              grain=grain)),
                }
    else:
        evaluation.champion_status = ChampionStatus.NONE
        evaluation.champion_note = NO_CHAMPION_NOTE
    plots_dir.mkdir(parents=True, exist_ok=True)
    evaluation.plots = {}
    # the slice table, ROC and reliability curves read one probability per row: binary models'
    if kind.probability_plots:
        curves["baseline"] = kind.baseline(train_label_rate, len(y), classes)
        slice_table = slice_metrics(
            frame, [c for c in slices if c in frame.columns], "__label", "__candidate", champion_column,
            settings.min_slice_rows, threshold,
        )
        evaluation.slices = json.loads(slice_table.to_json(orient="records"))
        evaluation.plots = {
            "roc": str(plots.plot_roc(y, curves, plots_dir / "roc.png")),
            "calibration": str(plots.plot_calibration(y, {k: v for k, v in curves.items() if k != "baseline"},
                                                      plots_dir / "calibration.png")),
        }
    else:
        slice_table = primary_metric_slices(
            compared, [c for c in slices if c in compared.columns], y, p_candidate,
            p_champion if champion_column else None, task, classes, settings.min_slice_rows,
        )
        evaluation.slices = json.loads(slice_table.to_json(orient="records"))
    evaluation.plots["feature_importance"] = str(
        plots.plot_feature_importance(evaluation.importance, plots_dir / "feature_importance.png"))
    return evaluation


def _measure_forward(evaluation: Evaluation, oot: Any, target: str, candidate: Any, champion: Any,
                     champion_trained_days: Iterable[str], day_column: str, settings: EvaluationSettings,
                     grain: Any = None) -> tuple[Any, Any]:
    """Record the candidate on the out-of-time rows (pooled and per day); return the rows the champion
    comparison uses: those of days the champion did not train on (all of them, with the status
    NO_FORWARD_ROWS, when the champion trained on every held-out day: the candidate's own slices
    and plots still read them), with the candidate's predictions when they are the out-of-time rows
    themselves (the usual case: a champion trained before them), else None."""
    from mlops_assets.evaluate import metrics as m
    from mlops_assets.evaluate.bootstrap import bootstrap_estimates

    y, p = task_of(evaluation.task).labels(oot[target], evaluation.classes), candidate.predict(oot)
    evaluation.oot_rows = int(len(y))
    evaluation.oot_metrics = {name: e.to_dict() for name, e in bootstrap_estimates(
        y, p, evaluation.threshold, n_boot=settings.bootstrap_resamples, seed=settings.seed, task=evaluation.task,
        classes=evaluation.classes).items()}
    evaluation.oot_daily_auc = m.daily_values(oot[day_column], y, p, evaluation.task, grain=grain)
    evaluation.comparison_split = "oot"
    trained = set(m.partition_labels(list(champion_trained_days), grain))
    forward = oot[~np.isin(m.partition_labels(oot[day_column], grain), list(trained))]
    if len(forward) == len(oot):
        return oot, p
    if champion is None or isinstance(champion, UnloadableChampion) or not forward.empty:
        return forward, None
    evaluation.champion_status = ChampionStatus.NO_FORWARD_ROWS
    evaluation.champion_note = (f"champion v{champion.version} trained on every held-out day "
                                f"({', '.join(evaluation.oot_daily_auc)}): no rows that neither model trained on; "
                                "hold out later days")
    return oot, p


def store_evaluation(con: Any, evaluation: Evaluation, run_id: str | None) -> None:
    ensure_model_keyed(con, EVALUATIONS_DDL)
    con.execute(
        "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?)",
        [evaluation.model, evaluation.model_sha256, evaluation.snapshot_hash, evaluation.to_json(),
         dt.datetime.now(dt.timezone.utc), run_id],
    )


def load_evaluation(con: Any, model: str, model_sha256: str) -> Evaluation:
    ensure_model_keyed(con, EVALUATIONS_DDL)
    rows = con.execute(
        "SELECT arg_max(document, created_at) FROM evaluations WHERE model = ? AND model_sha256 = ? HAVING count(*) > 0",
        [model, model_sha256],
    ).fetchall()
    if not rows:
        raise LookupError(f"no evaluation of model {model_sha256[:12]} of {model}")
    return Evaluation.from_json(rows[0][0])


def _status_of_older_document(document: dict[str, Any]) -> ChampionStatus:
    """Evaluations stored before champion_status: a champion version means it was scored; otherwise
    only the no-champion note means there was none. Any other note (a champion that could not
    score) counts as not compared, so an old evaluation can never pass a comparison by rule."""
    if document.get("champion_version") is not None:
        return ChampionStatus.SCORED
    if document.get("champion_note", "") in ("", NO_CHAMPION_NOTE):
        return ChampionStatus.NONE
    return ChampionStatus.CANNOT_SCORE


def _importance(model: Any) -> dict[str, float]:
    """Total gain per feature, normalised to sum to 1 (gain says more than split counts)."""
    scores = model.booster.get_score(importance_type="total_gain")
    total = sum(scores.values()) or 1.0
    return {name: float(scores.get(name, 0.0) / total) for name in model.encoding.columns}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (dt.date, Path)):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
