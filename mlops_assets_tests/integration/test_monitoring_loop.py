"""The monitoring loop end to end on real flights: a January champion, then a summer week replayed
one day at a time through the platform's real sensors and declarative automation (simulation.Loop).

The bundled spec's two feeds: a day's departures land (and are scored) before their outcomes, which
land the day after. Proves: every landed day is ingested, scored by champion v1 and measured for drift; the summer
weather drifts far from January's; the retraining sensor asks for exactly one retraining in the
week (cool-down) and the reason travels into the Dagster run, MLflow, the ledger and the card; the
retrained candidate is judged against v1 on the same test rows and the registry agrees with the
verdict; live AUC is measured once labels arrive; the timeline shows the retraining run.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets_tests.flight_names import LANDING_SENSOR, LATE, RETRAINING_SENSOR
from mlops_assets.promote import ledger
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.common import RANGE_END_TAG, RANGE_START_TAG
from mlops_assets_tests.flight_names import FLIGHTS, INGEST_JOB, LABEL_SENSOR, LABELS_JOB, TIMELINE_JOB, TRAIN_JOB
from mlops_assets.defs.model import TRIGGER_TAG
from mlops_assets.defs.resources import ModelRegistryResource, StateResource
from mlops_assets.evaluate.evaluation import load_evaluation
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.ingest.labels import ingest_labels
from mlops_assets.ingest.landing import landing_path, replay
from mlops_assets.core.registry import model_name
from mlops_assets.defs.runs import QUIET_RUN_CONFIG, step_failure_message
from mlops_assets.defs.simulation import Loop
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.core.paths import STATE_DIR_ENV, StateLayout
from mlops_assets.core.registry import CHAMPION_ALIAS
from mlops_assets.train.snapshot import load_training_snapshot
from mlops_assets.core.warehouse import connect

pytestmark = pytest.mark.integration

JANUARY = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
# eight days: the retraining sensor waits for min_training_days days whose outcomes have landed
JULY = [dt.date(2013, 7, 1) + dt.timedelta(days=i) for i in range(8)]
WEATHER = {"origin_temp", "origin_dewpoint"}
FIRST_TRAIN = {
    "ops": {
        LATE.op("training_snapshot"): {"config": {"start_date": "2013-01-01", "end_date": "2013-01-21"}},
        LATE.op("candidate_model"): {"config": {"trials": 2}},
    }
}


@dataclass
class Scenario:
    root: Path
    layout: StateLayout
    spec: object
    instance: dg.DagsterInstance
    loop: Loop
    first: dg.ExecuteInProcessResult
    ingests: dict[dt.date, list] = field(default_factory=dict)
    labels: dict[dt.date, list] = field(default_factory=dict)
    retrains: dict[dt.date, list] = field(default_factory=dict)

    def registry(self):
        return ModelRegistryResource().registry(self.layout, model_name(self.spec))

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.layout.warehouse_path) as con:
            return con.execute(sql, params or []).fetchall()

    def retrain_results(self) -> list[dg.ExecuteInProcessResult]:
        return [r for day in JULY for r in self.retrains[day]]


def _prepare_january(spec, layout) -> None:
    """Land, ingest, gate and featurize January with the plain functions: the departures of every
    day, and the outcomes of every day but the last (they land a day after their flights)."""
    landed = replay(spec, layout, JANUARY[0], len(JANUARY))
    assert [item.day for item in landed if not item.labels] == JANUARY
    assert [item.day for item in landed if item.labels] == JANUARY[:-1]
    for item in landed:
        if item.labels:
            ingest_labels(spec, layout, item.day)
    for item in landed:
        if not item.labels:
            for result in ingest_and_featurize(spec, layout, item.day):
                assert result.passed, (item.day, result)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, flights_csv):
    root = (tmp_path_factory.mktemp("monitoring_loop") / "state").resolve()
    layout = StateLayout(root).ensure()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STATE_DIR_ENV, str(root))
        mp.setenv("DAGSTER_HOME", str(layout.dagster_home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{layout.mlflow_dir / 'mlflow.db'}")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.delenv(SPEC_ENV, raising=False)
        mp.delenv("MLOPS_ALERT_WEBHOOK_URL", raising=False)
        (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
        spec = load_spec(DEFAULT_SPEC_NAME)
        _prepare_january(spec, layout)
        with dg.DagsterInstance.get() as instance:
            defs = build_definitions(spec, StateResource(state_dir=str(root)))
            first = defs.resolve_job_def(TRAIN_JOB).execute_in_process(
                instance=instance, raise_on_error=False, run_config={**QUIET_RUN_CONFIG, **FIRST_TRAIN},
                tags={TRIGGER_TAG: "initial training", "mlops/trigger_rule": "initial"},
            )
            assert first.success, "the January champion could not be trained"
            loop = Loop(spec, layout, instance, evidently_every=0, say=lambda _: None)
            # January was landed by hand and ingested without Dagster: let the landing sensor see
            # those files once (as if already handled) so the week below ingests only July.
            (january,) = loop.tick_sensor(LANDING_SENSOR)  # one ranged request for the stretch
            assert (january.tags[RANGE_START_TAG], january.tags[RANGE_END_TAG]) == (
                JANUARY[0].isoformat(), JANUARY[-1].isoformat())
            (january_outcomes,) = loop.tick_sensor(LABEL_SENSOR)
            assert january_outcomes.tags[RANGE_END_TAG] == JANUARY[-2].isoformat()
            # switching the automation on: its first evaluation records where things stand
            loop.run_automation(0)
            run = Scenario(root, layout, spec, instance, loop, first)
            for index, day in enumerate(JULY):
                landed = replay(spec, layout, day, 1)  # the day's departures, and the day before's outcomes
                assert sorted((f.day, f.labels) for f in landed) == [(day - dt.timedelta(days=1), True), (day, False)]
                run.ingests[day] = loop.run_sensor_requests(LANDING_SENSOR, INGEST_JOB)
                run.labels[day] = loop.run_sensor_requests(LABEL_SENSOR, LABELS_JOB)
                loop.run_automation(index)
                run.retrains[day] = loop.run_sensor_requests(RETRAINING_SENSOR, TRAIN_JOB)
            yield run


def test_first_champion_is_version_1(scenario):
    champion_v1 = scenario.registry().version("1")
    assert champion_v1.tags["dagster_run_id"] == scenario.first.run_id


def test_every_july_day_is_ingested_once(scenario):
    for day in JULY:
        results = scenario.ingests[day]
        assert len(results) == 1, f"{day}: {len(results)} ingest runs"
        assert results[0].success, f"ingest of {day} failed"
        assert results[0].dagster_run.tags["dagster/partition"] == day.isoformat()


def scored_days(scenario) -> dict[dt.date, tuple[str, int]]:
    rows = scenario.query("SELECT _day, model_version, count(*) FROM predictions_nycflights_late GROUP BY ALL")
    return {day: (version, n) for day, version, n in rows}


def test_july_days_are_scored_by_champion_v1(scenario):
    by_day = scored_days(scenario)
    for day in JULY[1:]:
        assert day in by_day, f"{day} was not scored"
        assert by_day[day][0] == "1" and by_day[day][1] > 100, (day, by_day[day])
    assert set(by_day) <= set(JULY)  # January was never scored (its features predate Dagster)
    assert by_day.get(JULY[0], ("1",))[0] == "1"


def test_first_replayed_day_is_scored_measured_and_drift_checked(scenario):
    assert JULY[0] in scored_days(scenario)
    assert scenario.query("SELECT count(*) FROM drift_history WHERE day = ?", [JULY[0]])[0][0] > 0
    assert scenario.query("SELECT count(*) FROM performance_history WHERE day = ?", [JULY[0]])[0][0] == 1


def test_drift_recorded_for_every_feature_every_scored_day(scenario):
    from mlops_assets.monitor.statistics import DRIFT_STATISTICS

    features = {(f, s) for f in set(scenario.spec.features) | {"__prediction__"} for s in DRIFT_STATISTICS}
    rows = scenario.query(
        "SELECT CAST(day AS DATE), feature, statistic, value, champion_version FROM drift_history "
        "WHERE model = 'nycflights_late'"
    )
    by_day: dict[dt.date, set[tuple[str, str]]] = {}
    for day, feature, statistic, value, version in rows:
        by_day.setdefault(day, set()).add((feature, statistic))
        assert value >= 0 and version == "1"
    scored = set(scored_days(scenario))
    assert set(by_day) == scored and scored >= set(JULY[1:])
    for day, found in by_day.items():
        assert found == features, f"{day}: missing {features - found}"


def test_summer_weather_drifts_high_on_first_scored_day(scenario):
    first = min(scored_days(scenario))
    rows = scenario.query(
        "SELECT feature, value, level FROM drift_history WHERE model = 'nycflights_late' AND day = ? "
        "AND statistic = 'psi'", [first]
    )
    high = {feature: value for feature, value, level in rows if level == "high"}
    assert high.keys() & WEATHER, f"no weather feature drifted on {first}: {high}"
    for feature in high.keys() & WEATHER:
        assert high[feature] >= 0.3


def test_drift_report_shows_every_statistic_and_what_can_trigger(scenario):
    from mlops_assets.monitor.statistics import DRIFT_STATISTICS

    event = scenario.instance.get_latest_materialization_event(LATE.key("drift_report"))
    metadata = event.asset_materialization.metadata
    assert metadata["trigger_statistic"].value == "psi"
    table = metadata["statistics"].value
    assert {c.name for c in table.schema.columns} == {"feature", "level", "triggers_retraining", *DRIFT_STATISTICS}
    rows = {record.data["feature"]: record.data for record in table.records}
    assert set(rows) == set(scenario.spec.features) | {"__prediction__"}
    for name in DRIFT_STATISTICS:
        assert metadata[f"max_{name}"].value == pytest.approx(max(row[name] for row in rows.values()), abs=1e-6)
    opted_out = [f for f, feature in scenario.spec.features.items() if not feature.drift_triggers_retraining]
    assert opted_out and all(rows[f]["triggers_retraining"] is False for f in opted_out)
    assert not set(opted_out) & (set(metadata["high_drift"].value) | set(metadata["moderate_drift"].value))


def retraining(scenario) -> dg.ExecuteInProcessResult:
    results = scenario.retrain_results()
    assert len(results) == 1, {day: len(r) for day, r in scenario.retrains.items()}
    return results[0]


def test_exactly_one_retraining_requested_with_reason(scenario):
    run = retraining(scenario).dagster_run
    assert run.job_name == TRAIN_JOB
    assert run.tags["mlops/trigger_rule"] == "high_drift"
    assert run.tags["dagster/sensor_name"] == RETRAINING_SENSOR
    assert dt.date.fromisoformat(run.tags["mlops/trigger_day"]) in JULY
    reason = run.tags[TRIGGER_TAG]
    features = json.loads(run.tags["mlops/trigger_features"])
    assert features.keys() & WEATHER
    top = sorted(features, key=lambda f: -features[f])
    for feature in top[:5]:  # the reason names the five largest, then counts the rest
        assert f"{feature} {features[feature]:.2f}" in reason, (feature, reason)
    if len(top) > 5:
        assert f"and {len(top) - 5} more" in reason
    assert any(f in reason for f in WEATHER)
    # exactly one train_job run by the sensor on the instance (the first champion was manual)
    sensor_runs = scenario.instance.get_runs(filters=dg.RunsFilter(
        job_name=TRAIN_JOB, tags={"dagster/sensor_name": RETRAINING_SENSOR}))
    assert [r.run_id for r in sensor_runs] == [run.run_id]


def test_registry_and_ledger_agree_with_the_retraining_outcome(scenario):
    result = retraining(scenario)
    reason = result.dagster_run.tags[TRIGGER_TAG]
    champion = scenario.registry().by_alias(CHAMPION_ALIAS)
    with connect(scenario.layout.warehouse_path) as con:
        entries = ledger.entries(con, scenario.spec.model.name)
        failed_gates = con.execute(
            "SELECT check_name FROM gate_results WHERE run_id = ? AND NOT passed", [result.run_id]
        ).fetchall()
    if champion.version != "1":
        assert champion.version == "2"
        assert result.success and not failed_gates
        promotion = [e for e in entries if e.action == "promote" and e.to_version == "2"]
        assert len(promotion) == 1 and reason in promotion[0].reason
        assert promotion[0].dagster_run_id == result.run_id
    else:
        assert not result.success
        assert [(e.action, e.to_version) for e in entries] == [("promote", "1")]


def retrained_candidate(scenario) -> tuple[dg.ExecuteInProcessResult, dict]:
    result = retraining(scenario)
    handle = json.loads((scenario.root / "handles" / f"{LATE.model}__candidate_model.json").read_text())
    assert handle["dagster_run_id"] == result.run_id, f"the candidate handle is not this run's: {step_failure_message(result)}"
    assert "candidate_model" in {
        e.asset_key.path[-1] for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key is not None
    }, "the retraining run trained no candidate"
    return result, handle


def _mlflow_run_tags(scenario, run_id: str) -> dict:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{scenario.layout.mlflow_dir / 'mlflow.db'}")
    return client.get_run(run_id).data.tags


def test_retrained_candidate_was_judged_against_v1_on_the_same_rows(scenario):
    result, handle = retrained_candidate(scenario)
    with connect(scenario.layout.warehouse_path) as con:
        evaluation = load_evaluation(con, scenario.spec.model.name, handle["model_sha256"])
    assert evaluation.champion_version == "1"
    snapshot = load_training_snapshot(scenario.layout, scenario.spec.name, handle["snapshot_hash"])
    # the window ends on the newest day with outcomes: the trigger day's land the day after it
    assert snapshot.end == dt.date.fromisoformat(result.dagster_run.tags["mlops/trigger_day"]) - dt.timedelta(days=1)
    assert snapshot.start >= JULY[0]
    assert evaluation.test_rows == snapshot.rows["test"]
    champion = scenario.registry().by_alias(CHAMPION_ALIAS)
    if champion.version == "2":
        assert champion.tags["model_sha256"] == handle["model_sha256"]
    else:
        with connect(scenario.layout.warehouse_path) as con:
            failed = con.execute("SELECT count(*) FROM gate_results WHERE run_id = ? AND NOT passed",
                                 [result.run_id]).fetchall()[0][0]
        assert failed > 0, "the challenger was not promoted but every gate passed"


def test_trigger_reason_reaches_mlflow_and_card(scenario):
    result, handle = retrained_candidate(scenario)
    reason = result.dagster_run.tags[TRIGGER_TAG]
    assert _mlflow_run_tags(scenario, handle["mlflow_run_id"])["trigger_reason"] == reason
    if scenario.registry().by_alias(CHAMPION_ALIAS).version == "2":
        cards = list((scenario.layout.model_reports_dir("nycflights_late") / "cards" / handle["model_sha256"][:16]).glob("*.md"))
        assert len(cards) == 1
        # the card's markdown escapes <, > and & (Dagster's renderer may allow raw HTML)
        assert html.escape(reason, quote=False) in cards[0].read_text(encoding="utf-8")


def test_live_performance_measured_once_labels_arrive(scenario):
    rows = scenario.query(
        "SELECT CAST(day AS DATE), model_version, auc, rows FROM performance_history WHERE model = 'nycflights_late' "
        "ORDER BY day"
    )
    scored = set(scored_days(scenario))
    expected = [day for day in JULY[:-1] if day in scored]  # the last day's labels have not arrived
    assert len(expected) >= len(JULY) - 2
    assert [r[0] for r in rows] == expected
    for day, version, auc, n in rows:
        assert version == "1", f"{day} measured on v{version}"
        assert auc is not None and 0.5 < auc <= 1.0 and n > 100


def test_timeline_mentions_the_retraining_run(scenario):
    result = scenario.loop.defs.resolve_job_def(TIMELINE_JOB).execute_in_process(
        instance=scenario.instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False)
    assert result.success
    [materialization] = result.asset_materializations_for_node(LATE.op("monitoring_timeline"))
    timeline = materialization.metadata["timeline"].value
    retrain = retraining(scenario)
    line = next((l for l in timeline.splitlines() if l.startswith(f"| {retrain.run_id[:8]} |")), None)
    assert line is not None, timeline
    assert retrain.dagster_run.tags[TRIGGER_TAG] in line
    assert materialization.metadata["retraining_requests"].value == 2  # the first champion + the trigger


def test_evidently_report_is_written_for_people(scenario):
    from mlops_assets.monitor.drift import DriftResult, write_evidently_report

    reference = scenario.registry().version("1").tags["snapshot_hash"]
    with connect(scenario.layout.warehouse_path) as con:
        current = con.execute("SELECT * FROM features_nycflights WHERE _day = ?", [JULY[-1]]).df()
    result = DriftResult(JULY[-1], values={}, levels={}, reference_snapshot=reference, champion_version="1",
                         rows=len(current))
    path = write_evidently_report(scenario.layout, scenario.spec, result, current,
                                  scenario.root / "reports" / "evidently-check.html", sample_rows=300)
    text = path.read_text(encoding="utf-8", errors="ignore")
    assert path.stat().st_size > 10_000 and "origin_temp" in text
    assert not list(path.parent.glob(".partial-*")), "the report is written atomically"
    # a feature with no value on a day (a trailing rate before its history exists) is left out of the
    # report for people, which Evidently would otherwise refuse whole
    current["carrier_late_rate_7d"] = None
    path = write_evidently_report(scenario.layout, scenario.spec, result, current,
                                  scenario.root / "reports" / "evidently-empty.html", sample_rows=300)
    assert "origin_temp" in path.read_text(encoding="utf-8", errors="ignore")


def performance_rows(scenario, day: dt.date) -> list[tuple]:
    return scenario.query("SELECT rows, auc FROM performance_history WHERE model = 'nycflights_late' AND day = ?", [day])


def test_a_day_is_scored_before_its_outcomes_and_measured_as_they_land(scenario):
    """Runs last (it lands more outcomes): the last July day was scored with no outcome known; half
    of its outcomes land, and its live performance appears on them; the rest land, and it is
    measured again on all of them."""
    import pandas as pd

    last = JULY[-1]
    assert last in scored_days(scenario) and performance_rows(scenario, last) == []
    with connect(scenario.layout.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM labels_nycflights WHERE _day = ?", [last]).fetchall()[0][0] == 0
    following = last + dt.timedelta(days=1)
    replay(scenario.spec, scenario.layout, following, 1)  # lands the last day's outcomes (and the next departures)
    landing_path(scenario.layout, scenario.spec, following).unlink()  # those stay out of this test
    outcomes = landing_path(scenario.layout, scenario.spec, last, labels=True)
    everything = pd.read_csv(outcomes, dtype=str, keep_default_na=False)
    half = everything.iloc[: len(everything) // 2]
    half.to_csv(outcomes, index=False)

    loop = scenario.loop
    [partial] = loop.run_sensor_requests(LABEL_SENSOR, LABELS_JOB)
    assert partial.success
    # the day's features, built before any outcome, are judged for leakage again with these labels
    [leakage] = [event.event_specific_data for event in partial.all_events
                 if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert (leakage.asset_key.to_user_string(), leakage.check_name, leakage.passed) == (
        FLIGHTS.labels_asset, "check_no_leakage", True)
    assert any(key.startswith("single_feature_auc.") for key in leakage.metadata)
    loop.run_automation(len(JULY))
    [(rows, auc)] = performance_rows(scenario, last)
    assert 0 < rows <= len(half) and auc is not None

    everything.to_csv(outcomes, index=False)
    [complete] = loop.run_sensor_requests(LABEL_SENSOR, LABELS_JOB)
    assert complete.success
    loop.run_automation(len(JULY) + 1)
    [(rows_after, _)] = performance_rows(scenario, last)
    assert rows_after > rows and rows_after == scored_days(scenario)[last][1]
