"""The platform's sensors ticked for real (dg.build_sensor_context + evaluate_tick): the landing
sensor turns each new or changed landing file into one ingest request, the retraining sensor turns
the drift/performance history into at most one retraining per cool-down with its reason in the
tags, and the run failure sensor turns a failed run into an alert row and a webhook POST."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import os
import threading

import dagster as dg
import pytest

from mlops_assets_tests.flight_names import LANDING_SENSOR, LATE, RETRAINING_SENSOR
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.automation import WEBHOOK_ENV, train_window_config
from mlops_assets.defs.common import RANGE_END_TAG, RANGE_START_TAG
from mlops_assets_tests.flight_names import INGEST_JOB, TRAIN_JOB
from mlops_assets.defs.model import TRIGGER_TAG
from mlops_assets.defs.monitoring import MonitoringPolicy
from mlops_assets.defs.resources import StateResource
from mlops_assets.core.files import file_sha256
from mlops_assets.ingest.landing import landing_path
from mlops_assets.monitor.alerts import alerts
from mlops_assets.monitor.drift_store import record_day
from mlops_assets.monitor.performance import PERFORMANCE_DDL
from mlops_assets.core.warehouse import connect

pytestmark = pytest.mark.integration

FEATURES = ("origin_temp", "origin_dewpoint", "carrier", "distance")
JULY = dt.date(2013, 7, 1)


@pytest.fixture
def defs(state, spec) -> dg.Definitions:
    # the retraining tests fill drift and performance history by hand, without feature days to
    # train on; the wait for trainable days is tested on its own with the default policy
    return build_definitions(spec, StateResource(state_dir=str(state.root)),
                             MonitoringPolicy(min_training_days=0))


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def tick(defs, instance, name: str, cursor: str | None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=defs.resources,
                                 sensor_name=name) as context:
        return defs.resolve_sensor_def(name).evaluate_tick(context)


# -- landing sensor ----------------------------------------------------------------------------------


def test_landing_sensor_requests_each_landed_day_once(defs, instance, land_flights, flight_days):
    paths = land_flights(flight_days[0], flight_days[1])
    first = tick(defs, instance, LANDING_SENSOR, None)
    requests = first.run_requests
    # consecutive days arrived together: one ranged run, its key the days and the files' sha256
    (request,) = requests
    assert request.partition_key is None
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (flight_days[0].isoformat(), flight_days[1].isoformat())
    pairs = ";".join(f"{day.isoformat()}:{file_sha256(path)}" for day, path in zip(flight_days, paths))
    digest = hashlib.sha256(pairs.encode()).hexdigest()
    assert request.run_key == f"{flight_days[0].isoformat()}..{flight_days[1].isoformat()}:{digest}"
    assert request.tags["mlops/landing_sha256"] == digest and request.tags["mlops/landing_files"] == "2"
    assert defs.resolve_sensor_def(LANDING_SENSOR).job_name == INGEST_JOB
    assert first.cursor and set(json.loads(first.cursor)) == {p.name for p in paths}

    second = tick(defs, instance, LANDING_SENSOR, first.cursor)
    assert second.run_requests == []

    # the same bytes landed again (new mtime): no request; and if the cursor were lost, the run key
    # would be the same, so Dagster (which skips a run key it has seen) would not ingest twice
    data = paths[0].read_bytes()
    paths[0].write_bytes(data)
    stat = paths[0].stat()
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    relanded = tick(defs, instance, LANDING_SENSOR, second.cursor)
    assert relanded.run_requests == []
    assert json.loads(relanded.cursor)[paths[0].name][1] == paths[0].stat().st_mtime_ns
    reset = tick(defs, instance, LANDING_SENSOR, None)
    assert {r.run_key for r in reset.run_requests} == {r.run_key for r in requests}

    # changed content for a day: exactly one request, a new run key, the same partition
    lines = data.decode().splitlines(keepends=True)
    paths[1].write_text("".join(lines[:-1]))
    changed = tick(defs, instance, LANDING_SENSOR, relanded.cursor)
    assert len(changed.run_requests) == 1
    request = changed.run_requests[0]
    assert request.partition_key == flight_days[1].isoformat()
    assert request.run_key == f"{flight_days[1].isoformat()}:{file_sha256(paths[1])}"
    assert request.tags["mlops/landing_file"] == paths[1].name
    assert request.tags["mlops/landing_sha256"] == file_sha256(paths[1])
    assert tick(defs, instance, LANDING_SENSOR, changed.cursor).run_requests == []


def test_landing_sensor_cuts_runs_at_gaps_and_at_the_spec_batch_size(state, spec, instance, land_flights, flight_days):
    land_flights(flight_days[0], flight_days[1], flight_days[3])
    defs = build_definitions(spec, StateResource(state_dir=str(state.root)))
    spans = [(r.partition_key, r.tags.get(RANGE_START_TAG), r.tags.get(RANGE_END_TAG))
             for r in tick(defs, instance, LANDING_SENSOR, None).run_requests]
    assert spans == [(None, flight_days[0].isoformat(), flight_days[1].isoformat()),
                     (flight_days[3].isoformat(), None, None)]

    one_a_run = spec.model_copy(update={"partitions": spec.partitions.model_copy(update={"backfill_days_per_run": 1})})
    defs = build_definitions(one_a_run, StateResource(state_dir=str(state.root)))
    keys = [r.partition_key for r in tick(defs, instance, LANDING_SENSOR, None).run_requests]
    assert keys == [flight_days[i].isoformat() for i in (0, 1, 3)]


def test_landing_sensor_ignores_badly_named_and_unsafe_files(defs, instance, state, spec, land_flights, flight_days):
    [good] = land_flights(flight_days[0])
    zone = good.parent
    content = good.read_bytes()
    for name in ("2013-01-02.csv.bak", "notes.csv", "2013-02-30.csv", "2013-1-3.csv", "2013-01-04.parquet",
                 ".2013-01-05.csv.partial-1", "2012-12-31.csv"):
        (zone / name).write_bytes(content)
    (zone / "2013-01-06.csv").mkdir()  # a folder with a good name
    outside = state.root / "elsewhere.csv"
    outside.write_bytes(content)
    (zone / "2013-01-07.csv").symlink_to(outside)  # a symlink with a good name
    data = tick(defs, instance, LANDING_SENSOR, None)
    assert [r.partition_key for r in data.run_requests] == [flight_days[0].isoformat()]
    # 2012-12-31 is well named but before the partitions: seen (cursor) but not requested
    assert set(json.loads(data.cursor)) == {good.name, "2012-12-31.csv"}


# -- retraining sensor -------------------------------------------------------------------------------


def add_drift(state, day: dt.date, values: dict[str, float], quiet: float = 0.03, statistic: str = "psi") -> None:
    """The day's drift: ``values`` for the named features, ``quiet`` for the other FEATURES."""
    rows = [(feature, statistic, value, "level unread by the sensor") for feature, value in
            ({feature: quiet for feature in FEATURES} | values).items()]
    with connect(state.warehouse_path) as con:
        record_day(con, "nycflights_late", day, rows, "snap", "1", None)


