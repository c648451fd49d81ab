"""An unpartitioned dataset through Dagster: its assets have no partitions; the table is ingested,
gated and featurized, a model trained on all of it is promoted, the table is replaced by a new
export (a new snapshot, the old one kept) and the champion scores and drift-compares it."""

from __future__ import annotations

import dagster as dg
import pytest

from mlops_assets.core.grain import UNPARTITIONED_START
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import load_spec
from mlops_assets.core.warehouse import connect
from mlops_assets.defs.runs import quiet
from mlops_assets.ingest.landing import replay
from mlops_assets.ingest.snapshots import snapshot_versions
from mlops_assets_tests.unpartitioned_world import STATIONS, write_stations

pytestmark = pytest.mark.integration


def test_an_unpartitioned_table_is_ingested_trained_replaced_and_scored(state: StateLayout, tmp_path):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.names import DatasetNames, ModelNames
    from mlops_assets.defs.resources import StateResource, gate_policy_class

    folder = tmp_path / "stations"
    spec = load_spec(write_stations(folder))
    defs = build_definitions(spec, StateResource(state_dir=str(state.root)),
                             gate_policy=gate_policy_class()(max_ece=0.1))  # calibration is not what this is about
    stations, often_full = DatasetNames.of(spec), ModelNames.of(spec)
    ingest = defs.resolve_job_def(stations.ingest_job)
    assert ingest.partitions_def is None
    assert defs.resolve_assets_def(often_full.key("batch_predictions")).partitions_def is None

    with dg.DagsterInstance.ephemeral() as instance:
        def run(job: str, **kwargs) -> dg.ExecuteInProcessResult:
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)
            assert result.success, job
            return result

        replay(spec, state, UNPARTITIONED_START, 1)
        run(stations.ingest_job, run_config=quiet())
        checks = [e.event_specific_data for e in run(stations.ingest_job, run_config=quiet()).all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert checks and all(c.passed and c.partition is None for c in checks)
        run(often_full.train_job, run_config=quiet(often_full.run_config({
            "candidate_model": {"trials": 1, "early_stopping_rounds": 300}})))
        champion = instance.fetch_materializations(often_full.key("champion_model"), limit=1).records
        assert champion and champion[0].partition_key is None

        write_stations(folder, export=1)  # the table exported again
        replay(spec, state, UNPARTITIONED_START, 1)
        run(stations.ingest_job, run_config=quiet())
        scored = run(often_full.job("score"), run_config=quiet(often_full.run_config(
            {"drift_report": {"evidently_report": False}})))
        predictions = [e.event_specific_data.materialization for e in scored.get_asset_materialization_events()
                       if e.event_specific_data.materialization.asset_key == often_full.key("batch_predictions")]
        assert predictions[0].metadata["rows"].value == STATIONS and predictions[0].partition is None
    with connect(state.warehouse_path) as con:
        assert len(snapshot_versions(con, spec, UNPARTITIONED_START)) == 2
