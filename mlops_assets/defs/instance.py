"""The local Dagster instance, made ready before any run: folders, dagster.yaml, no dead runs.

A run killed with SIGKILL (or OOM) never gives back its ``warehouse`` pool slot, so every later run
would wait for it forever, and it shows as running forever. Every entry point (the CLI, the state
resource of every step and sensor) calls ``prepare`` first, which marks such runs failed and frees
their slots.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg

from mlops_assets.core.paths import StateLayout

# How often one process looks for runs that were killed.
DEAD_RUN_SCAN_SECONDS = 60.0
_last_dead_run_scan: dict[Path, float] = {}


def prepare(layout: StateLayout) -> StateLayout:
    """Create the state folders and install dagster.yaml, then release dead runs."""
    layout.ensure()
    release_dead_runs(layout)
    return layout


def release_dead_runs(layout: StateLayout, *, force: bool = False) -> list[str]:
    """Mark failed, and free the pool slots of, local runs whose process was killed.

    The ``warehouse`` pool (dagster.yaml) is enforced per step through slots in the instance's own
    storage. A started run (or one holding a slot) whose process (the pid of its start event) no
    longer exists on this machine is reported failed and its slots are freed. Only the embedded
    sqlite instance is scanned (its runs are local processes); at most once a minute per process
    unless ``force``. Returns the released run ids.
    """
    if not (layout.dagster_home / "history" / "runs.db").is_file():
        return []  # no local instance yet (or a Postgres-backed one): nothing to scan
    now = time.monotonic()
    last = _last_dead_run_scan.get(layout.dagster_home)
    if not force and last is not None and now - last < DEAD_RUN_SCAN_SECONDS:
        return []
    _last_dead_run_scan[layout.dagster_home] = now
    try:
        return _release_dead_runs(layout.dagster_home)
    except Exception:  # noqa: BLE001 - housekeeping must never stop the platform
        return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _release_dead_runs(dagster_home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return release_abandoned_runs(instance)


def release_abandoned_runs(instance: dg.DagsterInstance, finished_pid: int | None = None) -> list[str]:
    """Mark failed, and free the slots of, runs whose process is gone, or is ``finished_pid``: a
    process that has returned from all its in-process runs (one that hit a write fault, a full disk,
    can leave its run STARTED and holding its slot although the process lives on). Returns the run ids."""
    released = []
    storage = instance.event_log_storage
    if "sqlite" not in type(instance.run_storage).__name__.lower():
        return []  # a shared (Postgres) instance: its runs may live on other machines
    holding = storage.get_concurrency_run_ids() if storage.supports_global_concurrency_limits else set()
    running = instance.get_run_ids(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING])
    )
    for run_id in sorted({*holding, *running}):
        starts = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        pid = starts[0].event_log_entry.dagster_event.pid if starts else None
        if pid is None or (pid != finished_pid and _pid_alive(pid)):
            continue
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            why = "is gone (killed?)" if pid != finished_pid else "returned without finishing it (a write fault?)"
            instance.report_run_failed(run, f"the run's process (pid {pid}) {why}: marked failed, its pool slots released")
        if run_id in holding:
            storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released
