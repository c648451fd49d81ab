"""Replay a stretch of the dataset day by day through the platform's real sensors and automation.

This is what the Dagster daemon does, at the speed of the data instead of the wall clock: for each
day it lands the file, ticks the landing sensor and runs what it requests (ingestion), evaluates
the declarative automation and runs what it requests (scoring, drift, live performance), ticks the
retraining sensor and runs what it requests (training, gated against the champion). Every run goes
through the local Dagster instance, so the UI shows the whole history afterwards.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import dagster as dg

from mlops_assets.core.paths import StateLayout
from mlops_assets.defs.runs import quiet
from mlops_assets.defs.common import execute_in_process

AUTOMATED_ASSETS = ("batch_predictions", "drift_report", "live_performance")


@dataclass
class SimulationLog:
    runs: list[dict[str, Any]] = field(default_factory=list)
    timeline: Any = None

    def add(self, kind: str, key: str, success: bool, seconds: float, detail: str = "") -> None:
        self.runs.append({"kind": kind, "key": key, "success": success, "seconds": round(seconds, 2), "detail": detail})


class Loop:
    """The platform's sensors and automation, ticked by hand on one instance."""

    def __init__(self, spec, layout: StateLayout, instance: dg.DagsterInstance, *, evidently_every: int = 7,
                 say: Callable[[str], None] = print, defs: dg.Definitions | None = None):
        from mlops_assets.definitions import build_definitions
        from mlops_assets.defs.resources import StateResource

        from mlops_assets.defs.names import DatasetNames, ModelNames

        self.spec, self.layout, self.instance, self.say = spec, layout, instance, say
        self.dataset_names, self.names = DatasetNames.of(spec), ModelNames.of(spec)
        self.defs = defs or build_definitions(spec, StateResource(state_dir=str(layout.root)))
        self.cursors: dict[str, str | None] = {}
        self.automation_cursor = None
        self.evidently_every = evidently_every
        self.log = SimulationLog()

    def tick_sensor(self, name: str) -> list[dg.RunRequest]:
        sensor = self.defs.resolve_sensor_def(name)
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursors.get(name),
                                     definitions=self.defs, resources=self.defs.resources,
                                     sensor_name=name) as context:
            data = sensor.evaluate_tick(context)
        self.cursors[name] = data.cursor
        # Dagster's daemon skips a run key it has seen before; do the same here.
        fresh = []
        for request in data.run_requests or []:
            if request.run_key and self.instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/sensor_name": name, "dagster/run_key": request.run_key}), limit=1
            ):
                continue
            fresh.append(request)
        return fresh

    def run_sensor_requests(self, name: str, job_name: str) -> list[dg.ExecuteInProcessResult]:
        results = []
        for request in self.tick_sensor(name):
            job = self.defs.resolve_job_def(job_name)
            tags = {**request.tags, "dagster/sensor_name": name, **({"dagster/run_key": request.run_key} if request.run_key else {})}
            started = time.monotonic()
            result = execute_in_process(
                job, instance=self.instance, partition_key=request.partition_key, tags=tags, raise_on_error=False,
                run_config=quiet(request.run_config),
            )
            self.log.add(job_name, request.partition_key or request.run_key or "", result.success,
                         time.monotonic() - started, request.tags.get("mlops/trigger_reason", ""))
            results.append(result)
        return results

    def ingest_landed(self) -> None:
        """What the landing sensors start for the files that arrived: (a dataset with a label feed)
        the outcomes landed for earlier partitions, then the rows, whose trailing rates read them."""
        if self.spec.labels is not None:
            self.run_sensor_requests(self.dataset_names.label_sensor, self.dataset_names.labels_job)
        self.run_sensor_requests(self.dataset_names.landing_sensor, self.dataset_names.ingest_job)

    def run_automation(self, day_index: int, max_ticks: int = 3) -> None:
        """Tick the automation until it requests nothing more (scoring unlocks drift on the next
        tick), running what each tick requests as the daemon does under the assets' backfill policy:
        assets asked for the same days together, a run per stretch of consecutive days."""
        for _ in range(max_ticks):
            if not self._automation_tick(day_index):
                return

    def _automation_tick(self, day_index: int) -> int:
        from mlops_assets.defs.common import run_partitions
        from mlops_assets.pipeline.backfill import day_ranges

        targets = [self.names.key(name) for name in AUTOMATED_ASSETS]
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.automation_cursor,
            asset_selection=dg.AssetSelection.assets(*targets),
        )
        self.automation_cursor = result.cursor
        keys_by_days: dict[frozenset[str], list[dg.AssetKey]] = {}
        for key in targets:
            requested = frozenset(p for p in result.get_requested_partitions(key) if p is not None)
            if requested:
                keys_by_days.setdefault(requested, []).append(key)
        job = self.defs.resolve_implicit_global_asset_job_def()
        runs = 0
        for requested, keys in keys_by_days.items():  # in the targets' order: upstream first
            days = [self.spec.grain.parse_key(p) for p in requested]
            for first, last in day_ranges(days, self.spec.partitions.backfill_days_per_run, self.spec.grain):
                run_config = quiet()
                if self.names.key("drift_report") in keys:
                    report = self.evidently_every > 0 and day_index % self.evidently_every == 0
                    run_config = quiet(self.names.run_config({"drift_report": {"evidently_report": report}}))
                started = time.monotonic()
                selection = run_partitions(first, last)
                selection["tags"] = {"dagster/from_automation_condition": "true", **selection.get("tags", {})}
                outcome = execute_in_process(job, instance=self.instance, asset_selection=keys, run_config=run_config,
                                             raise_on_error=False, **selection)
                span = first.isoformat() if first == last else f"{first}..{last}"
                self.log.add("automation", f"{span} {','.join(k.to_user_string() for k in keys)}",
                             outcome.success, time.monotonic() - started)
                runs += 1
        return runs

    def train(self, tags: dict[str, str], run_config: dict) -> dg.ExecuteInProcessResult:
        started = time.monotonic()
        result = execute_in_process(
            self.defs.resolve_job_def(self.names.train_job), instance=self.instance, tags=tags,
            run_config=quiet(run_config), raise_on_error=False,
        )
        self.log.add(self.names.train_job, tags.get("mlops/trigger_reason", ""), result.success, time.monotonic() - started)
        return result


