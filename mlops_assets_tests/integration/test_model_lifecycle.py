"""The model half of the lifecycle through Dagster for real: 21 real flight days are ingested, a
candidate is trained, evaluated, gated, carded and promoted; the registered champion predicts exactly
what the trained model predicts; a tampered artifact is refused; a worse challenger is stopped by the
gates without moving the champion; and training is reproducible bit for bit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from mlops_assets import ledger
from mlops_assets.cli import QUIET_RUN_CONFIG
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.jobs import INGEST_JOB, TRAIN_JOB
from mlops_assets.defs.model import CARD_CHECK
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.evaluation.gating import MODEL_GATES
from mlops_assets.landing import replay
from mlops_assets.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.state import STATE_DIR_ENV, StateLayout
from mlops_assets.tracking import CHAMPION_ALIAS
from mlops_assets.training.model import MODEL_FILE, TuningBudget, file_sha256, load_model, predict, train_candidate
from mlops_assets.training.snapshot import load_training_snapshot, read_split
from mlops_assets.warehouse import connect

pytestmark = pytest.mark.integration

START = dt.date(2013, 1, 1)
DAYS = 21
MODEL_NAME = "nycflights_late"
CARD_SECTIONS = (
    "## Model details", "## Intended use", "## Limitations", "## Training data",
    "## Metrics", "## Gate verdicts", "## Lineage",
)
FIRST_TRAIN_CONFIG = {
    "ops": {
        "training_snapshot": {"config": {"start_date": "2013-01-01", "end_date": "2013-01-21"}},
        "candidate_model": {"config": {"trials": 3}},
    }
}


@dataclass
class ModelLifecycle:
    root: Path
    layout: StateLayout
    spec: object
    defs: dg.Definitions
    instance: dg.DagsterInstance
    first: dg.ExecuteInProcessResult

    def registry(self):
        return ModelRegistryResource().registry(self.layout, MODEL_NAME)

    def ledger_rows(self):
        with connect(self.layout.warehouse_path) as con:
            return ledger.entries(con, self.spec.name)

    def handle(self, asset: str) -> dict:
        return json.loads((self.root / "handles" / f"{asset}.json").read_text())

    def train(self, run_config: dict, defs: dg.Definitions | None = None) -> dg.ExecuteInProcessResult:
        job = (defs or self.defs).resolve_job_def(TRAIN_JOB)
        return job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config={**QUIET_RUN_CONFIG, **run_config}
        )


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized_nodes(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.node_handle.name
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.node_handle is not None
    }


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory, flights_csv) -> ModelLifecycle:
    root = (tmp_path_factory.mktemp("model_lifecycle") / "state").resolve()
    layout = StateLayout(root).ensure()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STATE_DIR_ENV, str(root))
        mp.setenv("DAGSTER_HOME", str(layout.dagster_home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", layout.mlflow_tracking_uri)
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.delenv(SPEC_ENV, raising=False)
        # the bundled flights are extracted once per session (conftest); link them, never unzip again
        (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
        spec = load_spec(DEFAULT_SPEC_NAME)
        landed = replay(spec, layout, START, DAYS)
        assert [f.day for f in landed] == [START + dt.timedelta(days=i) for i in range(DAYS)]
        defs = build_definitions(spec, StateResource(state_dir=str(root)))
        instance = dg.DagsterInstance.ephemeral()
        ingest = defs.resolve_job_def(INGEST_JOB)
        for item in landed:
            result = ingest.execute_in_process(
                partition_key=item.day.isoformat(), instance=instance, raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
            assert result.success, f"ingest of {item.day} failed"
        job = defs.resolve_job_def(TRAIN_JOB)
        first = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={**QUIET_RUN_CONFIG, **FIRST_TRAIN_CONFIG}
        )
        yield ModelLifecycle(root, layout, spec, defs, instance, first)


# -- 1. the first candidate becomes champion --------------------------------------------------------


def test_first_training_run_promotes_version_1(lifecycle):
    result = lifecycle.first
    assert result.success
    assert {"training_snapshot", "candidate_model", "candidate_evaluation", "model_card", "champion_model"} <= (
        materialized_nodes(result)
    )

    registry = lifecycle.registry()
    champion = registry.by_alias(CHAMPION_ALIAS)
    assert champion is not None
    assert champion.version == "1"
    candidate = lifecycle.handle("candidate_model")
    for tag in ("model_sha256", "snapshot_hash", "dagster_run_id", "gate_verdicts"):
        assert champion.tags.get(tag), f"champion version lacks tag {tag}"
    assert champion.tags["model_sha256"] == candidate["model_sha256"]
    assert champion.tags["snapshot_hash"] == candidate["snapshot_hash"]
    assert champion.tags["dagster_run_id"] == result.run_id
    assert json.loads(champion.tags["gate_verdicts"]) == {name: "pass" for name in _gate_names()}


def _gate_names() -> list[str]:
    return [gate.__name__.removeprefix("check_") for gate in MODEL_GATES.values()]


def test_first_training_run_writes_complete_card(lifecycle):
    sha16 = lifecycle.handle("candidate_model")["model_sha256"][:16]
    folder = lifecycle.layout.reports_dir / "nycflights" / "cards" / sha16
    markdown = list(folder.glob("*.md"))
    html = list(folder.glob("*.html"))
    assert len(markdown) == 1 and len(html) == 1, sorted(p.name for p in folder.iterdir())
    for path in (markdown[0], html[0]):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            for heading in CARD_SECTIONS:
                assert heading in text, f"{path.name} lacks {heading!r}"
        else:
            for heading in CARD_SECTIONS:
                assert heading.removeprefix("## ") in text, f"{path.name} lacks {heading!r}"
        assert "No champion existed" in text, path.name
        assert "Model card: nycflights-late (version 1)" in text, "the champion's card names its version"


def test_registered_version_carries_its_card(lifecycle):
    registered = lifecycle.registry().version("1")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=lifecycle.layout.mlflow_tracking_uri)
    text = client.get_model_version("nycflights_late", "1").description
    assert text.startswith("# Model card: nycflights-late (version 1)")
    assert "## Gate verdicts" in text and "data:image/png;base64" not in text
    artifacts = {a.path for a in client.list_artifacts(registered.run_id, "model_card")}
    assert {"model_card/model_card.md", "model_card/model_card.html"} <= artifacts


def test_first_training_run_ledger_and_checks(lifecycle):
    rows = lifecycle.ledger_rows()
    assert [(r.action, r.from_version, r.to_version) for r in rows] == [("promote", None, "1")]
    assert rows[0].model_sha256 == lifecycle.handle("candidate_model")["model_sha256"]
    assert rows[0].dagster_run_id == lifecycle.first.run_id

    checks = check_evaluations(lifecycle.first)
    assert set(MODEL_GATES) | {CARD_CHECK} <= set(checks)
    failed = {name: checks[name].description for name in [*MODEL_GATES, CARD_CHECK] if not checks[name].passed}
    assert failed == {}


# -- 2. the registry round trip and a tampered artifact ----------------------------------------------


def test_registry_champion_predicts_like_trained_model(lifecycle):
    registry = lifecycle.registry()
    champion = registry.load_version(registry.champion())
    candidate = lifecycle.handle("candidate_model")
    assert champion.sha256 == candidate["model_sha256"]
    snapshot = load_training_snapshot(lifecycle.layout, "nycflights", candidate["snapshot_hash"])
    test = read_split(lifecycle.layout, snapshot, "test")
    assert len(test) > 100

    booster, encoding = load_model(lifecycle.root / "models" / candidate["model_sha256"][:16], candidate["model_sha256"])
    expected = predict(booster, encoding, test)
    got = champion.predict(test)
    assert got.shape == (len(test),)
    assert np.array_equal(got, expected)
    assert np.unique(np.round(got, 6)).size > 10  # a real model, not a constant


def test_tampered_model_file_is_refused(lifecycle, tmp_path):
    sha = lifecycle.handle("candidate_model")["model_sha256"]
    source = lifecycle.root / "models" / sha[:16]
    assert file_sha256(source / MODEL_FILE) == sha
    copy = tmp_path / "model"
    shutil.copytree(source, copy)
    load_model(copy, expected_sha256=sha)  # the untouched copy loads
    data = bytearray((copy / MODEL_FILE).read_bytes())
    position = len(data) // 2
    data[position] ^= 0x01
    (copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_model(copy, expected_sha256=sha)


# -- 3. a worse challenger is refused by the gates -------------------------------------------------


def test_worse_challenger_is_refused(lifecycle):
    # A 3-day window with one trial of at most 3 trees: a genuinely weaker model, scored against
    # the champion on the same test rows. No threshold is loosened or tightened.
    champion_before = lifecycle.registry().champion()
    result = lifecycle.train({
        "ops": {
            "training_snapshot": {"config": {"start_date": "2013-01-19", "end_date": "2013-01-21", "min_days": 3}},
            "candidate_model": {"config": {"trials": 1, "max_rounds": 3, "early_stopping_rounds": 1}},
        }
    })
    assert not result.success
    checks = check_evaluations(result)
    assert set(MODEL_GATES) <= set(checks)
    failed = {name: checks[name] for name in MODEL_GATES if not checks[name].passed}
    assert failed, "no gate failed for a 3-tree model trained on 3 days"
    # the champion comparison is the gate this challenger must fail: it was scored against v1
    assert lifecycle.handle("candidate_evaluation")["champion_version"] == "1"
    refusal = failed.get("check_not_worse_than_champion")
    assert refusal is not None, {n: e.description for n, e in checks.items()}
    assert "champion auc" in refusal.description.lower()
    assert refusal.metadata["metric"].value == "auc"
    assert refusal.metadata["delta"].value < -refusal.metadata["threshold"].value
    for name, evaluation in failed.items():
        metric = evaluation.metadata["metric"].value
        words = {"ece": "calibration", "slice_auc": "slice"}.get(metric, metric)
        assert words in evaluation.description.lower(), f"{name}: {evaluation.description!r}"
    assert "candidate_evaluation" in materialized_nodes(result)
    assert "champion_model" not in materialized_nodes(result)

    champion_after = lifecycle.registry().champion()
    assert champion_after is not None
    assert champion_after.version == "1" == champion_before.version
    assert len(lifecycle.ledger_rows()) == 1


# -- 4. reproducibility ------------------------------------------------------------------------------


def test_training_is_reproducible(lifecycle):
    # The champion's model, retrained outside Dagster on the same frozen snapshot with the same
    # budget (trials=3, the other defaults), is the same file byte for byte.
    registry = lifecycle.registry()
    champion = registry.champion()
    snapshot = load_training_snapshot(lifecycle.layout, "nycflights", champion.tags["snapshot_hash"])
    train = read_split(lifecycle.layout, snapshot, "train")
    validation = read_split(lifecycle.layout, snapshot, "validation")
    trained = train_candidate(train, validation, lifecycle.spec, TuningBudget(trials=3), log=lambda _: None)
    _, sha = trained.save(lifecycle.root / "scratch-repro")
    assert sha == champion.tags["model_sha256"]
