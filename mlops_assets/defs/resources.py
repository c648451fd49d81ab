"""Resources: where the platform's state lives, configurable per deployment."""

from __future__ import annotations

import functools
from pathlib import Path

import dagster as dg
from pydantic import Field, create_model

from mlops_assets.core.paths import StateLayout
from mlops_assets.gate.registry import GateThresholds, threshold_fields


class StateResource(dg.ConfigurableResource):
    """The state folder (warehouse, landing zone, MLflow store, reports)."""

    state_dir: str | None = Field(
        default=None,
        description="Root of the platform's state; defaults to $MLOPS_STATE_DIR or ./.mlops_state",
    )

    def layout(self) -> StateLayout:
        from mlops_assets.defs.instance import prepare

        if self.state_dir:
            return prepare(StateLayout(Path(self.state_dir).expanduser().resolve()))
        return prepare(StateLayout.from_env())


class ModelRegistryResource(dg.ConfigurableResource):
    """MLflow tracking and registry: the embedded sqlite store unless a URI is configured."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI; defaults to $MLFLOW_TRACKING_URI or the state folder's sqlite store",
    )

    def registry(self, layout: StateLayout, model_name: str):
        from mlops_assets.core.registry import ModelRegistry

        return ModelRegistry(self.tracking_uri or layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, model_name)


class GatePolicyResource(dg.ConfigurableResource):
    """Thresholds of the promotion gates (blocking checks on candidate_evaluation).

    The fields are not written here: ``gate_policy_class`` makes one typed, documented field per
    threshold the gates declare (gate/registry.py), with its default from that declaration.
    """

    def thresholds(self) -> GateThresholds:
        # a threshold declared after this class was made takes its declared default
        return GateThresholds(**{name: getattr(self, name) for name in threshold_fields() if name in type(self).model_fields})


def gate_policy_class() -> type[GatePolicyResource]:
    """The gate_policy resource class for the gates declared now."""
    return _policy_class(tuple((t.name, t.type, t.default, t.description) for t in threshold_fields().values()))


@functools.cache
def _policy_class(fields: tuple[tuple[str, type, float | int, str], ...]) -> type[GatePolicyResource]:
    return create_model(
        "GatePolicy", __base__=GatePolicyResource, __module__=__name__,
        **{name: (kind, Field(default=default, description=description)) for name, kind, default, description in fields},
    )


GatePolicy = gate_policy_class()


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
