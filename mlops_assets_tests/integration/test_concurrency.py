"""Concurrency for real: jobs run at the same time in separate processes on one state folder (one
DuckDB file, one MLflow store, one Dagster instance with the `warehouse` pool). Two ingestion runs
for different days both succeed and store exactly what running them one after the other stores;
a scoring run started in the middle of a promotion waits its turn, and every stored prediction
comes from one registered version, whose model really gives those scores. Nothing deadlocks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mlops_assets_tests.flight_names import INGEST_JOB, LATE, SCORE_JOB, TRAIN_JOB
from mlops_assets.core.paths import StateLayout
from mlops_assets_tests.integration.test_crash_recovery import (
    FAR_DAY,
    MODEL_NAME,
    NEW_DAY,
    TRAIN_RUN_CONFIG,
    base_state,
    copy_state,
    day_state,
    finish,
    new_state,
    run_in_process,
    run_statuses,
    start_job,
    stray_files,
)

pytestmark = pytest.mark.integration

# version 2: the same days with a larger budget, a model at least as good (the gates must pass)
CHALLENGER_CONFIG = {
    "ops": {
        **TRAIN_RUN_CONFIG["ops"],
        LATE.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 150, "early_stopping_rounds": 25}},
    }
}
LOCK_ERRORS = ("could not set lock", "conflicting lock", "database is locked", "WarehouseBusyError")


@dataclass
class Prepared:
    base: Path  # test_crash_recovery.base_state()
    sequential: dict[dt.date, dict]  # NEW_DAY then FAR_DAY ingested one after the other
    champion: StateLayout  # base + a champion (version 1) trained on it with the small budget


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, flights_csv, spec) -> Prepared:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    base = base_state(tmp_path_factory, flights_csv, spec)
    sequential = copy_state(base.root, new_state(tmp_path_factory.mktemp("sequential"), flights_csv))
    for day in (NEW_DAY, FAR_DAY):
        assert all(r.passed for r in ingest_and_featurize(spec, sequential, day))
    expected = {day: day_state(sequential, spec, day) for day in (NEW_DAY, FAR_DAY)}

    champion = copy_state(base.root, new_state(tmp_path_factory.mktemp("champion"), flights_csv))
    with pytest.MonkeyPatch.context() as mp:
        for key, value in champion.environment().items():
            mp.setenv(key, value)
        first = run_in_process(champion, spec, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG)
    assert first["success"], first
    return Prepared(base.root, expected, champion)


def no_lock_errors(process_output: str) -> None:
    for needle in LOCK_ERRORS:
        assert needle.lower() not in process_output.lower(), f"{needle!r} in the job's output"


def test_two_ingestion_runs_at_once_store_what_sequential_runs_store(state, spec, prepared):
    import dagster as dg

    layout = copy_state(prepared.base, state)
    dg.DagsterInstance.from_config(str(layout.dagster_home)).dispose()  # the instance exists, as in `dagster dev`
    first = start_job(layout, INGEST_JOB, partition=NEW_DAY.isoformat())
    second = start_job(layout, INGEST_JOB, partition=FAR_DAY.isoformat())
    results = [finish(first), finish(second)]
    for result in results:
        assert result["success"], result
        assert result["checks"] and all(result["checks"].values()), result["checks"]
        no_lock_errors("\n".join(result["failures"]))

    for day in (NEW_DAY, FAR_DAY):
        assert day_state(layout, spec, day) == prepared.sequential[day], day
    assert sorted(run_statuses(layout).values()) == ["SUCCESS", "SUCCESS"]
    assert stray_files(layout.root) == []


def test_scoring_during_a_promotion_uses_one_consistent_champion(spec, prepared, tmp_path):
    from mlops_assets.features.build import features_table
    from mlops_assets.promote.ledger import entries
    from mlops_assets.core.registry import ModelRegistry
    from mlops_assets.core.warehouse import connect

    layout = prepared.champion
    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, MODEL_NAME)
    assert registry.champion().version == "1"
    day = NEW_DAY - dt.timedelta(days=1)  # a checked feature day

    # the training run registers its candidate, then holds the promotion open until the scoring
    # run has started; only then does it attach the card, move the alias and write the ledger
    promoting, scoring_started = tmp_path / "promoting", tmp_path / "scoring_started"
    train = start_job(layout, TRAIN_JOB, run_config=CHALLENGER_CONFIG,
                      point=f"pause_after_register:{promoting}|{scoring_started}")
    try:
        wait_for(promoting, train)
    except BaseException:
        train.kill()
        raise
    score = start_job(layout, SCORE_JOB, partition=day.isoformat(),
                      run_config={"ops": {LATE.op("drift_report"): {"config": {"evidently_report": False}}}},
                      started_file=scoring_started)
    trained, scored = finish(train), finish(score)
    assert trained["success"], trained
    assert scored["success"], scored
    no_lock_errors("\n".join(trained["failures"] + scored["failures"]))

    champion = registry.champion()
    assert champion.version == "2"
    with connect(layout.warehouse_path) as con:
        assert [(e.action, e.to_version) for e in entries(con, spec.model.name)] == [("promote", "1"), ("promote", "2")]
        keys = spec.entity_key
        stored = con.execute(
            f"SELECT {', '.join(keys)}, score, model_version, model_sha256 FROM predictions_nycflights_late "
            f"WHERE _day = ? ORDER BY ALL", [day],
        ).df()
        features = con.execute(f"SELECT * FROM {features_table(spec)} WHERE _day = ? ORDER BY ALL", [day]).df()
    # one version scored every row of the day (the old champion or the new one, never a mix)
    versions = set(stored["model_version"])
    assert len(versions) == 1 and versions <= {"1", "2"}, versions
    (version,) = versions
    scorer = registry.version(version)
    assert set(stored["model_sha256"]) == {scorer.tags["model_sha256"]}
    assert len(stored) == len(features) > 100
    # and those are exactly that version's predictions
    expected = features[keys].copy()
    expected["expected"] = registry.load_version(scorer).predict(features)
    merged = stored.merge(expected, on=keys, validate="one_to_one")
    assert len(merged) == len(stored)
    assert np.array_equal(merged["score"].to_numpy(), merged["expected"].to_numpy())
    assert sorted(run_statuses(layout).values()) == ["SUCCESS", "SUCCESS", "SUCCESS"]
    assert stray_files(layout.root) == []


def wait_for(path: Path, process) -> None:
    """Until ``path`` exists; fails (instead of hanging) if the process ends or stalls first."""
    import time

    deadline = time.monotonic() + 240
    while not path.exists():
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the job ended before {path.name}: exit {process.returncode}\n{err[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the job never reached {path.name}")
        time.sleep(0.1)