def add_performance(state, day: dt.date, auc: float, reference: float = 0.75) -> None:
    drop = (reference - auc) / reference
    with connect(state.warehouse_path) as con:
        con.execute(PERFORMANCE_DDL)
        con.execute(
            # the columns a binary model's row fills; metric takes its default, auc
            "INSERT INTO performance_history (model, day, model_version, rows, auc, ece, reference_auc, "
            "relative_drop, degraded, computed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ["nycflights_late", day, "1", 1000, auc, 0.02, reference, drop, drop > 0.05,
             dt.datetime.now(dt.timezone.utc), None],
        )


def test_retraining_sensor_skips_a_quiet_week(defs, instance, state):
    cursor = None
    for i in range(7):
        day = JULY + dt.timedelta(days=i)
        add_drift(state, day, {"origin_temp": 0.1})
        if i:
            add_performance(state, day - dt.timedelta(days=1), 0.74)
        data = tick(defs, instance, RETRAINING_SENSOR, cursor)
        assert data.run_requests == [], f"{day}: {data.run_requests}"
        assert data.skip_message and "no drift or degradation rule fired" in data.skip_message
        cursor = data.cursor


def test_retraining_sensor_requests_once_per_cooldown(defs, instance, state):
    assert defs.resolve_sensor_def(RETRAINING_SENSOR).job_name == TRAIN_JOB
    cursor, requests = None, []
    for i in range(7):
        day = JULY + dt.timedelta(days=i)
        add_drift(state, day, {"origin_temp": 0.8 + i / 100})
        data = tick(defs, instance, RETRAINING_SENSOR, cursor)
        cursor = data.cursor
        requests += [(day, r) for r in data.run_requests]
        if not data.run_requests:
            assert "no rule fired" in data.skip_message
    assert len(requests) == 1, [(d, r.run_key) for d, r in requests]
    day, request = requests[0]
    assert day == JULY
    assert request.tags["mlops/trigger_rule"] == "high_drift"
    reason = request.tags[TRIGGER_TAG]
    assert "origin_temp 0.80" in reason and JULY.isoformat() in reason
    assert json.loads(request.tags["mlops/trigger_features"]) == {"origin_temp": 0.8}
    assert request.tags["mlops/trigger_day"] == JULY.isoformat()
    assert request.run_key == f"retrain-{JULY.isoformat()}-high_drift"
    assert request.run_config == train_window_config(LATE, JULY, 28, 0, 0)  # no day to spare: nothing held out
    config = request.run_config["ops"][LATE.op("training_snapshot")]["config"]
    assert config == {"end_date": "2013-07-01", "last_n_days": 28, "min_days": 0, "holdout_days": 0}

    # the cool-down passes (7 data days after the trigger) with drift continuing: a second request
    day = JULY + dt.timedelta(days=7)
    add_drift(state, day, {"origin_temp": 0.9, "origin_dewpoint": 0.5})
    data = tick(defs, instance, RETRAINING_SENSOR, cursor)
    assert len(data.run_requests) == 1
    second = data.run_requests[0]
    assert second.run_key != request.run_key
    assert second.tags["mlops/trigger_day"] == day.isoformat()
    assert "origin_temp 0.90" in second.tags[TRIGGER_TAG] and "origin_dewpoint 0.50" in second.tags[TRIGGER_TAG]
    assert second.run_config == train_window_config(LATE, day, 28, 0, 0)
    assert json.loads(data.cursor) == {"last_trigger_day": day.isoformat()}


