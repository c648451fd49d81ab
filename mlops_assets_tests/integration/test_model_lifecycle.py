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

from mlops_assets_tests.conftest import outcomes_in_rows

from mlops_assets_tests.flight_names import LATE, LATE_EVALUATION
from mlops_assets.promote import ledger
from mlops_assets.defs.runs import QUIET_RUN_CONFIG
from mlops_assets.definitions import build_definitions
from mlops_assets_tests.flight_names import INGEST_JOB, TRAIN_JOB
from mlops_assets.defs.model import CARD_CHECK
from mlops_assets.defs.resources import GatePolicy, ModelRegistryResource, StateResource
from mlops_assets.gate.registry import gates_for
from mlops_assets.ingest.landing import replay
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
from mlops_assets.core.registry import CHAMPION_ALIAS
from mlops_assets.core.verdicts import latest_verdicts
from mlops_assets.core.files import file_sha256
from mlops_assets.train.model import MODEL_FILE, TuningBudget, load_model, predict, train_candidate
from mlops_assets.train.snapshot import load_training_snapshot, read_split
from mlops_assets.core.warehouse import connect

pytestmark = pytest.mark.integration

START = dt.date(2013, 1, 1)
DAYS = 21
MODEL_NAME = "nycflights_late"
BINARY_GATES = gates_for("binary")  # the flights late-arrival classifier is judged by the binary gates
CARD_SECTIONS = (
    "## Model details", "## Intended use", "## Limitations", "## Training data",
    "## Metrics", "## Gate verdicts", "## Lineage",
)
FIRST_TRAIN_CONFIG = {
    "ops": {
        LATE.op("training_snapshot"): {"config": {"start_date": "2013-01-01", "end_date": "2013-01-21"}},
        LATE.op("candidate_model"): {"config": {"trials": 3}},
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
            return ledger.entries(con, self.spec.model.name)

    def handle(self, asset: str) -> dict:
        return json.loads((self.root / "handles" / f"{LATE.model}__{asset}.json").read_text())

    def train(self, run_config: dict, defs: dg.Definitions | None = None) -> dg.ExecuteInProcessResult:
        job = (defs or self.defs).resolve_job_def(TRAIN_JOB)
        return job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config={**QUIET_RUN_CONFIG, **run_config}
        )


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized_nodes(result: dg.ExecuteInProcessResult) -> set[str]:
    """The model's assets the run materialized, by name (their keys carry the model's prefix)."""
    return {
        event.asset_key.path[-1]
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key is not None
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
        spec = outcomes_in_rows(load_spec(DEFAULT_SPEC_NAME))
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
    assert json.loads(champion.tags["gate_verdicts"]) == {name: "pass" for name in BINARY_GATES}


def test_first_training_run_writes_complete_card(lifecycle):
    sha16 = lifecycle.handle("candidate_model")["model_sha256"][:16]
    folder = lifecycle.layout.model_reports_dir("nycflights_late") / "cards" / sha16
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
        assert "Model card: nycflights_late (version 1)" in text, "the champion's card names its version"


def test_registered_version_carries_its_card(lifecycle):
    registered = lifecycle.registry().version("1")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=lifecycle.layout.mlflow_tracking_uri)
    text = client.get_model_version("nycflights_late", "1").description
    assert text.startswith("# Model card: nycflights_late (version 1)")
    assert "## Gate verdicts" in text and "data:image/png;base64" not in text
    artifacts = {a.path for a in client.list_artifacts(registered.run_id, "model_card")}
    assert {"model_card/model_card.md", "model_card/model_card.html"} <= artifacts


def test_first_training_run_ledger_and_checks(lifecycle):
    rows = lifecycle.ledger_rows()
    assert [(r.action, r.from_version, r.to_version) for r in rows] == [("promote", None, "1")]
    assert rows[0].model_sha256 == lifecycle.handle("candidate_model")["model_sha256"]
    assert rows[0].dagster_run_id == lifecycle.first.run_id
    # a manual run without a user tag: the OS user who launched it and the run, never a bare "dagster"
    from mlops_assets.promote.ledger import os_user

    assert rows[0].operator == f"{os_user()} (run {lifecycle.first.run_id})"

    checks = check_evaluations(lifecycle.first)
    assert set(BINARY_GATES) | {CARD_CHECK} <= set(checks)
    failed = {name: checks[name].description for name in [*BINARY_GATES, CARD_CHECK] if not checks[name].passed}
    assert failed == {}


def test_evaluation_metadata_is_typed_tables(lifecycle):
    [evaluation] = [e.event_specific_data.materialization for e in lifecycle.first.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION" and e.node_handle.name == LATE.op("candidate_evaluation")]
    metrics = evaluation.metadata["metrics"].value
    assert [c.name for c in metrics.schema.columns][:3] == ["metric", "candidate", "candidate_low"]
    auc = next(r.data for r in metrics.records if r.data["metric"] == "auc")
    assert auc["candidate_low"] < auc["candidate"] < auc["candidate_high"]
    assert auc["champion"] is None  # no champion existed for the first model
    assert 0.5 < auc["candidate_oot"] < 1  # the window's last 7 days, held out whole
    assert evaluation.metadata["oot_rows"].value > 0 and evaluation.metadata["oot_mean_daily_auc"].value > 0.5
    slices = evaluation.metadata["slices"].value
    assert {c.name: c.type for c in slices.schema.columns}["rows"] == "int"
    assert {r.data["slice"] for r in slices.records} >= {"carrier", "origin"}


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


def test_nothing_in_the_state_folder_is_a_pickle(lifecycle):
    # models are xgboost JSON, handles JSON, samples Parquet: no file may start with a pickle header
    pickles = []
    for path in lifecycle.root.rglob("*"):
        # database files start with a checksum, not a format header: they are not candidates
        if path.is_file() and not path.is_symlink() and path.suffix not in (".duckdb", ".db", ".wal"):
            with open(path, "rb") as handle:
                head = handle.read(2)
            if path.suffix in (".pkl", ".pickle", ".joblib") or (len(head) == 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)):
                pickles.append(path)
    assert pickles == []
    model_files = {p.name for p in (lifecycle.root / "models").rglob("*") if p.is_file()}
    assert {"model.json", "feature_encoding.json", "smoke_sample.parquet"} <= model_files


def test_the_package_never_imports_pickle():
    package = Path(__file__).resolve().parents[2] / "mlops_assets"
    offenders = [str(p) for p in package.rglob("*.py")
                 if any(word in p.read_text() for word in ("import pickle", "import cloudpickle", "import joblib",
                                                            "pickle.load", "joblib.load"))]
    assert offenders == []


# -- 3. a worse challenger is refused by the gates -------------------------------------------------


def test_worse_challenger_is_refused(lifecycle):
    # A 3-day window with one trial of at most 3 trees: a genuinely weaker model, scored against
    # the champion on its 2 held-out days, which the champion never trained on. No threshold is
    # loosened or tightened.
    champion_before = lifecycle.registry().champion()
    result = lifecycle.train({
        "ops": {
            LATE.op("training_snapshot"): {"config": {"start_date": "2013-01-17", "end_date": "2013-01-21", "min_days": 3,
                                              "holdout_days": 2}},
            LATE.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 3, "early_stopping_rounds": 1}},
        }
    })
    assert not result.success
    checks = check_evaluations(result)
    assert set(BINARY_GATES) <= set(checks)
    failed = {name: checks[name] for name in BINARY_GATES if not checks[name].passed}
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


