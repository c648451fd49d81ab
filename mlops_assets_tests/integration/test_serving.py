"""The registered champion serves itself (issue 16, deliverable 2): ``mlflow models serve -m
models:/<name>@champion --env-manager local`` answers REST requests of raw feature columns with the
same probabilities the platform's batch scoring stores for the same rows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from mlops_assets.core.registry import CHAMPION_ALIAS
from mlops_assets.core.spec import DAY_COLUMN
from mlops_assets.core.warehouse import connect
from mlops_assets_tests.integration.sensor_world import DAYS, build_world

pytestmark = pytest.mark.integration

SCORED_DAY = DAYS[-1]
SERVER_START_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_ping(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer /ping in {SERVER_START_SECONDS}s:\n{log.read_text()[-4000:]}")


def stop_group(server: subprocess.Popen, seconds: float = 30) -> None:
    """Stop the server and its workers: it leads its own process group (start_new_session), and the
    uvicorn worker it starts may outlive it by a moment, so wait until the whole group is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            server.poll()  # reap the leader: a zombie still counts as a member of the group
            try:
                os.killpg(server.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    else:
        pytest.fail(f"the server's process group {server.pid} did not stop")
    server.wait(timeout=seconds)


def test_the_served_champion_answers_as_the_platform_scores(tmp_path):
    from mlops_assets.monitor.scoring import checked_features, predictions_table, score_day

    world = build_world(tmp_path / "world")
    world.register(world.train())
    scored = score_day(world.spec, world.layout, world.registry, SCORED_DAY, run_id=None)
    key = list(world.spec.entity_key)
    with connect(world.layout.warehouse_path) as con:
        features, _ = checked_features(con, world.spec, SCORED_DAY)
        stored = con.execute(
            f"SELECT * FROM {predictions_table(world.spec)} WHERE {DAY_COLUMN} = ?", [SCORED_DAY]
        ).df()
    rows = features.merge(stored[[*key, "score"]], on=key, validate="one_to_one")
    assert len(rows) == scored.rows > 20
    champion = world.registry.load_version(world.registry.champion())
    columns = champion.encoding.columns
    # rows no stored day has: nulls in every column, a site never seen in training, an integer reading
    unusual = rows[columns].head(3).astype(object).reset_index(drop=True)
    unusual.loc[0, :] = None
    unusual.loc[1, "site"] = "west"
    unusual.loc[2, "reading"] = 90
    request_rows = [*rows[columns].astype(object).itertuples(index=False), *unusual.itertuples(index=False)]
    expected = np.concatenate([rows["score"].to_numpy(dtype="float64"), champion.predict(unusual)])
    # what a client sends: the raw feature columns only, missing values as JSON null
    payload = {"columns": columns, "data": [[None if value != value else value for value in row] for row in request_rows]}
    payload = json.loads(json.dumps(payload, default=float))

    port = free_port()
    log = tmp_path / "serve.log"
    mlflow_script = Path(sys.executable).parent / "mlflow"
    # the server starts uvicorn by name: the venv's bin folder must come first on PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": world.registry.tracking_uri,
           "PATH": os.pathsep.join([str(mlflow_script.parent), os.environ.get("PATH", "")])}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(mlflow_script), "models", "serve", "-m", f"models:/{world.registry.model_name}@{CHAMPION_ALIAS}",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_ping(server, port, log)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=json.dumps({"dataframe_split": payload}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        stop_group(server)

    served = np.array([row["probability"] for row in answer["predictions"]], dtype="float64")
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
    assert np.unique(np.round(served, 6)).size > 3  # a real model, not a constant
    assert not port_is_open(port), "the server still listens after being stopped"
