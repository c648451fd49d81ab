"""The monitoring loop's history, read back from the warehouse and the Dagster runs.

Drift is shown as the triggers see it: by the statistic the monitoring policy names, at the
policy's levels, counting only features that can trigger retraining; drift of features the spec
opts out is listed apart, by feature, and never counted as a drifted day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_assets.core.files import atomic_path
from mlops_assets.core.grain import DEFAULT_GRAIN, grain
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import evaluation_asset
from mlops_assets.core.warehouse import connect
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.statistics import PSI


@dataclass
class Timeline:
    statistic: str = PSI.label  # the label of the drift statistic shown
    drift_days: list[dict[str, Any]] = field(default_factory=list)  # day, level, max value, drifted features
    not_triggering: dict[str, int] = field(default_factory=dict)  # opted-out feature -> days it drifted
    retrainings: list[dict[str, Any]] = field(default_factory=list)  # run, trigger, outcome, failed gates
    promotions: list[dict[str, Any]] = field(default_factory=list)  # ledger rows
    performance: list[dict[str, Any]] = field(default_factory=list)  # day, version, auc, reference
    performance_metric: str = "AUC"  # what live performance measured: the model's primary metric, spoken
    grain: str = DEFAULT_GRAIN  # how long each "day" above (a partition) lasts


def build_timeline(spec: DatasetSpec, layout: StateLayout, training_runs: list[dict[str, Any]],
                   policy: LoopPolicy) -> Timeline:
    from mlops_assets.promote import ledger
    from mlops_assets.monitor.drift import can_trigger_retraining
    from mlops_assets.monitor.drift_store import drift_history
    from mlops_assets.monitor.performance import performance_history
    from mlops_assets.monitor.statistics import drift_statistic

    statistic = drift_statistic(policy.drift_statistic)
    from mlops_assets.evaluate.tasks import METRIC_REGISTRY, task_of

    primary = task_of(spec.model.task).primary_metric
    timeline = Timeline(statistic=statistic.label, performance_metric=METRIC_REGISTRY[primary].spoken,
                        grain=spec.partitions.grain)
    with connect(layout.warehouse_path) as con:
        by_day: dict[dt.date, list[tuple[str, float, str]]] = {}
        for day, feature, _, value, _ in drift_history(con, spec.model.name, statistic=statistic.name, grain=spec.grain):
            level = policy.drift_level(statistic.name, value)  # the current policy's, as the triggers judge
            if can_trigger_retraining(spec, feature):
                by_day.setdefault(day, []).append((feature, value, level))
            elif level != "none":
                timeline.not_triggering[feature] = timeline.not_triggering.get(feature, 0) + 1
        for day, rows in sorted(by_day.items()):
            drifted = sorted((r for r in rows if r[2] != "none"), key=lambda r: -r[1])
            level = "high" if any(r[2] == "high" for r in rows) else ("moderate" if drifted else "none")
            timeline.drift_days.append({
                "day": day, "level": level, "max_value": max(r[1] for r in rows),
                "drifted": {f: v for f, v, _ in drifted},
            })
        for run in training_runs:
            failed = con.execute(
                "SELECT check_name, arg_max(summary, checked_at) FROM gate_results "
                "WHERE dataset = ? AND asset = ? AND run_id = ? AND NOT passed GROUP BY check_name",
                [spec.name, evaluation_asset(spec.model.name), run["run_id"]],
            ).fetchall()
            judged = [row[0] for row in con.execute(
                "SELECT DISTINCT content_hash FROM gate_results WHERE dataset = ? AND asset = ? AND run_id = ?",
                [spec.name, evaluation_asset(spec.model.name), run["run_id"]],
            ).fetchall()]
            timeline.retrainings.append({**run, "failed_gates": {name: summary for name, summary in failed},
                                         "model_sha256": judged[0] if len(judged) == 1 else None})
        for entry in ledger.entries(con, spec.model.name):
            timeline.promotions.append({
                "action": entry.action, "from": entry.from_version, "to": entry.to_version,
                "at": entry.recorded_at, "run_id": entry.dagster_run_id, "reason": entry.reason,
                "model_sha256": entry.model_sha256,
            })
        for day, version, auc, reference, drop, degraded in performance_history(con, spec.model.name, grain=spec.grain):
            timeline.performance.append({"day": day, "version": version, "auc": auc, "reference_auc": reference,
                                         "relative_drop": drop, "degraded": degraded})
    return timeline


def run_outcome(timeline: Timeline, run: dict[str, Any]) -> str:
    """promoted vN; unchanged (a rebuild of the bytes an earlier run promoted as vN: the alias stays);
    rejected (a gate failed); or the run's status."""
    promotions = [p for p in timeline.promotions if p["action"] == "promote"]
    promoted = next((p for p in promotions if p["run_id"] == run["run_id"]), None)
    if promoted:
        return f"promoted v{promoted['to']}"
    if run["failed_gates"]:
        return "rejected"
    same = [p for p in promotions if run.get("model_sha256") and p.get("model_sha256") == run["model_sha256"]]
    if same and run["status"] == "SUCCESS":
        return f"unchanged (is v{same[-1]['to']})"
    return run["status"].lower()