# -- 5. rollback and gate overrides --------------------------------------------------------------------
# These run after the worse challenger was refused: its candidate (evaluated, gates failed, never
# registered) is the model that someone might try to force into production.

WEAK_CHALLENGER_CONFIG = {
    "ops": {
        LATE.op("training_snapshot"): {"config": {"start_date": "2013-01-17", "end_date": "2013-01-21", "min_days": 3,
                                              "holdout_days": 2}},
        LATE.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 3, "early_stopping_rounds": 1}},
    }
}


def run_rollback(lifecycle, **config) -> dg.ExecuteInProcessResult:
    from mlops_assets_tests.flight_names import ROLLBACK_JOB

    job = lifecycle.defs.resolve_job_def(ROLLBACK_JOB)
    return job.execute_in_process(
        instance=lifecycle.instance, raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, "ops": {LATE.rollback_op: {"config": config}}},
    )


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    from mlops_assets.defs.runs import step_failure_message

    return step_failure_message(result)


def weak_candidate(lifecycle) -> dict:
    candidate = lifecycle.handle("candidate_model")
    assert candidate["model_sha256"] != lifecycle.registry().champion().tags["model_sha256"]
    return candidate


def test_rollback_refuses_a_version_that_never_passed_the_gates(lifecycle):
    # someone registers the refused challenger by hand in MLflow and asks to roll back to it
    candidate = weak_candidate(lifecycle)
    registry = lifecycle.registry()
    version = registry.register(run_id=candidate["mlflow_run_id"], model_uri=candidate["model_uri"],
                                tags={"model_sha256": candidate["model_sha256"],
                                      "threshold": str(candidate["threshold"])}, description="by hand")
    rows_before = lifecycle.ledger_rows()
    result = run_rollback(lifecycle, reason="try the new one", to_version=version, operator="mallory")
    assert not result.success
    message = step_failure(result)
    assert f"version {version} never passed the gates" in message
    assert "check_not_worse_than_champion" in message
    assert registry.champion().version == "1"
    assert lifecycle.ledger_rows() == rows_before


