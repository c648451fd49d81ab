"""Crash recovery for real: a job runs in its own process, which SIGKILLs itself at a precise point
(mid-way through the snapshot transaction, the feature transaction, after the MLflow run is logged,
after the registry version is created, after the champion alias moved); the same job is then run
again and the state must be what one uninterrupted run gives: same snapshot and feature hashes,
the same model file (training is seeded and byte-reproducible), the champion alias on it, one ledger
row, its card attached, no temporary files left, the warehouse readable, and the killed run no
longer holding the warehouse pool (it would block every later run)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_assets_tests.flight_names import INGEST_JOB, LATE, TRAIN_JOB
from mlops_assets.core.paths import StateLayout
from mlops_assets_tests.conftest import snapshot_tables

pytestmark = pytest.mark.integration

START = dt.date(2013, 1, 1)
BASE_DAYS = 10  # ingested before every test: enough rows for a model that passes the gates
NEW_DAY = START + dt.timedelta(days=BASE_DAYS)  # landed, not ingested: the day the ingest tests run
# landed too, 35 days later: neither day is in the other's trailing windows (at most 28 days) or
# row-count history, so what each stores does not depend on which was ingested first
FAR_DAY = NEW_DAY + dt.timedelta(days=35)
MODEL_NAME = "nycflights_late"
# a small, seeded budget: the gates pass and the model is byte-reproducible, in a few seconds
TRAIN_RUN_CONFIG = {
    "ops": {
        # 8 days to train on and the last 2 held out to judge forward
        LATE.op("training_snapshot"): {"config": {"holdout_days": 2}},
        LATE.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 40, "early_stopping_rounds": 10}},
        LATE.op("candidate_evaluation"): {"config": {"bootstrap_resamples": 20}},
    }
}
JOB_TIMEOUT_SECONDS = 300  # only so that a deadlock fails the test instead of hanging CI

# The child process: runs one job of the real definitions on the local Dagster instance of the
# state folder (as the CLI does), after wrapping one internal function so that the process SIGKILLs
# itself at that exact point. No hook in the product code.
RUNNER = r'''
import contextlib, json, os, pathlib, signal, sys, time


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillingConnection:
    """A warehouse connection that dies just before it executes a statement containing `marker`."""

    def __init__(self, con, marker):
        self._con, self._marker = con, marker

    def execute(self, sql, *args, **kwargs):
        if self._marker in sql:
            die()
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def kill_before_statement(module, marker):
    original = module.connect

    @contextlib.contextmanager
    def connect(*args, **kwargs):
        with original(*args, **kwargs) as con:
            yield KillingConnection(con, marker)

    module.connect = connect


def kill_after(owner, name):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        die()
        return result

    setattr(owner, name, wrapper)


def wait_for_file_after(owner, name, announce, wait_for):
    """Call through, then announce it and wait (bounded) until another process says it started."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        pathlib.Path(announce).write_text(name)
        deadline = time.monotonic() + 120
        while not pathlib.Path(wait_for).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return result

    setattr(owner, name, wrapper)


