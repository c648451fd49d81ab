"""Where the platform keeps its state: one folder, so deleting it is a clean start.

Everything the embedded defaults write (the DuckDB warehouse, the MLflow store, the landing zone,
reports and the local Dagster instance) lives under a single root, chosen by ``MLOPS_STATE_DIR``
and defaulting to ``.mlops_state`` in the working directory. Real infrastructure replaces pieces of
it by configuration (``MLFLOW_TRACKING_URI``, a Postgres-backed ``dagster.yaml``), not by code.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_ENV = "MLOPS_STATE_DIR"
DEFAULT_STATE_DIRNAME = ".mlops_state"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


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

    def model_reports_dir(self, model: str) -> Path:
        """One model's evaluations, cards, drift reports and timeline."""
        return self.reports_dir / model

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
        return self

    def environment(self) -> dict[str, str]:
        """Environment variables that point Dagster and MLflow child processes at this state."""
        return {
            STATE_DIR_ENV: str(self.root),
            "DAGSTER_HOME": str(self.dagster_home),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
        }

