"""The user interfaces for real: `dagster dev` (webserver and daemon) is started on a temporary state
folder holding ten featurized January days, its GraphQL API lists every asset, check, job, sensor and
schedule of the code location, and train_job launched through it is run by the daemon to SUCCESS.
A headless Chromium then opens the asset graph and the champion, model card and evaluation pages;
an MLflow server started like `mlops-assets mlflow-ui` serves the champion with its card; and the
`dg` CLI checks and lists the definitions."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from mlops_assets.definitions import project_models
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets_tests.flight_names import LATE
from mlops_assets.core.spec import DEFAULT_SPEC_NAME, SPEC_ENV, load_spec
from mlops_assets.core.paths import PROJECT_ROOT, STATE_DIR_ENV, StateLayout

pytestmark = pytest.mark.integration

START = dt.date(2013, 1, 1)
DAYS = 10
END = START + dt.timedelta(days=DAYS - 1)
LOCATION = "mlops_assets"
REPOSITORY = "__repository__"
MODEL_NAME = "nycflights_late"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
DOCS_GRAPH = PROJECT_ROOT / "docs" / "asset-graph.png"
BIN = Path(sys.executable).parent

MODEL_ASSETS = ("training_snapshot", "candidate_model", "candidate_evaluation", "model_card", "champion_model",
                "batch_predictions", "drift_report", "live_performance", "monitoring_timeline")
# every model of the project (defs/models/) and every dataset they are built on
PROJECT_MODELS = [ModelNames(name) for name in project_models()]
PROJECT_DATASETS = {DatasetNames(spec.name) for spec in project_models().values()}
LABEL_FEEDS = {DatasetNames(spec.name) for spec in project_models().values() if spec.labels is not None}
ASSETS = {f"raw_{d.dataset}" for d in PROJECT_DATASETS} | {f"{d.dataset}_features" for d in PROJECT_DATASETS} | {
    f"{m.model}/{asset}" for m in PROJECT_MODELS for asset in MODEL_ASSETS} | {d.labels_asset for d in LABEL_FEEDS}
CHECKS = {
    "check_schema", "check_null_rates", "check_row_count", "check_unique_entity_key",
    "check_rows_in_partition", "check_feature_schema", "check_no_leakage", "check_min_quality",
    "check_not_worse_than_champion", "check_beats_baseline", "check_no_slice_regression",
    "check_calibration", "check_card_complete",
}
JOBS = {d.ingest_job for d in PROJECT_DATASETS} | {d.labels_job for d in LABEL_FEEDS} | {
    m.job(kind) for m in PROJECT_MODELS for kind in ("train", "score", "performance", "timeline", "rollback")}
SENSORS = {d.landing_sensor for d in PROJECT_DATASETS} | {d.label_sensor for d in LABEL_FEEDS} | {"run_failure_alert_sensor"} | {
    sensor for m in PROJECT_MODELS for sensor in (m.retraining_sensor, m.automation_sensor)}
SCHEDULES = {schedule for m in PROJECT_MODELS for schedule in (m.weekly_retraining_schedule, m.daily_monitoring_schedule)}
TRAIN_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    "ops": {
        LATE.op("training_snapshot"): {"config": {"end_date": END.isoformat(), "min_days": 3, "holdout_days": 2}},
        LATE.op("candidate_model"): {"config": {"trials": 1}},
    },
}
CARD_SECTIONS = ("Model details", "Intended use", "Training data", "Metrics", "Gate verdicts", "Lineage")


# -- helpers -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_json(url: str, payload: dict | None = None, timeout: float = 30.0) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Server:
    """A child process in its own process group, stopped as a whole (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int, log_dir: Path) -> None:
        self.name, self.port = name, port
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"{self.name} exited with {code}:\n{self.log_tail()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        # children (webserver, daemon, run workers) may outlive the parent: kill what is left of the group
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._log.close()
        deadline = time.monotonic() + 15
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not port_open(self.port), f"{self.name} still listens on port {self.port}"