def test_rollback_refuses_an_artifact_whose_sha256_does_not_match(lifecycle):
    registry = lifecycle.registry()
    v1 = registry.version("1")
    forged = registry.register(run_id=v1.run_id, model_uri=v1.source,
                               tags={"model_sha256": "0" * 64, "threshold": "0.5"}, description="wrong hash")
    # pass the gates check honestly is impossible for an unknown hash: give it an override, so the
    # artifact check is what must stop it
    result = run_rollback(lifecycle, reason="forged", to_version=forged, operator="mallory",
                          override_until=(dt.date.today() + dt.timedelta(days=1)).isoformat())
    assert not result.success
    assert "cannot be loaded safely" in step_failure(result) and "sha256" in step_failure(result)
    assert registry.champion().version == "1"


def test_gate_override_promotes_past_failed_gates_and_is_recorded(lifecycle, capsys):
    from mlops_assets.cli.main import main

    candidate = weak_candidate(lifecycle)
    with connect(lifecycle.layout.warehouse_path) as con:
        verdicts = latest_verdicts(con, dataset="nycflights", asset=LATE_EVALUATION, day=None,
                                   content_hash=candidate["model_sha256"])
    failed = [name for name, (passed, _) in verdicts.items() if not passed]
    assert "check_not_worse_than_champion" in failed
    until = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    gates = [arg for name in failed for arg in ("--gate", name)]
    args = ["override", "--sha", candidate["model_sha256"][:12], *gates, "--reason", "holiday traffic test",
            "--until", until, "--operator", "alice"]
    assert main(args) == 0, capsys.readouterr().err
    assert "override recorded" in capsys.readouterr().out

    # the same training config reproduces the same model; its failed gates now warn instead of block
    result = lifecycle.train(WEAK_CHALLENGER_CONFIG)
    assert result.success
    assert lifecycle.handle("candidate_model")["model_sha256"] == candidate["model_sha256"]
    checks = check_evaluations(result)
    for name in failed:
        assert not checks[name].passed
        assert checks[name].severity == dg.AssetCheckSeverity.WARN
        assert "OVERRIDDEN" in checks[name].description and "alice" in checks[name].description

    champion = lifecycle.registry().champion()
    assert champion.tags["model_sha256"] == candidate["model_sha256"]
    row = lifecycle.ledger_rows()[-1]
    assert (row.action, row.from_version, row.to_version) == ("promote", "1", champion.version)
    assert "override" in row.reason and "alice" in row.reason
    assert {o["gate"] for o in row.overrides} == set(failed)
    assert all(o["operator"] == "alice" and o["expires_at"].startswith(until) for o in row.overrides)
    assert "alice" in champion.tags["gate_overrides"]
    card = (lifecycle.layout.model_reports_dir("nycflights_late") / "cards" / candidate["model_sha256"][:16]
            / "model_card.md").read_text()
    assert "Overrides" in card and "holiday traffic test" in card and until in card


