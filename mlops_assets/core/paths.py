"""Where the platform keeps its state: one folder, so deleting it is a clean start.

Everything the embedded defaults write (the DuckDB warehouse, the MLflow store, the landing zone,
reports and the local Dagster instance) lives under a single root, chosen by ``MLOPS_STATE_DIR``
and defaulting to ``.mlops_state`` in the working directory. Real infrastructure replaces pieces of
it by configuration (``MLFLOW_TRACKING_URI``, a Postgres-backed ``dagster.yaml``), not by code.
``ensure()`` also tidies the local Dagster instance after a crash: a run whose process was killed
is marked failed and gives back its ``warehouse`` pool slot, which later runs would wait for forever.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_ENV = "MLOPS_STATE_DIR"
DEFAULT_STATE_DIRNAME = ".mlops_state"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How often one process looks for runs that were killed (see StateLayout.release_dead_runs).
DEAD_RUN_SCAN_SECONDS = 60.0
_last_dead_run_scan: dict[Path, float] = {}


class StateFolderError(RuntimeError):
    """The state folder is not a folder, or cannot be written."""


@dataclass(frozen=True)
class StateLayout:
    """The paths under one state root; creating them is idempotent."""

    root: Path

    @classmethod
    def from_env(cls) -> "StateLayout":
        configured = os.environ.get(STATE_DIR_ENV)
        root = Path(configured) if configured else Path.cwd() / DEFAULT_STATE_DIRNAME
        return cls(root.expanduser().resolve())

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    def landing_dir_for(self, dataset: str) -> Path:
        return self.landing_dir / dataset

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The tracking URI: ``MLFLOW_TRACKING_URI`` when set, else the embedded sqlite store."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def ensure(self) -> "StateLayout":
        """Create the folders and install the project's ``dagster.yaml`` into DAGSTER_HOME."""
        if self.root.exists() and not self.root.is_dir():
            raise StateFolderError(f"the state folder {self.root} is a file, not a folder; "
                                   "point --state-dir / MLOPS_STATE_DIR at a folder")
        try:
            for folder in (
                self.root,
                self.landing_dir,
                self.reports_dir,
                self.mlflow_artifacts_dir,
                self.dagster_home,
                self.cache_dir,
            ):
                folder.mkdir(parents=True, exist_ok=True)
            project_config = PROJECT_ROOT / "dagster.yaml"
            instance_config = self.dagster_home / "dagster.yaml"
            if project_config.exists() and (
                not instance_config.exists()
                or instance_config.read_bytes() != project_config.read_bytes()
            ):
                shutil.copyfile(project_config, instance_config)
        except OSError as error:
            raise StateFolderError(
                f"the state folder {self.root} cannot be written ({error.strerror}: {error.filename}); "
                "make it writable or point --state-dir / MLOPS_STATE_DIR elsewhere"
            ) from error
        self.release_dead_runs()
        return self

    def release_dead_runs(self, *, force: bool = False) -> list[str]:
        """Mark failed, and free the pool slots of, local runs whose process was killed.

        The ``warehouse`` pool (dagster.yaml) is enforced per step through slots in the instance's
        own storage. A run killed with SIGKILL (or OOM) never gives its slot back, so every later
        run would wait for it forever, and it shows as running forever. A started run (or one
        holding a slot) whose process (the pid of its start event) no longer exists on this
        machine is reported failed and its slots are freed. Only the embedded sqlite instance is
        scanned (its runs are local processes); at most once a minute per process unless
        ``force``. Returns the released run ids.
        """
        if not (self.dagster_home / "history" / "runs.db").is_file():
            return []  # no local instance yet (or a Postgres-backed one): nothing to scan
        now = time.monotonic()
        last = _last_dead_run_scan.get(self.dagster_home)
        if not force and last is not None and now - last < DEAD_RUN_SCAN_SECONDS:
            return []
        _last_dead_run_scan[self.dagster_home] = now
        try:
            return _release_dead_runs(self.dagster_home)
        except Exception:  # noqa: BLE001 - housekeeping must never stop the platform
            return []

    def environment(self) -> dict[str, str]:
        """Environment variables that point Dagster and MLflow child processes at this state."""
        return {
            STATE_DIR_ENV: str(self.root),
            "DAGSTER_HOME": str(self.dagster_home),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _release_dead_runs(dagster_home: Path) -> list[str]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return release_abandoned_runs(instance)


def release_abandoned_runs(instance, finished_pid: int | None = None) -> list[str]:
    """Mark failed, and free the slots of, runs whose process is gone, or is ``finished_pid``: a
    process that has returned from all its in-process runs (one that hit a write fault, a full disk,
    can leave its run STARTED and holding its slot although the process lives on). Returns the run ids."""
    import dagster as dg

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