def prepare_days(spec, layout: StateLayout, days: int) -> None:
    """Land, ingest, gate and featurize days with the plain functions."""
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets.ingest.landing import replay

    from mlops_assets.ingest.labels import ingest_labels

    # one day more: the outcomes of the last day land the day after it
    landed = replay(spec, layout, START, days + 1)
    for item in landed:
        if item.labels:
            ingest_labels(spec, layout, item.day)
    for item in landed:
        if not item.labels and item.day < START + dt.timedelta(days=days):
            for result in ingest_and_featurize(spec, layout, item.day):
                assert result.passed, (item.day, result)


# -- fixtures ----------------------------------------------------------------------------------------


@dataclass
class UiState:
    layout: StateLayout
    env: dict[str, str]
    logs: Path


@pytest.fixture(scope="module")
def ui_state(tmp_path_factory, flights_csv) -> UiState:
    base = tmp_path_factory.mktemp("ui")
    root = (base / "state").resolve()
    layout = StateLayout(root).ensure()
    env = {
        **{k: v for k, v in os.environ.items() if k != SPEC_ENV},
        STATE_DIR_ENV: str(root),
        "DAGSTER_HOME": str(layout.dagster_home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{layout.mlflow_dir / 'mlflow.db'}",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    (layout.cache_dir / flights_csv.name).symlink_to(flights_csv)
    with pytest.MonkeyPatch.context() as mp:
        for key in (STATE_DIR_ENV, "DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
            mp.setenv(key, env[key])
        mp.delenv(SPEC_ENV, raising=False)
        spec = load_spec(DEFAULT_SPEC_NAME)
        prepare_days(spec, layout, DAYS)
    # The days are in the warehouse now; without their landing files the landing sensor (running by
    # default) has nothing to start, so train_job does not queue behind ten ingest runs.
    shutil.rmtree(layout.landing_dir)
    layout.landing_dir.mkdir()
    logs = base / "logs"
    logs.mkdir()
    return UiState(layout, env, logs)


class Dagster:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.port}"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = http_json(f"{self.url}/graphql", {"query": query, "variables": variables or {}})
        assert not body.get("errors"), body["errors"]
        return body["data"]


WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""

REPOSITORY_QUERY = """
query Repo($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) { __typename
    ... on PythonError { message }
    ... on Repository {
      jobs { name }
      sensors { name }
      schedules { name }
      assetNodes { assetKey { path }
        assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
    } } }
"""

LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message } } }
"""

RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } } }
"""