def install(point):
    from mlops_assets.features import build as features
    from mlops_assets.ingest import snapshots as ingestion
    from mlops_assets.core.registry import ModelRegistry

    if not point:
        return
    if point == "ingestion_mid_transaction":  # snapshot table created, its catalog row not yet
        kill_before_statement(ingestion, "INSERT INTO raw_snapshots")
    elif point == "features_mid_transaction":  # day's feature rows replaced, its version row not yet
        kill_before_statement(features, "INSERT INTO feature_versions")
    elif point == "after_mlflow_log":  # candidate logged to MLflow, nothing evaluated yet
        kill_after(ModelRegistry, "log_candidate")
    elif point == "after_register":  # registry version created, no card, alias not moved
        kill_after(ModelRegistry, "register")
    elif point == "after_set_alias":  # alias moved, ledger row not yet appended
        kill_after(ModelRegistry, "set_alias")
    elif point.startswith("pause_after_register:"):  # concurrency: hold the promotion open
        announce, wait_for = point.split(":", 1)[1].split("|")
        wait_for_file_after(ModelRegistry, "register", announce, wait_for)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def main():
    job_name, partition, run_config, point = sys.argv[1], sys.argv[2] or None, json.loads(sys.argv[3]), sys.argv[4]
    import dagster as dg

    from mlops_assets.defs.runs import QUIET_RUN_CONFIG
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.resources import StateResource
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.paths import StateLayout

    from mlops_assets.defs.instance import prepare

    prepare(StateLayout.from_env())  # what every mlops-assets command does before it runs a job
    install(point)
    # the flights with their outcomes in the rows, as the tests' fixtures land them (conftest.outcomes_in_rows)
    spec = load_spec("nycflights").model_copy(update={"labels": None})
    defs = build_definitions(spec, StateResource(state_dir=os.environ["MLOPS_STATE_DIR"]))
    job = defs.resolve_job_def(job_name)
    with dg.DagsterInstance.get() as instance:
        started = os.environ.get("MLOPS_TEST_STARTED_FILE")
        if started:
            pathlib.Path(started).write_text(job_name)
        result = job.execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False,
            run_config={**QUIET_RUN_CONFIG, **run_config},
        )
        failures = [str(e.event_specific_data.error.message)[:3000] for e in result.all_events if e.is_step_failure]
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    print(json.dumps({"success": result.success, "run_id": result.run_id, "failures": failures, "checks": checks}))