def test_retraining_sensor_requests_on_degraded_performance(defs, instance, state):
    days = [JULY + dt.timedelta(days=i) for i in range(8)]
    for day in days:
        add_drift(state, day, {})
    for day in days[:-1]:  # a week of labelled days averaging 0.15 below the reference AUC
        add_performance(state, day, 0.60)
    data = tick(defs, instance, RETRAINING_SENSOR, None)
    [request] = data.run_requests
    assert request.tags["mlops/trigger_rule"] == "performance_degraded"
    assert "0.600" in request.tags[TRIGGER_TAG] and "7 labelled days" in request.tags[TRIGGER_TAG]
    assert request.run_config == train_window_config(LATE, days[-2], 28, 0, 0)


def test_one_bad_day_of_live_auc_is_not_degradation(defs, instance, state):
    days = [JULY + dt.timedelta(days=i) for i in range(8)]
    for day in days:
        add_drift(state, day, {})
    for day in days[:-2]:
        add_performance(state, day, 0.74)
    add_performance(state, days[-2], 0.55)  # a noisy day: the week's mean stays within the 0.05 band
    data = tick(defs, instance, RETRAINING_SENSOR, None)
    assert data.run_requests == [] and "no drift or degradation rule fired" in data.skip_message


def test_retraining_waits_for_enough_trainable_days_without_starting_the_cooldown(state, spec, instance):
    defs = build_definitions(spec, StateResource(state_dir=str(state.root)))  # default policy: 7 days
    add_drift(state, JULY, {"origin_temp": 0.9})
    data = tick(defs, instance, RETRAINING_SENSOR, None)
    assert data.run_requests == []
    assert "high_drift fired on 2013-07-01" in data.skip_message and "waiting for more data" in data.skip_message
    assert not data.cursor, "a request that was never made must not start the cool-down"


# -- run failure sensor ------------------------------------------------------------------------------


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    class Handler(_Webhook):
        received = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", Handler.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def failed_ingest(defs, instance, day: str):
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    assert not result.success
    return result


def evaluate_failure_sensor(defs, instance, result):
    sensor = defs.resolve_sensor_def("run_failure_alert_sensor")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(), resources=defs.resources,
    ).for_run_failure()
    sensor(context)


