"""An unpartitioned dataset (``partitions: {grain: none}``) through the lifecycle's plain functions:
one table, replaced on each export, each ingestion a new content-hashed snapshot beside the earlier
ones; gated, featurized, trained on all of it (key-hashed, no out-of-time tail: the card and the
forward gates say so), scored and drift-compared with the training reference."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import yaml

from mlops_assets.core.grain import UNPARTITIONED_START
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import SpecError, load_spec, spec_from_dict
from mlops_assets.core.warehouse import connect
from mlops_assets.ingest.landing import landed_days, replay
from mlops_assets.ingest.snapshots import current_snapshot, snapshot_versions
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import build_training_snapshot
from mlops_assets.train.window import TrainingWindow
from mlops_assets_tests.unpartitioned_world import STATIONS, STATIONS_SPEC_YAML, write_stations

TODAY = dt.date.today()  # whatever day it is, the table's one partition is the one


@pytest.fixture
def stations(tmp_path):
    spec = load_spec(write_stations(tmp_path / "stations"))
    return spec, StateLayout((tmp_path / "state").resolve()).ensure(), tmp_path / "stations"


def land_and_ingest(spec, layout):
    (landed,) = replay(spec, layout, TODAY, 1)
    results = ingest_and_featurize(spec, layout, spec.grain.partition_of(TODAY))
    assert [r.check for r in results if not r.passed] == []
    return landed


def test_each_export_of_the_table_is_a_new_snapshot_and_the_earlier_ones_stay(stations):
    spec, layout, folder = stations
    first = land_and_ingest(spec, layout)
    assert first.path.name == "current.csv" and first.rows == STATIONS
    assert [path.name for _, path in landed_days(layout, spec)] == ["current.csv"]
    write_stations(folder, export=1)  # the table exported again: the same stations, new shares
    second = land_and_ingest(spec, layout)
    assert second.path == first.path and second.sha256 != first.sha256
    with connect(layout.warehouse_path) as con:
        versions = snapshot_versions(con, spec, UNPARTITIONED_START)
        assert len(versions) == 2 and current_snapshot(con, spec, UNPARTITIONED_START) == versions[-1]
        # the first export is still there, by its hash
        assert con.execute(f"SELECT count(*) FROM {versions[0].qualified_table}").fetchall()[0][0] == STATIONS


def test_an_unpartitioned_dataset_trains_on_all_of_it_and_is_scored_and_drift_compared(stations, tmp_path):
    from mlops_assets.core.registry import ModelRegistry, model_name
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.gate.registry import GateThresholds, gates_for
    from mlops_assets.monitor.drift import drift_for_day
    from mlops_assets.monitor.performance import measure_day
    from mlops_assets.monitor.policy import LoopPolicy
    from mlops_assets.monitor.scoring import score_day
    from mlops_assets.pipeline.train_model import evaluate_and_store, judge, train_and_log, write_candidate_card
    from mlops_assets.promote.card import missing_sections
    from mlops_assets.promote.promotion import promote
    from mlops_assets.train.tuning import TuningBudget

    spec, layout, folder = stations
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", model_name(spec))

    def train(run: str):
        # the default window holds out 7 partitions: an unpartitioned dataset cannot, and trains anyway
        snapshot = build_training_snapshot(spec, layout, TrainingWindow(), run)
        assert snapshot.oot_days == [] and list(snapshot.days) == ["current"]
        assert sum(snapshot.rows.values()) == STATIONS and set(snapshot.rows) == {"train", "validation", "test"}
        candidate, _ = train_and_log(spec, layout, registry, snapshot.content_hash, TuningBudget(trials=1, early_stopping_rounds=300),
                                     dagster_run_id=run, trigger_reason="test", code_version="test", log=lambda _: None)
        evaluation = evaluate_and_store(spec, layout, registry, candidate, settings=EvaluationSettings(), run_id=run)
        judged = judge(spec, layout, candidate["model_sha256"], list(gates_for(spec.model.task)),
                       GateThresholds(max_ece=0.1), run)  # calibration is not what this is about
        return candidate, evaluation, judged

    land_and_ingest(spec, layout)
    candidate, evaluation, judged = train("run-1")
    assert evaluation.oot_metrics is None and "unpartitioned" in evaluation.no_out_of_time
    assert all(j.verdict.passed for j in judged.values()), {k: j.verdict.summary for k, j in judged.items()
                                                            if not j.verdict.passed}
    card, markdown, html = write_candidate_card(spec, layout, candidate, dagster_run_id="run-1", code_versions={})
    assert "No out-of-time test is possible (an unpartitioned dataset is one table" in markdown.read_text()
    promote(spec=spec, layout=layout, registry=registry, candidate=candidate,
            card={"markdown": str(markdown), "html": str(html), "missing_sections": missing_sections(card)},
            dagster_run_id="run-1", operator="test")

    write_stations(folder, export=1)  # the table replaced: scored and compared with the reference
    land_and_ingest(spec, layout)
    scored = score_day(spec, layout, registry, UNPARTITIONED_START, "run-2")
    assert scored.rows == STATIONS
    drift, _ = drift_for_day(spec, layout, registry, UNPARTITIONED_START, LoopPolicy(), "run-2")
    assert drift.rows == STATIONS and set(drift.values) >= {"district", "docks"}
    # its labels are in the table itself: live performance is measured on the current export
    live = measure_day(spec, layout, registry, UNPARTITIONED_START, label_delay_days=1, policy=LoopPolicy(),
                       as_of=None, run_id="run-2")
    assert live.rows == STATIONS and live.auc > 0.8

    # retrained with a champion in place: the forward gates judge the in-period test and say why
    _, again, judged = train("run-3")
    forward = [j.verdict for name, j in judged.items() if name in ("check_not_worse_than_champion",
                                                                    "check_no_slice_regression")]
    assert again.comparison_split == "test" and forward
    assert all("judged on the in-period test" in v.summary and "retrain with holdout_days" not in v.summary
               for v in forward), [v.summary for v in forward]


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["partitions"].__setitem__("start_date", "2024-01-01"),
     "an unpartitioned dataset (grain none) has no partitions: remove start_date"),
    (lambda d: d.__setitem__("trailing_rates", [{"name": "district_full_rate", "group_by": ["district"],
                                                 "window": "3 days"}]),
     "trailing_rates: an unpartitioned dataset (grain none) has no earlier partitions to average over"),
    (lambda d: d.__setitem__("quality", {"row_count": {"trailing": "7 days"}}),
     "quality.row_count: window '7 days': an unpartitioned dataset has no partitions to count"),
    (lambda d: d.__setitem__("quality", {"row_count": {"trailing": 7}}),
     "quality.row_count: an unpartitioned dataset (grain none) has no trailing partitions to hold its row count "
     "against: remove trailing"),
])
def test_an_unpartitioned_spec_with_partition_windows_is_refused(tmp_path, mutate, expected):
    document = yaml.safe_load(STATIONS_SPEC_YAML)
    changed = copy.deepcopy(document)
    mutate(changed)
    with pytest.raises(SpecError) as error:
        spec_from_dict(changed, base_dir=tmp_path)
    assert expected in str(error.value)