def test_rollback_restores_the_previous_champion_and_scoring_uses_it(lifecycle):
    from mlops_assets_tests.flight_names import SCORE_JOB
    from mlops_assets.monitor.scoring import predictions_table

    registry = lifecycle.registry()
    overridden = registry.champion()
    assert overridden.version != "1"
    result = run_rollback(lifecycle, reason="live AUC fell after the override", operator="bob")
    assert result.success, step_failure(result)
    assert registry.champion().version == "1"
    row = lifecycle.ledger_rows()[-1]
    assert (row.action, row.from_version, row.to_version, row.operator) == ("rollback", overridden.version, "1", "bob")
    assert row.reason == "live AUC fell after the override"
    assert row.model_sha256 == registry.version("1").tags["model_sha256"]
    materialized = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert [e.asset_key.path for e in materialized] == [LATE.key("champion_model").path]

    day = "2013-01-21"
    scored = lifecycle.defs.resolve_job_def(SCORE_JOB).execute_in_process(
        partition_key=day, instance=lifecycle.instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG,
    )
    assert scored.success
    with connect(lifecycle.layout.warehouse_path) as con:
        versions = con.execute(
            f"SELECT DISTINCT model_version FROM {predictions_table(lifecycle.spec)} WHERE _day = ?", [day]
        ).fetchall()
    assert versions == [("1",)]


def test_rollback_without_an_earlier_champion_is_refused(lifecycle):
    # version 1 was the first champion: the ledger names nothing before it
    result = run_rollback(lifecycle, reason="again", operator="bob")
    assert not result.success
    assert "no champion before version 1" in step_failure(result)
    assert lifecycle.registry().champion().version == "1"


# -- 6. the gates and the card check as Dagster runs them ---------------------------------------------


def test_an_incomplete_card_stops_the_promotion(lifecycle, monkeypatch):
    # the card check runs in the card's own step: a failure must still stop champion_model
    import mlops_assets.promote.card as model_card

    monkeypatch.setattr(model_card, "missing_sections", lambda card: ["Intended use"])
    rows_before = len(lifecycle.ledger_rows())
    result = lifecycle.train(FIRST_TRAIN_CONFIG)
    assert not result.success
    card_check = check_evaluations(result)[CARD_CHECK]
    assert not card_check.passed and "Intended use" in card_check.description
    assert "model_card" in materialized_nodes(result)
    assert "champion_model" not in materialized_nodes(result)
    assert lifecycle.registry().champion().version == "1"
    assert len(lifecycle.ledger_rows()) == rows_before


def test_one_gate_is_rejudged_alone_without_retraining(lifecycle):
    # after a policy change, one gate re-runs on the stored evaluation: no training, no other gate
    gate = dg.AssetCheckKey(LATE.key("candidate_evaluation"), "check_min_quality")
    sha = lifecycle.handle("candidate_evaluation")["model_sha256"]
    models_before = lifecycle.handle("candidate_model")
    job = dg.define_asset_job("rejudge_min_quality", selection=dg.AssetSelection.checks(gate))
    strict = dg.Definitions.merge(
        build_definitions(lifecycle.spec, StateResource(state_dir=str(lifecycle.root)), gate_policy=GatePolicy(min_auc=0.99)),
        dg.Definitions(jobs=[job]),
    )
    result = strict.resolve_job_def(job.name).execute_in_process(
        instance=lifecycle.instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
    )
    assert not result.success  # a blocking gate failed
    checks = check_evaluations(result)
    assert list(checks) == ["check_min_quality"]
    assert not checks["check_min_quality"].passed and "0.99" in checks["check_min_quality"].description
    assert materialized_nodes(result) == set()
    assert lifecycle.handle("candidate_model") == models_before
    with connect(lifecycle.layout.warehouse_path) as con:
        recorded = latest_verdicts(con, dataset="nycflights", asset=LATE_EVALUATION, day=None, content_hash=sha)
    assert recorded["check_min_quality"][0] is False
    assert lifecycle.registry().champion().version == "1"
