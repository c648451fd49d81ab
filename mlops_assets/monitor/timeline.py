"""The monitoring loop's history, read back from the warehouse and the Dagster runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_assets.core.files import atomic_path
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.verdicts import EVALUATION_ASSET
from mlops_assets.core.warehouse import connect


@dataclass
class Timeline:
    drift_days: list[dict[str, Any]] = field(default_factory=list)  # day, max level, top features
    retrainings: list[dict[str, Any]] = field(default_factory=list)  # run, trigger, outcome, failed gates
    promotions: list[dict[str, Any]] = field(default_factory=list)  # ledger rows
    performance: list[dict[str, Any]] = field(default_factory=list)  # day, version, auc, reference


def build_timeline(spec: DatasetSpec, layout: StateLayout, training_runs: list[dict[str, Any]]) -> Timeline:
    from mlops_assets.promote import ledger
    from mlops_assets.monitor.drift import drift_history
    from mlops_assets.monitor.performance import performance_history

    timeline = Timeline()
    with connect(layout.warehouse_path) as con:
        by_day: dict[dt.date, list[tuple[str, float, str]]] = {}
        for day, feature, value, level in drift_history(con, spec.name):
            by_day.setdefault(day, []).append((feature, value, level))
        for day, rows in sorted(by_day.items()):
            drifted = sorted((r for r in rows if r[2] != "none"), key=lambda r: -r[1])
            level = "high" if any(r[2] == "high" for r in rows) else ("moderate" if drifted else "none")
            timeline.drift_days.append({
                "day": day, "level": level, "max_psi": max(r[1] for r in rows),
                "features": ", ".join(f"{f} {v:.2f}" for f, v, _ in drifted[:4]),
            })
        for run in training_runs:
            failed = con.execute(
                "SELECT check_name, arg_max(summary, checked_at) FROM gate_results "
                "WHERE dataset = ? AND asset = ? AND run_id = ? AND NOT passed GROUP BY check_name",
                [spec.name, EVALUATION_ASSET, run["run_id"]],
            ).fetchall()
            timeline.retrainings.append({**run, "failed_gates": {name: summary for name, summary in failed}})
        for entry in ledger.entries(con, spec.name):
            timeline.promotions.append({
                "action": entry.action, "from": entry.from_version, "to": entry.to_version,
                "at": entry.recorded_at, "run_id": entry.dagster_run_id, "reason": entry.reason,
            })
        for day, version, auc, reference, drop, degraded in performance_history(con, spec.name):
            timeline.performance.append({"day": day, "version": version, "auc": auc, "reference_auc": reference,
                                         "relative_drop": drop, "degraded": degraded})
    return timeline


def timeline_markdown(timeline: Timeline) -> str:
    lines = ["### Retraining runs", "| run | trigger | outcome | failed gates |", "|---|---|---|---|"]
    promoted_runs = {p["run_id"]: p for p in timeline.promotions if p["action"] == "promote"}
    for run in timeline.retrainings:
        promoted = promoted_runs.get(run["run_id"])
        outcome = f"promoted v{promoted['to']}" if promoted else ("rejected" if run["failed_gates"] else run["status"].lower())
        gates = "; ".join(f"{k}: {v}" for k, v in run["failed_gates"].items())
        lines.append(f"| {run['run_id'][:8]} | {run['trigger']} | {outcome} | {gates} |")
    lines += ["", "### Drifted days", "| day | level | max PSI | features |", "|---|---|---|---|"]
    for row in timeline.drift_days:
        if row["level"] != "none":
            lines.append(f"| {row['day']} | {row['level']} | {row['max_psi']:.3f} | {row['features']} |")
    lines += ["", "### Live performance", "| day | champion | AUC | test AUC | drop |", "|---|---|---|---|---|"]
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
        axes.axvspan(day, day + dt.timedelta(days=1), color="tab:red", alpha=0.08,
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
    promoted_runs = {p["run_id"]: p for p in timeline.promotions if p["action"] == "promote"}
    for run in timeline.retrainings:
        promoted = promoted_runs.get(run["run_id"])
        outcome = f"PROMOTED v{promoted['to']}" if promoted else ("REJECTED" if run["failed_gates"] else run["status"])
        lines.append(f"  {run['run_id'][:8]}  {outcome:<14} trigger: {run['trigger']}")
        for gate, summary in run["failed_gates"].items():
            lines.append(f"      {gate}: {summary}")
    drifted = [row for row in timeline.drift_days if row["level"] != "none"]
    lines.append(f"drifted days: {len(drifted)} of {len(timeline.drift_days)} scored days "
                 f"({sum(1 for r in drifted if r['level'] == 'high')} high)")
    labelled = [r for r in timeline.performance if r["auc"] is not None]
    if labelled:
        by_month: dict[str, list[float]] = {}
        for row in labelled:
            by_month.setdefault(row["day"].strftime("%Y-%m"), []).append(row["auc"])
        lines.append("champion live AUC by month: " + ", ".join(
            f"{month} {sum(v) / len(v):.3f}" for month, v in sorted(by_month.items())))
    return "\n".join(lines)
