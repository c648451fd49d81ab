"""Resources: where the platform's state lives, configurable per deployment."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from mlops_assets.core.paths import StateLayout


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


class ModelRegistryResource(dg.ConfigurableResource):
    """MLflow tracking and registry: the embedded sqlite store unless a URI is configured."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI; defaults to $MLFLOW_TRACKING_URI or the state folder's sqlite store",
    )

    def registry(self, layout: StateLayout, model_name: str):
        from mlops_assets.core.registry import ModelRegistry

        return ModelRegistry(self.tracking_uri or layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name)


class GatePolicy(dg.ConfigurableResource):
    """Thresholds of the promotion gates (blocking checks on candidate_evaluation)."""

    min_auc: float = Field(default=0.60, description="minimum test AUC of any candidate")
    max_auc_drop_vs_champion: float = Field(
        default=0.01, description="the candidate may trail the champion's AUC (paired, same rows) by at most this"
    )
    min_auc_lift_over_baseline: float = Field(default=0.02, description="AUC lift required over the class-prior baseline")
    max_slice_auc_drop: float = Field(default=0.05, description="largest AUC loss against the champion on any slice")
    min_slice_rows: int = Field(default=200, description="slices with fewer test rows are not gated")
    max_ece: float = Field(default=0.05, description="ceiling on expected calibration error")

    def thresholds(self):
        from mlops_assets.gate.rules import GateThresholds

        return GateThresholds(
            min_auc=self.min_auc,
            max_auc_drop_vs_champion=self.max_auc_drop_vs_champion,
            min_auc_lift_over_baseline=self.min_auc_lift_over_baseline,
            max_slice_auc_drop=self.max_slice_auc_drop,
            min_slice_rows=self.min_slice_rows,
            max_ece=self.max_ece,
        )


class JsonHandleIOManager(dg.ConfigurableIOManager):
    """Passes small JSON handles (hashes, ids, parameters) between the model assets.

    The heavy things (snapshots, models, evaluations) live in the warehouse and MLflow; what flows
    through Dagster is only which one, as JSON on disk: never pickle.
    """

    state_dir: str | None = Field(default=None, description="defaults to the state folder")

    def _path(self, context) -> Path:
        root = Path(self.state_dir).expanduser() if self.state_dir else StateLayout.from_env().root
        return root / "handles" / ("__".join(context.asset_key.path) + ".json")

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        import json

        from mlops_assets.core.files import write_text_atomically

        write_text_atomically(self._path(context), json.dumps(obj, indent=2, sort_keys=True, default=str))

    def load_input(self, context: dg.InputContext):
        import json

        path = self._path(context.upstream_output)
        if not path.exists():
            raise dg.Failure(f"{context.upstream_output.asset_key.to_user_string()} has not been materialized yet")
        return json.loads(path.read_text())