main()
'''


# -- running jobs in their own processes ---------------------------------------------------------------


def _runner_script(layout: StateLayout) -> Path:
    path = layout.root.parent / "run_job.py"
    if not path.exists():
        path.write_text(RUNNER)
    return path


def _job_args(layout: StateLayout, job: str, partition: str | None, run_config: dict | None, point: str | None):
    return [sys.executable, str(_runner_script(layout)), job, partition or "", json.dumps(run_config or {}), point or ""]


def job_env(layout: StateLayout, **extra: str) -> dict[str, str]:
    env = {**os.environ, **layout.environment(), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **extra}
    env.pop("MLOPS_DATASET_SPEC", None)
    return env


def run_job(layout: StateLayout, job: str, *, partition: str | None = None, run_config: dict | None = None,
            kill: str | None = None) -> subprocess.CompletedProcess:
    """Run ``job`` in a fresh Python process on ``layout``; with ``kill``, it SIGKILLs itself there."""
    return subprocess.run(
        _job_args(layout, job, partition, run_config, kill), env=job_env(layout), capture_output=True,
        text=True, timeout=JOB_TIMEOUT_SECONDS, check=False,
    )


def start_job(layout: StateLayout, job: str, *, partition: str | None = None, run_config: dict | None = None,
              point: str | None = None, started_file: Path | None = None) -> subprocess.Popen:
    extra = {"MLOPS_TEST_STARTED_FILE": str(started_file)} if started_file else {}
    return subprocess.Popen(
        _job_args(layout, job, partition, run_config, point), env=job_env(layout, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process: subprocess.Popen) -> dict:
    """Wait (bounded) for a started job; its summary, or a failed assertion with its output."""
    try:
        out, err = process.communicate(timeout=JOB_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the job did not finish (deadlock?)\n{err[-4000:]}")
    return summary(subprocess.CompletedProcess(process.args, process.returncode, out, err))


def summary(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_killed(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == -9, f"expected a SIGKILL, got exit {done.returncode}\n{done.stderr[-4000:]}"
    assert not done.stdout.strip(), "the job finished instead of being killed"


def run_in_process(layout: StateLayout, spec, job: str, *, partition: str | None = None,
                   run_config: dict | None = None) -> dict:
    """Run ``job`` again in this process (the environment points at ``layout``: conftest's ``state``),
    after what every mlops-assets command does first: ``defs.instance.prepare``."""
    import dagster as dg

    from mlops_assets.defs.runs import QUIET_RUN_CONFIG
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.resources import StateResource

    from mlops_assets.defs.instance import prepare

    assert StateLayout.from_env().root == layout.root
    prepare(layout)
    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)))
    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False,
            run_config={**QUIET_RUN_CONFIG, **(run_config or {})},
        )
        failures = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return {"success": result.success, "run_id": result.run_id, "failures": failures, "checks": checks}


# -- reading the state ------------------------------------------------------------------------------------


def stray_files(root: Path) -> list[str]:
    """Temporary files of interrupted writes (ours are .partial-* and *.tmp) outside Dagster's home."""
    found = []
    for path in root.rglob("*"):
        if "dagster_home" in path.relative_to(root).parts:
            continue
        if ".partial" in path.name or path.name.endswith(".tmp") or ".tmp." in path.name:
            found.append(str(path.relative_to(root)))
    return sorted(found)


def day_state(layout: StateLayout, spec, day: dt.date) -> dict:
    """What the warehouse holds for one day: every snapshot version, the current one, its gate
    verdicts, and the feature version with the hash of the stored feature rows."""
    from mlops_assets.features.build import current_feature_version
    from mlops_assets.core.hashing import relation_sha256
    from mlops_assets.ingest.snapshots import current_snapshot, snapshot_versions
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        snapshot = current_snapshot(con, spec, day)
        verdicts = con.execute(
            "SELECT asset, check_name, bool_and(passed) FROM gate_results WHERE day = ? GROUP BY ALL ORDER BY ALL",
            [day],
        ).fetchall()
        return {
            "versions": [(v.content_hash, v.rows) for v in snapshot_versions(con, spec, day)],
            "current": (snapshot.content_hash, snapshot.rows) if snapshot else None,
            "snapshot_rows_hash": relation_sha256(con, snapshot.qualified_table) if snapshot else None,
            "verdicts": verdicts,
            "features": current_feature_version(con, spec, day),
            "feature_rows": con.execute("SELECT count(*) FROM features_nycflights WHERE _day = ?", [day]).fetchall()[0][0],
            "feature_rows_hash": relation_sha256(
                con, f"(SELECT * FROM features_nycflights WHERE _day = DATE '{day.isoformat()}')"
            ),
        }


@dataclass
class ModelState:
    champion_version: str | None
    champion_sha256: str | None
    ledger: list[tuple]
    card_artifacts: set[str]
    description: str


def model_state(layout: StateLayout, spec) -> ModelState:
    from mlops_assets.promote import ledger
    from mlops_assets.core.registry import ModelRegistry
    from mlops_assets.core.warehouse import connect

    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, MODEL_NAME)
    champion = registry.champion()
    with connect(layout.warehouse_path) as con:
        rows = [(e.action, e.to_version, e.model_sha256) for e in ledger.entries(con, spec.model.name)]
    if champion is None:
        return ModelState(None, None, rows, set(), "")
    client = registry.client
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "model_card")}
    description = client.get_model_version(MODEL_NAME, champion.version).description or ""
    return ModelState(champion.version, champion.tags.get("model_sha256"), rows, artifacts, description)


def run_statuses(layout: StateLayout) -> dict[str, str]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        held = instance.event_log_storage.get_concurrency_run_ids()
        assert not held, f"runs still hold warehouse pool slots: {held}"
        return {run.run_id: run.status.value for run in instance.get_runs()}


# -- the prepared state ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    base: Path  # base_state()
    reference_day: dict  # NEW_DAY ingested, uninterrupted
    reference_tables: list[str]
    reference_sha256: str  # the model file an uninterrupted train_job on the base gives
    reference_model: Path  # its folder (model.json, feature_encoding.json)
    test_split: object  # the test rows of its training snapshot (pandas)


def copy_state(source: Path, layout: StateLayout) -> StateLayout:
    """Copy a prepared state folder into this test's (empty) state folder."""
    for item in source.iterdir():
        if item.name in ("cache", "dagster_home"):
            continue
        target = layout.root / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copyfile(item, target)
    return layout


def new_state(tmp_path: Path, flights_csv: Path) -> StateLayout:
    layout = StateLayout((tmp_path / "state").resolve()).ensure()
    (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
    return layout


_BASES: dict[str, StateLayout] = {}


def base_state(tmp_path_factory, flights_csv, spec) -> StateLayout:
    """BASE_DAYS ingested and featurized, NEW_DAY and FAR_DAY landed, an empty MLflow store: built
    once per session (this module and test_concurrency copy it), never modified."""
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.ingest.landing import replay

    if "base" in _BASES:
        return _BASES["base"]
    base = new_state(tmp_path_factory.mktemp("base"), flights_csv)
    landed = replay(spec, base, START, BASE_DAYS + 1) + replay(spec, base, FAR_DAY, 1)
    assert [f.day for f in landed][-2:] == [NEW_DAY, FAR_DAY]
    for item in landed[:BASE_DAYS]:
        assert all(r.passed for r in ingest_and_featurize(spec, base, item.day))
    # the MLflow store's tables exist (creating them takes seconds), but no experiment: its
    # artifact location would point into this folder
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=base.mlflow_tracking_uri).search_experiments()
    _BASES["base"] = base
    return base


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, flights_csv, spec) -> Prepared:
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize

    base = base_state(tmp_path_factory, flights_csv, spec)
    reference = copy_state(base.root, new_state(tmp_path_factory.mktemp("reference_ingest"), flights_csv))
    results = ingest_and_featurize(spec, reference, NEW_DAY)
    assert all(r.passed for r in results)
    reference_day = day_state(reference, spec, NEW_DAY)
    reference_tables = snapshot_tables(reference)

    # the model an uninterrupted train_job makes: the same plain functions its assets call
    # (test_model_lifecycle proves the job's champion is byte-identical to them)
    from mlops_assets.train.model import TuningBudget, train_candidate
    from mlops_assets.train.snapshot import (
        build_training_snapshot,
        read_split,
    )
    from mlops_assets.train.window import TrainingWindow

    snapshot = build_training_snapshot(spec, reference, TrainingWindow(end_date=NEW_DAY - dt.timedelta(days=1), holdout_days=2))
    train, validation = read_split(reference, snapshot, "train"), read_split(reference, snapshot, "validation")
    model = train_candidate(train, validation, spec, TuningBudget(**TRAIN_RUN_CONFIG["ops"][LATE.op("candidate_model")]["config"]),
                            log=lambda _: None)
    _, sha256 = model.save(reference.root / "reference_model")
    test = read_split(reference, snapshot, "test")
    return Prepared(base.root, reference_day, reference_tables, sha256, reference.root / "reference_model", test)


@pytest.fixture
def layout(state, prepared) -> StateLayout:
    """This test's own copy of the prepared state (the env points at it: conftest's ``state``)."""
    return copy_state(prepared.base, state)


# -- ingestion ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["ingestion_mid_transaction", "features_mid_transaction"])
def test_kill_during_ingestion_then_rerun_equals_an_uninterrupted_run(layout, spec, prepared, point):
    day = NEW_DAY.isoformat()
    before = snapshot_tables(layout)
    assert_killed(run_job(layout, INGEST_JOB, partition=day, kill=point))

    # the killed transaction left nothing half-written, and the warehouse opens
    killed = day_state(layout, spec, NEW_DAY)
    if point == "ingestion_mid_transaction":
        assert killed["versions"] == [] and killed["current"] is None
        assert snapshot_tables(layout) == before, "the uncommitted snapshot table survived the kill"
    else:
        assert killed["current"] == prepared.reference_day["current"]  # the snapshot was committed
        assert killed["features"] is None, "a feature version row survived the kill"
        assert killed["feature_rows"] == 0, "feature rows of the killed transaction are visible"

    rerun = run_in_process(layout, spec, INGEST_JOB, partition=day)
    assert rerun["success"], rerun
    assert all(rerun["checks"].values()), rerun["checks"]

    assert day_state(layout, spec, NEW_DAY) == prepared.reference_day
    assert snapshot_tables(layout) == prepared.reference_tables
    assert stray_files(layout.root) == []
    statuses = run_statuses(layout)  # also: no run holds a warehouse slot any more
    assert sorted(statuses.values()) == ["FAILURE", "SUCCESS"], statuses  # the killed run is marked failed


# -- training and promotion ------------------------------------------------------------------------------


def assert_same_model_state(layout: StateLayout, spec, reference_sha256: str, killed_runs: int) -> ModelState:
    found = model_state(layout, spec)
    assert found.champion_sha256 == reference_sha256, "the rerun's champion is not the reference model"
    promotions = [row for row in found.ledger if row[0] == "promote"]
    assert promotions == [("promote", found.champion_version, reference_sha256)], found.ledger
    assert {"model_card/model_card.md", "model_card/model_card.html"} <= found.card_artifacts
    assert found.description.startswith(f"# Model card: nycflights_late (version {found.champion_version})")
    assert stray_files(layout.root) == []
    statuses = run_statuses(layout)  # also: no run holds a warehouse slot any more
    assert sorted(statuses.values()) == ["FAILURE"] * killed_runs + ["SUCCESS"], statuses
    return found


def test_kills_during_training_and_registration_then_rerun_promotes_the_same_model(layout, spec, prepared):
    from mlops_assets.core.registry import ModelRegistry

    # 1. killed once the candidate is logged to MLflow: that run's model is the reference file
    assert_killed(run_job(layout, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG, kill="after_mlflow_log"))
    registry = ModelRegistry(layout.mlflow_tracking_uri, layout.mlflow_artifacts_dir, MODEL_NAME)
    (logged,) = registry.client.search_runs([registry.experiment_id()])
    assert logged.data.tags["model_sha256"] == prepared.reference_sha256
    assert model_state(layout, spec).champion_version is None

    # 2. killed again, mid-promotion: version 1 is registered, without its card, and not champion
    assert_killed(run_job(layout, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG, kill="after_register"))
    assert registry.version("1").tags["model_sha256"] == prepared.reference_sha256
    killed = model_state(layout, spec)
    assert killed.champion_version is None and killed.ledger == []

    # 3. run again: the same model becomes champion, once, with its card
    rerun = run_in_process(layout, spec, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG)
    assert rerun["success"], rerun
    found = assert_same_model_state(layout, spec, prepared.reference_sha256, killed_runs=2)
    # the orphaned version 1 stays registered (the registry is append-only), without the alias
    assert found.champion_version == "2"

    # reproducibility: trained again in three processes, the champion's file is the reference
    # file byte for byte, and it predicts exactly what the reference model predicts
    import mlflow
    import numpy as np

    from mlops_assets.train.model import MODEL_FILE, load_model, predict

    champion = registry.champion()
    downloaded = Path(mlflow.artifacts.download_artifacts(
        run_id=champion.run_id, artifact_path="platform_model", dst_path=str(layout.root.parent / "download"),
        tracking_uri=layout.mlflow_tracking_uri,
    ))
    assert (downloaded / MODEL_FILE).read_bytes() == (prepared.reference_model / MODEL_FILE).read_bytes()
    expected = predict(*load_model(prepared.reference_model, prepared.reference_sha256), prepared.test_split)
    got = registry.load_version(champion).predict(prepared.test_split)
    assert len(got) == len(prepared.test_split) > 100
    assert np.array_equal(got, expected)


def test_kill_after_the_alias_moved_then_rerun_appends_the_missing_ledger_row(layout, spec, prepared):
    assert_killed(run_job(layout, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG, kill="after_set_alias"))
    killed = model_state(layout, spec)
    assert killed.champion_sha256 == prepared.reference_sha256
    assert killed.ledger == []  # the crash window: the alias moved, its ledger row not yet written
    rerun = run_in_process(layout, spec, TRAIN_JOB, run_config=TRAIN_RUN_CONFIG)
    assert rerun["success"], rerun
    found = assert_same_model_state(layout, spec, prepared.reference_sha256, killed_runs=1)
    assert found.champion_version == "1"
