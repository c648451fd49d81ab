"""Resources: where the platform's state lives, configurable per deployment."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from mlops_assets.state import StateLayout


class StateResource(dg.ConfigurableResource):
    """The state folder (warehouse, landing zone, MLflow store, reports)."""

    state_dir: str | None = Field(
        default=None,
        description="Root of the platform's state; defaults to $MLOPS_STATE_DIR or ./.mlops_state",
    )

    def layout(self) -> StateLayout:
        if self.state_dir:
            return StateLayout(Path(self.state_dir).expanduser().resolve()).ensure()
        return StateLayout.from_env().ensure()