def timeline_markdown(timeline: Timeline) -> str:
    lines = ["### Retraining runs", "| run | trigger | outcome | failed gates |", "|---|---|---|---|"]
    for run in timeline.retrainings:
        outcome = run_outcome(timeline, run)
        gates = "; ".join(f"{k}: {v}" for k, v in run["failed_gates"].items())
        lines.append(f"| {run['run_id'][:8]} | {run['trigger']} | {outcome} | {gates} |")
    lines += ["", f"### Drifted days ({timeline.statistic}, features that can trigger retraining)",
              f"| day | level | max {timeline.statistic} | features |", "|---|---|---|---|"]
    for row in timeline.drift_days:
        if row["level"] != "none":
            lines.append(f"| {row['day']} | {row['level']} | {row['max_value']:.3f} | {_top(row['drifted'])} |")
    if timeline.not_triggering:
        lines += ["", f"Not counted (`drift_triggers_retraining: false`): {_days_by_feature(timeline.not_triggering)}."]
    measured = timeline.performance_metric
    lines += ["", "### Live performance", f"| day | champion | {measured} | reference {measured} (out of time, per day) "
              "| drop |", "|---|---|---|---|---|"]
    for row in timeline.performance:
        auc = "n/a" if row["auc"] is None else f"{row['auc']:.3f}"
        drop = "" if row["relative_drop"] is None else f"{row['relative_drop']:+.1%}"
        lines.append(f"| {row['day']} | v{row['version']} | {auc} | {row['reference_auc']:.3f} | {drop} |")
    return "\n".join(lines)


def plot_timeline(timeline: Timeline, path: Path) -> Path:
    """Live AUC per day, coloured by champion version, with high-drift days and promotions marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    versions = sorted({row["version"] for row in timeline.performance}, key=lambda v: int(v))
    for version in versions:
        rows = [r for r in timeline.performance if r["version"] == version and r["auc"] is not None]
        if rows:
            axes.plot([r["day"] for r in rows], [r["auc"] for r in rows], marker=".", label=f"champion v{version}")
            axes.axhline(rows[0]["reference_auc"], linestyle=":", linewidth=0.8)
    high = [row["day"] for row in timeline.drift_days if row["level"] == "high"]
    for index, day in enumerate(high):
        axes.axvspan(day, grain(timeline.grain).end_of(day), color="tab:red", alpha=0.08,
                     label="high drift" if index == 0 else None)
    axes.set_ylabel("live AUC")
    axes.set_title("Champion performance on labelled days")
    if versions or high:
        # beside the plot: a year of weekly retrains makes a long legend that would hide the data
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", ncol=1 + len(versions) // 16)
    figure.autofmt_xdate()
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", metadata={"Software": None})
    return path


def timeline_text(timeline: Timeline) -> str:
    """A compact terminal version of the timeline for the replay command."""
    lines = ["retraining runs:"]
    for run in timeline.retrainings:
        word, _, rest = run_outcome(timeline, run).partition(" ")
        outcome = f"{word.upper()} {rest}".strip()
        lines.append(f"  {run['run_id'][:8]}  {outcome:<14} trigger: {run['trigger']}")
        for gate, summary in run["failed_gates"].items():
            lines.append(f"      {gate}: {summary}")
    drifted = [row for row in timeline.drift_days if row["level"] != "none"]
    per_feature: dict[str, int] = {}
    for row in drifted:
        for feature in row["drifted"]:
            per_feature[feature] = per_feature.get(feature, 0) + 1
    lines.append(f"drifted days by {timeline.statistic}: {len(drifted)} of {len(timeline.drift_days)} scored days "
                 f"({sum(1 for r in drifted if r['level'] == 'high')} high)"
                 + (f"; {_days_by_feature(per_feature)}" if per_feature else ""))
    if timeline.not_triggering:
        lines.append(f"  not counted (drift_triggers_retraining: false): {_days_by_feature(timeline.not_triggering)}")
    labelled = [r for r in timeline.performance if r["auc"] is not None]
    if labelled:
        by_month: dict[str, list[float]] = {}
        for row in labelled:
            by_month.setdefault(row["day"].strftime("%Y-%m"), []).append(row["auc"])
        lines.append("champion live AUC by month: " + ", ".join(
            f"{month} {sum(v) / len(v):.3f}" for month, v in sorted(by_month.items())))
    return "\n".join(lines)


def _top(drifted: dict[str, float], shown: int = 4) -> str:
    return ", ".join(f"{feature} {value:.2f}" for feature, value in list(drifted.items())[:shown])


def _days_by_feature(days: dict[str, int]) -> str:
    ranked = sorted(days.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{feature} on {n} day{'s' if n != 1 else ''}" for feature, n in ranked)
