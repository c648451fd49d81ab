"""rollback_job: put a previous champion back, from the UI or the CLI (mlops_assets.promote.rollback)."""

import dagster as dg
from pydantic import Field

from mlops_assets.defs.common import WAREHOUSE_POOL
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.core.registry import model_name
from mlops_assets.defs.names import ModelNames
from mlops_assets.core.spec import DatasetSpec

CHAMPION_ASSET = "champion_model"


class RollbackConfig(dg.Config):
    reason: str = Field(description="why the champion is rolled back (kept in the ledger)")
    to_version: str | None = Field(
        default=None, description="registry version to make champion; default: the champion before the current one"
    )
    operator: str | None = Field(default=None, description="who rolls back; default: the run's `user` tag, else the sensor, schedule or OS user that launched it")
    override_until: str | None = Field(
        default=None,
        description="only for a version that never passed the gates: a gate override until this date "
        "(YYYY-MM-DD or ISO time, at most 90 days), recorded with operator and reason",
    )


def build_rollback_job(spec: DatasetSpec) -> dg.JobDefinition:
    registered_name = model_name(spec)
    names = ModelNames.of(spec)

    @dg.op(name=names.rollback_op, pool=WAREHOUSE_POOL)
    def roll_back_champion(
        context: dg.OpExecutionContext, config: RollbackConfig, state: StateResource,
        model_registry: ModelRegistryResource,
    ) -> None:
        from mlops_assets.gate.overrides import parse_expiry
        from mlops_assets.promote.ledger import os_user, run_operator
        from mlops_assets.promote.rollback import rollback

        layout = state.layout()
        entry = rollback(
            spec=spec, layout=layout, registry=model_registry.registry(layout, registered_name),
            operator=config.operator or run_operator(context.run.tags, context.run.run_id, os_user()), reason=config.reason,
            to_version=config.to_version,
            override_until=parse_expiry(config.override_until) if config.override_until else None,
            dagster_run_id=context.run.run_id,
        )
        context.log_event(dg.AssetMaterialization(
            asset_key=names.key(CHAMPION_ASSET),
            description=f"rolled back from version {entry.from_version} to {entry.to_version}: {entry.reason}",
            metadata={
                "champion_version": entry.to_version,
                "previous_champion": entry.from_version or "none",
                "model_sha256": entry.model_sha256,
                "reason": entry.reason,
                "operator": entry.operator,
                "action": "rollback",
            },
        ))

    @dg.job(
        name=names.rollback_job,
        description=(
            "Move the `champion` alias back to the previous champion or to a named version, after "
            "checking the artifact's sha256 and a smoke prediction on its stored sample. Refuses a "
            "version that never passed the gates unless an override is given. Writes a ledger row."
        ),
        tags={"mlops/kind": "rollback"},
    )
    def rollback_job():
        roll_back_champion()

    return rollback_job
