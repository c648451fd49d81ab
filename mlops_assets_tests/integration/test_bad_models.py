"""Hostile models and landing files (issue 13, items 4 and 6).

- Every file a model needs to predict (the trees, the feature encoding, the smoke sample) is covered
  by the manifest digest recorded at training and checked before every load: a changed file is
  refused with its name, and scoring, champion evaluation and rollback never use it. A version
  registered before manifests (only its model file's sha256) is refused, naming how to replace it.
- Ingestion hashes exactly the bytes it ingests: a landing file replaced while its ingestion runs
  cannot give a snapshot of one content recorded with the other content's sha256.

The world is ``sensor_world``'s: small models trained through the platform's own training step, one
per test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from mlops_assets.core.files import file_sha256
from mlops_assets.core.paths import StateLayout
from mlops_assets.core.registry import MANIFEST_TAG
from mlops_assets.core.spec import DAY_COLUMN
from mlops_assets.core.warehouse import connect
from mlops_assets.ingest.landing import landing_path
from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.core.files import ModelFilesRefused
from mlops_assets.train.model import ENCODING_FILE, MANIFEST_FILE, MODEL_FILE
from mlops_assets.train.smoke import SMOKE_FILE
from mlops_assets_tests.conftest import SENSOR_FIELDS, sensor_rows, write_csv
from mlops_assets_tests.integration.sensor_world import DAYS, ROWS_PER_DAY, World, build_world

pytestmark = pytest.mark.integration

SCORED_DAY = DAYS[-1]
SMALL_EVALUATION = EvaluationSettings(bootstrap_resamples=10, seed=0, min_slice_rows=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("bad_models"))


def tamper_encoding(folder: Path) -> None:
    """Reverse every categorical vocabulary: every category gets another code, every prediction moves."""
    encoding = json.loads((folder / ENCODING_FILE).read_text())
    assert encoding["categorical"], "the sensor spec has categorical features"
    encoding["categorical"] = {name: values[::-1] for name, values in encoding["categorical"].items()}
    (folder / ENCODING_FILE).write_text(json.dumps(encoding))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def predictions(world: World) -> list[tuple]:
    from mlops_assets.monitor.scoring import predictions_table

    with connect(world.layout.warehouse_path) as con:
        return con.execute(
            f"SELECT model_version, scored_at FROM {predictions_table(world.spec)} WHERE {DAY_COLUMN} = ? ORDER BY ALL",
            [SCORED_DAY],
        ).fetchall()


# -- 13.4: every file of a model is covered by the recorded digest ------------------------------------


def test_the_manifest_lists_every_file_the_loader_reads(world):
    handle = world.train()
    stored = world.stored_model(handle)
    listed = json.loads((stored / MANIFEST_FILE).read_text())
    assert set(listed) == {MODEL_FILE, ENCODING_FILE, SMOKE_FILE}
    assert all(file_sha256(stored / name) == digest for name, digest in listed.items())
    assert listed[MODEL_FILE] == handle["model_sha256"]
    assert world.registry.client.get_run(handle["mlflow_run_id"]).data.tags[MANIFEST_TAG] == handle[MANIFEST_TAG]


def test_scoring_refuses_a_champion_whose_feature_encoding_was_changed(world):
    from mlops_assets.monitor.scoring import score_day

    handle = world.train()
    version = world.register(handle)
    score_day(world.spec, world.layout, world.registry, SCORED_DAY, run_id=None)  # the untouched model scores
    before = predictions(world)
    assert before and {row[0] for row in before} == {version}

    tamper_encoding(world.stored_model(handle))
    with pytest.raises(ModelFilesRefused, match=f"model file {ENCODING_FILE} in .* has sha256"):
        score_day(world.spec, world.layout, world.registry, SCORED_DAY, run_id=None)
    assert predictions(world) == before  # nothing was scored by the tampered model


def test_drift_refuses_a_champion_whose_feature_encoding_was_changed(world):
    from mlops_assets.monitor.drift import drift_for_day
    from mlops_assets.monitor.policy import LoopPolicy
    from mlops_assets.monitor.scoring import score_day

    handle = world.train()
    world.register(handle)
    score_day(world.spec, world.layout, world.registry, SCORED_DAY, run_id=None)  # drift needs its scores
    tamper_encoding(world.stored_model(handle))
    with pytest.raises(ModelFilesRefused, match=ENCODING_FILE):
        drift_for_day(world.spec, world.layout, world.registry, SCORED_DAY, LoopPolicy(), run_id=None)


@pytest.mark.parametrize("name, message", [
    (MODEL_FILE, "sha256"), (ENCODING_FILE, ENCODING_FILE), (SMOKE_FILE, SMOKE_FILE), (MANIFEST_FILE, "manifest"),
])
def test_a_change_to_any_model_file_is_refused_naming_it(world, name, message):
    handle = world.train()
    version = world.register(handle, champion=False)
    flip_a_byte(world.stored_model(handle) / name)
    with pytest.raises(ModelFilesRefused, match=message):
        world.registry.load_version(world.registry.version(version))


def test_a_missing_model_file_is_refused_naming_it(world):
    handle = world.train()
    version = world.register(handle, champion=False)
    (world.stored_model(handle) / SMOKE_FILE).unlink()
    with pytest.raises(ModelFilesRefused, match=f"{SMOKE_FILE} is missing"):
        world.registry.load_version(world.registry.version(version))


def test_champion_evaluation_refuses_a_tampered_champion(world):
    """The tampered champion is never scored: the evaluation records it as unverified, naming the
    file, and the comparison gates fail, so the candidate cannot replace a champion it was never
    compared with."""
    from mlops_assets.evaluate.evaluation import ChampionStatus
    from mlops_assets.gate.registry import GateThresholds, judge_evaluation
    from mlops_assets.pipeline.train_model import evaluate_and_store

    champion = world.train()
    world.register(champion)
    tamper_encoding(world.stored_model(champion))
    candidate = world.train()
    evaluation = evaluate_and_store(world.spec, world.layout, world.registry, candidate,
                                    settings=SMALL_EVALUATION, run_id="test")
    assert evaluation.champion_status is ChampionStatus.UNVERIFIED
    assert ENCODING_FILE in evaluation.champion_note and evaluation.champion_version is None
    verdicts = {v.check: v for v in judge_evaluation(
        evaluation, GateThresholds(), ["check_not_worse_than_champion", "check_no_slice_regression"])}
    assert not verdicts["check_not_worse_than_champion"].passed
    assert not verdicts["check_no_slice_regression"].passed


def test_candidate_evaluation_refuses_a_tampered_candidate(world):
    from mlops_assets.pipeline.train_model import evaluate_and_store

    candidate = world.train()
    tamper_encoding(world.stored_model(candidate))
    with pytest.raises(ModelFilesRefused, match=ENCODING_FILE):
        evaluate_and_store(world.spec, world.layout, world.registry, candidate,
                           settings=SMALL_EVALUATION, run_id="test")


def test_rollback_refuses_a_version_whose_encoding_was_changed(world):
    from mlops_assets.promote.rollback import RollbackRefused, rollback

    target = world.train()
    target_version = world.register(target, champion=False)
    world.register(world.train())
    tamper_encoding(world.stored_model(target))
    with pytest.raises(RollbackRefused, match=f"version {target_version} cannot be loaded safely: .*{ENCODING_FILE}"):
        rollback(spec=world.spec, layout=world.layout, registry=world.registry, operator="test",
                 reason="test", to_version=target_version,
                 override_until=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    assert world.registry.champion().version != target_version


def test_a_version_registered_before_manifests_is_refused_naming_the_remedy(world):
    from mlops_assets.monitor.scoring import score_day

    legacy = world.train()
    world.register(legacy, with_manifest=False)
    before = predictions(world)
    with pytest.raises(ModelFilesRefused, match="registered before model manifests.*-j train_job"):
        score_day(world.spec, world.layout, world.registry, SCORED_DAY, run_id=None)
    assert predictions(world) == before


# -- 13.6: the recorded sha256 is that of the bytes ingested -------------------------------------------


def test_a_landing_file_replaced_during_ingestion_is_recorded_with_the_sha256_of_what_was_stored(
    world, tmp_path, monkeypatch
):
    from mlops_assets.ingest import snapshots

    layout = StateLayout((tmp_path / "state").resolve()).ensure()
    day = DAYS[0]
    landed = write_csv(landing_path(layout, world.spec, day), sensor_rows(day, ROWS_PER_DAY), SENSOR_FIELDS)
    first_bytes = landed.read_bytes()
    replacement = write_csv(tmp_path / "replacement.csv", sensor_rows(day, ROWS_PER_DAY // 2, seed=1), SENSOR_FIELDS)
    real_read = snapshots.read_landing_sql

    def replaced_before_the_read(spec, path):
        os.replace(replacement, landed)  # another writer lands a new version of the day right now
        return real_read(spec, path)

    monkeypatch.setattr(snapshots, "read_landing_sql", replaced_before_the_read)
    snapshot = snapshots.ingest_day(world.spec, layout, day)

    assert landed.read_bytes() != first_bytes  # the file did change under the ingestion
    assert snapshot.source_sha256 == hashlib.sha256(first_bytes).hexdigest()
    assert snapshot.rows == ROWS_PER_DAY  # the stored rows are those first bytes, not the replacement's
    # and the stored content is exactly what ingesting those bytes alone gives
    alone = StateLayout((tmp_path / "alone").resolve()).ensure()
    landing_path(alone, world.spec, day).parent.mkdir(parents=True)
    landing_path(alone, world.spec, day).write_bytes(first_bytes)
    monkeypatch.setattr(snapshots, "read_landing_sql", real_read)
    reference = snapshots.ingest_day(world.spec, alone, day)
    assert (snapshot.content_hash, snapshot.source_sha256) == (reference.content_hash, reference.source_sha256)
    assert not any(p.name.startswith(".ingest-") for p in layout.cache_dir.iterdir())  # the private copy is gone


def test_ingestion_errors_name_the_landing_file_not_the_private_copy(world, tmp_path):
    from mlops_assets.ingest.snapshots import IngestionError, ingest_day

    layout = StateLayout((tmp_path / "state").resolve()).ensure()
    day = DAYS[0]
    target = landing_path(layout, world.spec, day)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"ts,device_id,reading,site,outcome\n\"2024-03-01 00:00:00,1,2\n")
    with pytest.raises(IngestionError) as refused:
        ingest_day(world.spec, layout, day)
    assert str(target) in str(refused.value) and ".ingest-" not in str(refused.value)
    shutil.rmtree(layout.root)