@pytest.fixture(scope="module")
def dagster(ui_state) -> Dagster:
    port = free_port()
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", str(port)]
    server = Server("dagster-dev", command, ui_state.env, port, ui_state.logs)
    try:
        client = Dagster(server)
        deadline, last = time.monotonic() + 120, None
        while True:
            server.assert_alive()
            try:
                last = client.graphql(WORKSPACE_QUERY)["workspaceOrError"]
                entries = {e["name"]: e for e in last.get("locationEntries", [])}
                entry = entries.get(LOCATION)
                if entry and entry["loadStatus"] == "LOADED":
                    error = entry["locationOrLoadError"]
                    assert error and error["__typename"] != "PythonError", error
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            assert time.monotonic() < deadline, f"code location not loaded: {last}\n{server.log_tail()}"
            time.sleep(1)
        yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def trained(dagster) -> str:
    """train_job launched through GraphQL and run by the daemon; returns the run id."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": LATE.train_job},
        "runConfigData": TRAIN_RUN_CONFIG,
    }
    launched = dagster.graphql(LAUNCH_MUTATION, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, status = time.monotonic() + 240, None
    while time.monotonic() < deadline:
        dagster.server.assert_alive()
        status = dagster.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", f"train_job run {run_id} ended {status}\n{dagster.server.log_tail()}"
    return run_id


# -- 1. the webserver serves the whole code location -------------------------------------------------


def test_graphql_lists_every_definition(dagster):
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    repo = dagster.graphql(REPOSITORY_QUERY, {"selector": selector})["repositoryOrError"]
    assert repo["__typename"] == "Repository", repo
    assets = {"/".join(node["assetKey"]["path"]) for node in repo["assetNodes"]}
    assert ASSETS <= assets, sorted(ASSETS - assets)
    checks = set()
    for node in repo["assetNodes"]:
        result = node["assetChecksOrError"]
        if result["__typename"] == "AssetChecks":
            checks |= {check["name"] for check in result["checks"]}
    assert CHECKS <= checks, sorted(CHECKS - checks)
    assert JOBS <= {job["name"] for job in repo["jobs"]}
    assert SENSORS <= {sensor["name"] for sensor in repo["sensors"]}
    assert SCHEDULES <= {schedule["name"] for schedule in repo["schedules"]}


def test_train_job_launched_through_graphql_succeeds(trained):
    assert trained


# -- 2. the pages a user opens, in a real browser ------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


def open_page(browser, url: str):
    page = browser.new_page()
    page.goto(url, wait_until="domcontentloaded")
    return page


def dismiss_community_dialog(page) -> None:
    """The first visit shows a "Join the Dagster community" dialog; skip it when it appears."""
    try:
        page.get_by_role("button", name="Skip", exact=True).click(timeout=4000)
    except PlaywrightTimeout:
        pass


def save(page, name: str) -> Path:
    path = ARTIFACTS / f"ui-{name}.png"
    page.screenshot(path=str(path))
    (ARTIFACTS / f"ui-{name}.html").write_text(page.content(), encoding="utf-8")
    return path


def show_markdown(page, key: str):
    """Open the "[Show Markdown]" dialog of one metadata entry of the latest materialization."""
    row = page.locator("tr").filter(has=page.get_by_text(key, exact=True)).last
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def test_asset_graph_and_catalog_render(dagster, trained, browser):
    page = open_page(browser, f"{dagster.url}/asset-groups")
    page.get_by_text("Global asset lineage").wait_for()
    dismiss_community_dialog(page)
    for group in (*(d.group for d in PROJECT_DATASETS), *(m.group for m in PROJECT_MODELS)):
        page.get_by_text(group, exact=True).filter(visible=True).first.wait_for()
    # a new reader wants to see the assets, not six closed boxes: expand every group (Alt+E)
    page.locator("body").click(position={"x": 900, "y": 700})
    page.keyboard.press("Alt+e")
    # (long names are shortened in graph nodes: wait for short ones). With several models the graph
    # opens zoomed out, where nodes are drawn in their minimal form that Playwright does not count as
    # visible: each node must be drawn; the screenshot shows them
    for asset in ("raw_nycflights", "training_snapshot", "model_card", "champion_model", "drift_report"):
        page.get_by_text(asset, exact=True).first.wait_for(state="attached")
    page.wait_for_timeout(1500)  # let the graph layout settle before the picture
    shot = save(page, "asset-graph")
    if os.environ.get("MLOPS_UPDATE_DOCS") == "1":  # refresh the README's picture on purpose only
        DOCS_GRAPH.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_GRAPH)

    page.goto(f"{dagster.url}/assets", wait_until="domcontentloaded")
    page.get_by_text("nycflights_features", exact=True).filter(visible=True).first.wait_for()
    save(page, "catalog")
    # the catalog draws only the rows on screen (a model's as "<model> / <asset>"): open each model's
    # own part of it
    for model in PROJECT_MODELS:
        page.goto(f"{dagster.url}/assets/{model.model}", wait_until="domcontentloaded")
        page.get_by_text("champion_model").filter(visible=True).first.wait_for()
    page.close()


def test_champion_page_renders(dagster, trained, browser):
    page = open_page(browser, f"{dagster.url}/assets/{LATE.model}/champion_model")
    dismiss_community_dialog(page)
    page.get_by_text("champion_model", exact=True).filter(visible=True).first.wait_for()
    page.get_by_text("Latest materialization").wait_for()
    page.get_by_text("model_card").filter(visible=True).first.wait_for()  # its upstream in the lineage panel
    save(page, "champion-model")
    page.close()


def test_model_card_page_shows_the_card(dagster, trained, browser):
    page = open_page(browser, f"{dagster.url}/assets/{LATE.model}/model_card")
    dismiss_community_dialog(page)
    page.get_by_text("card_markdown", exact=True).wait_for()
    dialog = show_markdown(page, "card")
    dialog.get_by_text("Model card: nycflights_late").first.wait_for()
    for section in CARD_SECTIONS:
        dialog.get_by_role("heading", name=section).first.wait_for()
    dialog.get_by_text("Model card: nycflights_late").first.scroll_into_view_if_needed()
    save(page, "model-card")
    page.close()


def test_evaluation_page_shows_its_plots(dagster, trained, browser):
    page = open_page(browser, f"{dagster.url}/assets/{LATE.model}/candidate_evaluation")
    dismiss_community_dialog(page)
    page.get_by_text("test_auc", exact=True).wait_for()
    dialog = show_markdown(page, "plots")
    images = dialog.locator("img")
    images.first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=dialog] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert images.count() >= 2
    save(page, "candidate-evaluation")
    page.close()


# -- 3. the MLflow UI serves the champion with its card --------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(ui_state, trained):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", ui_state.env["MLFLOW_TRACKING_URI"],
               "--default-artifact-root", ui_state.layout.mlflow_artifacts_dir.as_uri(),
               "--host", "127.0.0.1", "--port", str(port)]
    server = Server("mlflow-server", command, ui_state.env, port, ui_state.logs)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            server.assert_alive()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            assert time.monotonic() < deadline, f"MLflow server did not come up\n{server.log_tail()}"
            time.sleep(0.5)
        yield url
    finally:
        server.stop()


def test_mlflow_serves_champion_with_card(mlflow_server):
    query = urllib.parse.urlencode({"name": MODEL_NAME, "alias": "champion"})
    version = http_json(f"{mlflow_server}/api/2.0/mlflow/registered-models/alias?{query}")["model_version"]
    assert version["version"] == "1"
    assert "champion" in version.get("aliases", [])
    assert version["description"].startswith("# Model card"), version["description"][:200]
    assert "## Gate verdicts" in version["description"]
    query = urllib.parse.urlencode({"run_id": version["run_id"], "path": "model_card"})
    listing = http_json(f"{mlflow_server}/api/2.0/mlflow/artifacts/list?{query}")
    files = {item["path"] for item in listing.get("files", [])}
    assert {"model_card/model_card.md", "model_card/model_card.html"} <= files, listing


# -- 4. the dg CLI -----------------------------------------------------------------------------------------


def run_dg(ui_state, *args: str) -> subprocess.CompletedProcess:
    env = {**ui_state.env, "VIRTUAL_ENV": str(BIN.parent), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(BIN / "dg"), *args], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"dg {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_dg_check_defs(ui_state):
    run_dg(ui_state, "check", "defs")


def test_dg_list_defs(ui_state):
    listing = json.loads(run_dg(ui_state, "list", "defs", "--json").stdout)
    assert ASSETS <= {asset["asset_key"] for asset in listing["assets"]}
    assert CHECKS <= {check["name"] for check in listing["asset_checks"]}
    assert JOBS <= {job["name"] for job in listing["jobs"]}
    assert SENSORS <= {sensor["name"] for sensor in listing["sensors"]}
    assert SCHEDULES <= {schedule["name"] for schedule in listing["schedules"]}
    table = run_dg(ui_state, "list", "defs").stdout
    for asset in ASSETS:
        assert asset in table, f"`dg list defs` does not name {asset}"