def simulate(spec, layout: StateLayout, *, start: dt.date, train_days: int, days: int, evidently_every: int = 7,
             say: Callable[[str], None] = print, defs: dg.Definitions | None = None) -> SimulationLog:
    """Ingest ``train_days`` days, train the first champion, then replay ``days`` more days."""
    from mlops_assets.defs.automation import train_window_config
    from mlops_assets.defs.model import TRIGGER_TAG
    from mlops_assets.ingest.landing import replay

    with dg.DagsterInstance.get() as instance:
        loop = Loop(spec, layout, instance, evidently_every=evidently_every, say=say, defs=defs)
        replay(spec, layout, start, train_days)
        names = loop.names
        loop.ingest_landed()
        first_end = spec.grain.shift(start, train_days - 1)
        result = loop.train({TRIGGER_TAG: f"initial training on {start}..{first_end}", "mlops/trigger_rule": "initial"},
                            train_window_config(names, first_end, train_days))
        say(f"initial champion trained on {start}..{first_end}: {'ok' if result.success else 'FAILED'}")
        # The automation's first tick only records where things stand (days that existed before the
        # automation was switched on are not backfilled), as the daemon's sensor does when turned on.
        loop.run_automation(0)
        for index in range(days):
            day = spec.grain.shift(first_end, index + 1)
            if spec.partitions.end_date and day >= spec.partitions.end_date:
                break
            landed = replay(spec, layout, day, 1)
            loop.ingest_landed()
            loop.run_automation(index)
            for outcome in loop.run_sensor_requests(names.retraining_sensor, names.train_job):
                reason = outcome.dagster_run.tags.get(TRIGGER_TAG, "")
                say(f"{day}: retraining requested ({reason}) -> {'passed the gates' if outcome.success else 'rejected'}")
            if landed and (index + 1) % 7 == 0:
                say(f"{day}: replayed {index + 1} days")
        loop.run_automation(days)  # the last day's labels
        execute_in_process(loop.defs.resolve_job_def(names.job("timeline")), instance=instance, run_config=quiet())
        from mlops_assets.defs.monitoring import retraining_runs
        from mlops_assets.monitor.timeline import build_timeline

        loop.log.timeline = build_timeline(spec, layout, retraining_runs(instance, names),
                                           loop.defs.resources[names.monitoring_policy].plain())
    return loop.log