def alert_for_missing_landing(defs, state, tmp_path, day: str):
    (tmp_path / "instance").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
        result = failed_ingest(defs, instance, day)
        evaluate_failure_sensor(defs, instance, result)
    with connect(state.warehouse_path) as con:
        return result, alerts(con)


def test_failed_run_becomes_an_alert_row(defs, state, monkeypatch, tmp_path):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    result, rows = alert_for_missing_landing(defs, state, tmp_path, "2013-01-05")
    assert len(rows) == 1
    _raised, run_id, job, partition, reason, webhook_status = rows[0]
    assert run_id == result.run_id and job == INGEST_JOB and partition == "2013-01-05"
    assert webhook_status == "not configured"
    assert reason.startswith("raw_nycflights: ")  # the failed step is named
    assert "Traceback" not in reason and "\n" not in reason


def test_alert_reason_names_the_missing_landing_file(defs, state, spec, monkeypatch, tmp_path):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    _result, [row] = alert_for_missing_landing(defs, state, tmp_path, "2013-01-05")
    reason = row[4]
    assert "no landing file" in reason and "2013-01-05" in reason
    assert str(landing_path(state, spec, dt.date(2013, 1, 5))) in reason
    assert "DagsterExecutionStepExecutionError" not in reason


def test_failed_run_alert_is_posted_to_the_webhook(defs, state, monkeypatch, tmp_path, webhook):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    (tmp_path / "instance").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
        result = failed_ingest(defs, instance, "2013-01-06")
        evaluate_failure_sensor(defs, instance, result)
    assert len(received) == 1
    path, content_type, payload = received[0]
    assert path == "/alerts" and content_type == "application/json"
    assert payload["run_id"] == result.run_id and payload["job"] == INGEST_JOB
    assert payload["partition"] == "2013-01-06" and payload["reason"].startswith("raw_nycflights: ")
    with connect(state.warehouse_path) as con:
        [row] = alerts(con)
    assert row[5] == "sent 200" and row[4] == payload["reason"]


def test_unreachable_webhook_is_recorded_not_raised(defs, state, monkeypatch, tmp_path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{port}/alerts")
    (tmp_path / "instance").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
        result = failed_ingest(defs, instance, "2013-01-07")
        evaluate_failure_sensor(defs, instance, result)
    with connect(state.warehouse_path) as con:
        [row] = alerts(con)
    assert row[5].startswith("failed:")


def test_drift_on_a_feature_opted_out_in_the_spec_does_not_retrain(defs, instance, state, spec):
    assert not spec.features["origin_late_rate_7d"].drift_triggers_retraining
    add_drift(state, JULY, {"origin_late_rate_7d": 2.5})
    data = tick(defs, instance, RETRAINING_SENSOR, None)
    assert data.run_requests == [] and "no drift or degradation rule fired" in data.skip_message
    add_drift(state, JULY + dt.timedelta(days=1), {"origin_temp": 0.9})  # a feature that does count
    assert len(tick(defs, instance, RETRAINING_SENSOR, None).run_requests) == 1


def test_a_policy_naming_js_distance_triggers_on_its_levels(instance, state, spec):
    # carrier moved by JS distance only; PSI stayed quiet on every feature
    rows = [(f, "psi", 0.03, "") for f in FEATURES]
    rows += [(f, "js_distance", 0.3 if f == "carrier" else 0.02, "") for f in FEATURES]
    with connect(state.warehouse_path) as con:
        record_day(con, "nycflights_late", JULY, rows, "snap", "1", None)

    def policy(**fields) -> dg.Definitions:
        return build_definitions(spec, StateResource(state_dir=str(state.root)),
                                 MonitoringPolicy(min_training_days=0, **fields))

    assert tick(policy(), instance, RETRAINING_SENSOR, None).run_requests == []
    [request] = tick(policy(drift_statistic="js_distance"), instance, RETRAINING_SENSOR, None).run_requests
    assert request.tags["mlops/trigger_rule"] == "high_drift"
    assert json.loads(request.tags["mlops/trigger_features"]) == {"carrier": 0.3}
    assert "(JS distance >= 0.23)" in request.tags[TRIGGER_TAG]
    # the policy's own levels for the statistic it names
    assert tick(policy(drift_statistic="js_distance", high_drift=0.5), instance, RETRAINING_SENSOR, None).run_requests == []
