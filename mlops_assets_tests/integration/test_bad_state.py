"""The hostile-state corpus (issue 13, items 3, 5, 8 and 11): a damaged or surprising *state* rather
than a bad file. A warehouse that is empty, truncated or not DuckDB at all; a state folder that is
read-only or a file; command lines that ask for nothing; a registry that lost the champion the
ledger names; a spec tightened after its days were judged; a disk that fills mid-write.

Each case either stops with one line naming the problem (and, for the CLI, exit code 2) or carries
on correctly, and in both cases leaves nothing partial: the same fingerprint as the bad-input corpus
(every snapshot, feature build, verdict and training snapshot of the other days) and the champion
are unchanged, or the state folder's bytes are, when the warehouse itself is the damaged part.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from mlops_assets_tests.flight_names import SENSOR_MODEL
from mlops_assets.cli import main as cli
from mlops_assets.core.paths import StateLayout
from mlops_assets_tests.integration.test_bad_input import (  # noqa: F401 - fixtures used by name
    GOOD_DAYS, SENSORS, fingerprint, leftovers, sensor_state, sensor_world,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class StateCase:
    name: str
    item: int  # the item: 3 registry, 5 spec drift, 8 write faults, 11 messages
    test: str  # the test function that runs it
    message: str = ""  # a regex the one-line refusal must match


STATE_CASES: list[StateCase] = []


def case(name: str, item: int, test: str, message: str = "") -> StateCase:
    found = StateCase(name, item, test, message)
    STATE_CASES.append(found)
    return found


def cases_of(test: str) -> list[StateCase]:
    return [c for c in STATE_CASES if c.test == test]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under the state folder: what "nothing was written" means for a state
    whose warehouse cannot be opened to fingerprint (the source cache may fill; it is a cache)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*")) if path.is_file() and path.relative_to(root).parts[0] != "cache"
    }


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_line_refusal(code: int, err: str, message: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(message, lines[0], re.IGNORECASE), lines[0]


# -- item 11: a damaged warehouse, a state folder we cannot use, command lines that ask for nothing ----


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _last_quarter_cut(path: Path) -> None:
    os.truncate(path, path.stat().st_size * 3 // 4)


def _headers_only(path: Path) -> None:
    os.truncate(path, 3 * 4096)


def _random_bytes(path: Path) -> None:
    path.write_bytes(hashlib.sha512(b"not a database").digest() * 400)


def _sqlite_file(path: Path) -> None:
    import sqlite3

    path.unlink()
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE promotion_ledger (x)")
        con.commit()


WAREHOUSE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "zero-byte-warehouse": _empty,
    "half-truncated-warehouse": _half,
    "warehouse-missing-its-last-quarter": _last_quarter_cut,
    "warehouse-cut-to-its-headers": _headers_only,
    "warehouse-of-random-bytes": _random_bytes,
    "warehouse-that-is-sqlite": _sqlite_file,
}
for _name in WAREHOUSE_DAMAGE:
    case(_name, 11, "test_damaged_warehouse_is_named_not_dumped",
         r"warehouse .*warehouse\.duckdb is unreadable: .*(empty|truncated|read enough bytes|not a valid).*restore")


@pytest.mark.parametrize("case", cases_of("test_damaged_warehouse_is_named_not_dumped"), ids=lambda c: c.name)
@pytest.mark.parametrize("command", [["ledger"], ["override", "--sha", "0123456789ab", "--gate",
                                                   "check_calibration", "--reason", "r", "--until", "2030-01-01"],
                                     ["demo", "--days", "1", "--skip-training"]],
                         ids=["ledger", "override", "demo"])
def test_damaged_warehouse_is_named_not_dumped(case: StateCase, command, sensor_state, capsys):
    layout = sensor_state.layout
    WAREHOUSE_DAMAGE[case.name](layout.warehouse_path)
    before = tree_digest(layout.root)
    code, err = run_cli(["--state-dir", str(layout.root), *command], capsys)
    assert_one_line_refusal(code, err, case.message)
    assert tree_digest(layout.root) == before  # not repaired, not overwritten, nothing beside it


case("days-zero", 11, "test_pointless_command_line_is_refused", r"--days must be a whole number of at least 1, got '0'")
case("days-negative", 11, "test_pointless_command_line_is_refused", r"--days must be a whole number of at least 1, got '-2'")
case("days-not-a-number", 11, "test_pointless_command_line_is_refused", r"--days must be a whole number of at least 1, got")
case("train-days-zero", 11, "test_pointless_command_line_is_refused", r"--train-days must be a whole number of at least 1")
case("start-beyond-the-data", 11, "test_pointless_command_line_is_refused",
     r"no rows from 2031-01-01 to 2031-01-03: is --start beyond")
case("start-not-a-day", 11, "test_pointless_command_line_is_refused", r"--start must be a day as YYYY-MM-DD")
case("state-dir-is-a-file", 11, "test_pointless_command_line_is_refused", r"state folder .* is a file, not a folder")

POINTLESS_ARGV = {
    "days-zero": ["demo", "--days", "0"],
    "days-negative": ["replay", "--days", "-2"],
    "days-not-a-number": ["demo", "--days", "ten"],
    "train-days-zero": ["replay-loop", "--train-days", "0"],
    "start-beyond-the-data": ["replay", "--start", "2031-01-01", "--days", "3"],
    "start-not-a-day": ["demo", "--start", "2013-02-30"],
    "state-dir-is-a-file": ["ledger"],
}


@pytest.mark.parametrize("case", cases_of("test_pointless_command_line_is_refused"), ids=lambda c: c.name)
def test_pointless_command_line_is_refused(case: StateCase, sensor_state, capsys):
    layout = sensor_state.layout
    state_dir = layout.root
    if case.name == "state-dir-is-a-file":
        state_dir = sensor_state.tmp / "a-file"
        state_dir.write_text("not a folder")
    before = tree_digest(layout.root)
    code, err = run_cli(["--state-dir", str(state_dir), *POINTLESS_ARGV[case.name]], capsys)
    assert_one_line_refusal(code, err, case.message)
    assert tree_digest(layout.root) == before
    if case.name == "state-dir-is-a-file":
        assert state_dir.read_text() == "not a folder"


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder made read-only for this process: by permissions for a normal user, by a read-only
    bind mount for root (whom permissions do not stop)."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & ~0o222)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root without the right to mount: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


case("read-only-state-ledger", 11, "test_read_only_state_folder_is_named", r"(cannot be opened for writing|cannot write).*(read-only|permission)")
case("read-only-state-replay", 11, "test_read_only_state_folder_is_named",
     r"(cannot write|cannot be opened for writing).*(read-only|permission)")
READ_ONLY_ARGV = {"read-only-state-ledger": ["ledger"], "read-only-state-replay": ["replay", "--days", "1"]}


@pytest.mark.parametrize("case", cases_of("test_read_only_state_folder_is_named"), ids=lambda c: c.name)
def test_read_only_state_folder_is_named(case: StateCase, sensor_state, capsys):
    layout = sensor_state.layout
    before = tree_digest(layout.root)
    with read_only(layout.root):
        code, err = run_cli(["--state-dir", str(layout.root), *READ_ONLY_ARGV[case.name]], capsys)
    assert_one_line_refusal(code, err, case.message)
    assert tree_digest(layout.root) == before


# -- item 8: a write fault (a full disk) mid-ingestion --------------------------------------------------

BAD_DAY = dt.date(2024, 3, 4)


def _disk_fails_on_write(monkeypatch, after: int) -> None:
    """Every verdict write after the first ``after`` raises what DuckDB raises on a full disk."""
    import duckdb

    from mlops_assets.core import verdicts

    real, calls = verdicts.record, []

    def record(con, **kwargs):
        calls.append(kwargs["result"].check)
        if len(calls) > after:
            raise duckdb.IOException("IO Error: Could not write file \"warehouse.duckdb.wal\": disk I/O error")
        return real(con, **kwargs)

    monkeypatch.setattr(verdicts, "record", record)


for _after in (0, 2, 4):
    case(f"disk-full-after-{_after}-verdicts", 8, "test_write_fault_leaves_no_verdictless_snapshot")


@pytest.mark.parametrize("case", cases_of("test_write_fault_leaves_no_verdictless_snapshot"), ids=lambda c: c.name)
def test_write_fault_leaves_no_verdictless_snapshot(case: StateCase, sensor_state, monkeypatch):
    import duckdb

    from mlops_assets.core.warehouse import connect
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets_tests.conftest import SENSOR_FIELDS, sensor_rows, write_csv
    from mlops_assets.ingest.landing import landing_path

    layout, spec = sensor_state.layout, sensor_state.spec
    write_csv(landing_path(layout, spec, BAD_DAY), sensor_rows(BAD_DAY, 100), SENSOR_FIELDS)
    before = fingerprint(layout, SENSORS)
    with monkeypatch.context() as patched:
        _disk_fails_on_write(patched, after=int(case.name.split("-")[3]))
        with pytest.raises(duckdb.IOException, match="disk I/O error"):
            ingest_and_featurize(spec, layout, BAD_DAY)
    assert fingerprint(layout, SENSORS) == before  # no snapshot, no ingestion row, no verdict, no table
    assert leftovers(layout) == []
    # space is back: the next run ingests and judges the day as if the fault had never happened
    results = ingest_and_featurize(spec, layout, BAD_DAY)
    assert all(r.passed for r in results), [r.summary for r in results if not r.passed]
    with connect(layout.warehouse_path) as con:
        unjudged = con.execute(
            "SELECT s.day FROM raw_snapshots s WHERE NOT EXISTS (SELECT 1 FROM gate_results g "
            "WHERE g.asset = 'raw' AND g.content_hash = s.content_hash)"
        ).fetchall()
    assert unjudged == []


WAIT_SECONDS = 240  # the later runs take seconds; before the fix they waited forever

case("full-disk-through-dagster", 8, "test_full_disk_leaves_the_instance_usable")


@contextlib.contextmanager
def tiny_filesystem(folder: Path, megabytes: int):
    """A size-limited tmpfs mounted on ``folder`` (root only: a real full disk, for DuckDB, SQLite
    and Dagster alike)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited filesystem needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root without the right to mount: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


@pytest.mark.parametrize("case", cases_of("test_full_disk_leaves_the_instance_usable"), ids=lambda c: c.name)
def test_full_disk_leaves_the_instance_usable(case: StateCase, tmp_path, monkeypatch):
    """The issue's finding, for real: ingest_job on a full disk fails; once space is freed, the next
    runs in the same process succeed (no run left STARTED holding the warehouse slot) and no
    snapshot is left without its verdicts."""
    import dagster as dg

    from mlops_assets.cli.runs import run_ingestion
    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.warehouse import connect
    from mlops_assets.ingest.landing import landing_path
    from mlops_assets_tests.conftest import SENSOR_FIELDS, SENSOR_SPEC_YAML, sensor_rows, write_csv
    from mlops_assets_tests.integration.test_bad_input import write_spec

    spec = load_spec(write_spec(tmp_path / "spec", SENSOR_SPEC_YAML))
    with tiny_filesystem(tmp_path / "disk", 48) as disk:
        root = disk / "state"
        monkeypatch.setenv("MLOPS_STATE_DIR", str(root))
        monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
        layout = StateLayout.from_env().ensure()
        days = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(5)]
        for day in days:
            write_csv(landing_path(layout, spec, day), sensor_rows(day, 3000), SENSOR_FIELDS)
        assert run_ingestion(spec, days[:3]) == []
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        ballast = disk / "ballast"
        ballast.write_bytes(b"\0" * (free - 300_000))
        with contextlib.suppress(Exception):  # the fault may surface as a failed run or an exception
            assert run_ingestion(spec, days[3:4]) == [days[3]]
        ballast.unlink()
        later: list = []
        worker = threading.Thread(target=lambda: later.append(run_ingestion(spec, days[3:])), daemon=True)
        worker.start()
        worker.join(WAIT_SECONDS)
        assert later == [[]], "a run the fault left STARTED holds the warehouse slot: later runs wait forever"
        with dg.DagsterInstance.get() as instance:
            stuck = instance.get_run_ids(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert stuck == []
        with connect(layout.warehouse_path) as con:
            judged = con.execute(
                "SELECT CAST(s.day AS DATE), count(DISTINCT g.check_name) FROM raw_snapshots s LEFT JOIN gate_results g "
                "ON g.asset = 'raw' AND g.content_hash = s.content_hash GROUP BY 1 ORDER BY 1"
            ).fetchall()
        assert judged == [(day, 5) for day in days]


# -- item 3: the registry lost the champion the ledger names --------------------------------------------

PROMOTED_DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(7)]
PROMOTED_MODEL = f"{SENSORS}_failed"
# the gates are not what these cases are about: a lenient policy so that a candidate can be promoted
LENIENT_GATES = dict(min_auc=0.5, max_auc_drop_vs_champion=1.0, min_auc_lift_over_baseline=0.0,
                     max_slice_auc_drop=1.0, max_ece=1.0)
TRAIN_CONFIG = {
    SENSOR_MODEL.op("training_snapshot"): {"config": {"start_date": "2024-03-01", "end_date": "2024-03-07", "holdout_days": 2}},
    SENSOR_MODEL.op("candidate_model"): {"config": {"trials": 1, "max_rounds": 20}},
}


def point_at(monkeypatch, root: Path, tracking_uri: str | None = None) -> StateLayout:
    monkeypatch.setenv("MLOPS_STATE_DIR", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri or f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    return StateLayout.from_env().ensure()


def train_job(spec, layout: StateLayout):
    import dagster as dg

    from mlops_assets.defs.runs import QUIET_RUN_CONFIG
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.resources import GatePolicy, StateResource

    defs = build_definitions(spec, StateResource(state_dir=str(layout.root)), gate_policy=GatePolicy(**LENIENT_GATES))
    return defs.resolve_job_def(SENSOR_MODEL.train_job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, "ops": TRAIN_CONFIG},
    )


@pytest.fixture(scope="module")
def promoted_world(tmp_path_factory) -> tuple[Path, Path]:
    """Seven sensor days ingested and a champion promoted through train_job: version 1, one ledger row."""
    from mlops_assets.core.spec import load_spec
    from mlops_assets.ingest.landing import landing_path
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets_tests.conftest import SENSOR_FIELDS, SENSOR_SPEC_YAML, sensor_rows, write_csv
    from mlops_assets_tests.integration.test_bad_input import write_spec

    base = tmp_path_factory.mktemp("promoted_world")
    spec_path = write_spec(base / "spec", SENSOR_SPEC_YAML)
    spec = load_spec(spec_path)
    with pytest.MonkeyPatch.context() as mp:
        layout = point_at(mp, (base / "state").resolve())
        for day in PROMOTED_DAYS:
            write_csv(landing_path(layout, spec, day), sensor_rows(day, 600), SENSOR_FIELDS)
            assert all(r.passed for r in ingest_and_featurize(spec, layout, day))
        result = train_job(spec, layout)
        assert result.success
    return layout.root, spec_path


@dataclass
class Promoted:
    layout: StateLayout
    spec: object
    spec_path: Path

    def registry(self):
        from mlops_assets.core.registry import ModelRegistry

        return ModelRegistry(self.layout.mlflow_tracking_uri, self.layout.mlflow_artifacts_dir, PROMOTED_MODEL)

    def ledger(self):
        from mlops_assets.core.warehouse import connect
        from mlops_assets.promote import ledger

        with connect(self.layout.warehouse_path) as con:
            return ledger.entries(con, PROMOTED_MODEL)

    def cli(self, capsys, *argv: str) -> tuple[int, str]:
        return run_cli(["--state-dir", str(self.layout.root), "--spec", str(self.spec_path), *argv], capsys)


@pytest.fixture
def promoted(promoted_world, tmp_path, monkeypatch) -> Promoted:
    """This test's copy of the promoted world (its MLflow runs' artifacts stay in the original)."""
    from mlops_assets.core.spec import load_spec

    source, spec_path = promoted_world
    shutil.copytree(source, tmp_path / "state", symlinks=True)
    layout = point_at(monkeypatch, tmp_path / "state")
    return Promoted(layout, load_spec(spec_path), spec_path)


def _lose_the_store(promoted: Promoted, monkeypatch) -> None:
    shutil.rmtree(promoted.layout.mlflow_dir)


def _empty_server(promoted: Promoted, monkeypatch) -> None:
    empty = promoted.layout.root.parent / "other_mlflow"
    empty.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{empty / 'mlflow.db'}")


LOSSES = {"registry-store-deleted": _lose_the_store, "registry-pointed-at-an-empty-store": _empty_server}
for _name in LOSSES:
    case(_name, 3, "test_a_lost_registry_stops_training_before_any_gate",
         r"ledger's champion is sensors_failed version 1 .*cannot produce it.*No gate was run.*acknowledge-registry-reset")


@pytest.mark.parametrize("case", cases_of("test_a_lost_registry_stops_training_before_any_gate"), ids=lambda c: c.name)
def test_a_lost_registry_stops_training_before_any_gate(case: StateCase, promoted, monkeypatch):
    ledger_before = promoted.ledger()
    LOSSES[case.name](promoted, monkeypatch)
    before = fingerprint(promoted.layout, SENSORS)
    result = train_job(promoted.spec, promoted.layout)
    assert not result.success
    failure = result.failure_data_for_node(SENSOR_MODEL.op("candidate_evaluation"))
    assert failure is not None, "the run must stop at the evaluation, before the gates"
    chain, error = [], failure.error
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    refusal = [e for e in chain if e.cls_name == "ChampionDisagreement"]
    assert refusal, [e.cls_name for e in chain]
    assert re.search(case.message, refusal[0].message, re.DOTALL), refusal[0].message
    assert result.get_asset_check_evaluations() == []  # no gate passed "by rule"
    assert promoted.ledger() == ledger_before
    assert promoted.registry().champion() is None
    assert fingerprint(promoted.layout, SENSORS) == before


case("reset-acknowledged-then-trained", 3, "test_an_acknowledged_reset_lets_a_new_first_champion_in")


@pytest.mark.parametrize("case", cases_of("test_an_acknowledged_reset_lets_a_new_first_champion_in"), ids=lambda c: c.name)
def test_an_acknowledged_reset_lets_a_new_first_champion_in(case: StateCase, promoted, monkeypatch, capsys):
    _lose_the_store(promoted, monkeypatch)
    code, err = promoted.cli(capsys, "acknowledge-registry-reset", "--operator", "ana",
                             "--reason", "the MLflow disk died; no backup")
    assert code == 0, err
    result = train_job(promoted.spec, promoted.layout)
    assert result.success
    rows = promoted.ledger()
    assert [(r.action, r.from_version, r.to_version) for r in rows] == [
        ("promote", None, "1"), ("registry_reset", "1", ""), ("promote", None, "1")]
    assert rows[1].operator == "ana" and "the MLflow disk died" in rows[1].reason
    assert promoted.registry().champion().version == "1"
    code, err = promoted.cli(capsys, "acknowledge-registry-reset", "--reason", "again")
    assert code == 2 and "there is no reset to acknowledge" in err  # they agree again


def _reuse_the_number(promoted: Promoted, monkeypatch) -> None:
    """A fresh store whose version 1 (the champion) is another model."""
    held = promoted.registry().champion()
    _empty_server(promoted, monkeypatch)
    registry = promoted.registry()
    version = registry.register(run_id=None, model_uri=str(promoted.layout.root / "models"), description="",
                                tags={**held.tags, "model_sha256": "f" * 64})
    registry.set_alias("champion", version)


def _drop_the_alias(promoted: Promoted, monkeypatch) -> None:
    registry = promoted.registry()
    registry.client.delete_registered_model_alias(PROMOTED_MODEL, "champion")


def _unreachable(promoted: Promoted, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")


DISAGREEMENTS = {
    "version-number-reused-by-another-model": (_reuse_the_number, r"version 1 is model ffffffffffff.*a different model"),
    "champion-alias-removed": (_drop_the_alias, r"the registry has no `champion` alias"),
    "registry-unreachable": (_unreachable, r"registry at http://127\.0\.0\.1:9 cannot produce it"),
    "registry-pointed-at-an-empty-store-before-promotion": (_empty_server, r"cannot produce it"),
}
for _name, (_, _message) in DISAGREEMENTS.items():
    case(_name, 3, "test_promotion_and_rollback_refuse_a_registry_that_disagrees", _message)


@pytest.mark.parametrize("case", cases_of("test_promotion_and_rollback_refuse_a_registry_that_disagrees"),
                         ids=lambda c: c.name)
def test_promotion_and_rollback_refuse_a_registry_that_disagrees(case: StateCase, promoted, monkeypatch, capsys):
    from mlops_assets.core.warehouse import connect
    from mlops_assets.promote.agreement import ChampionDisagreement, check_agreement
    from mlops_assets.promote.promotion import promote
    from mlops_assets.promote.rollback import RollbackRefused, rollback

    ledger_before = promoted.ledger()
    breaks, message = DISAGREEMENTS[case.name]
    breaks(promoted, monkeypatch)
    before = fingerprint(promoted.layout, SENSORS)
    registry = promoted.registry()
    with connect(promoted.layout.warehouse_path) as con, pytest.raises(ChampionDisagreement, match=message):
        check_agreement(con, PROMOTED_MODEL, registry)
    candidate = {"model_sha256": "e" * 64, "snapshot_hash": "s", "mlflow_run_id": "r", "threshold": 0.5}
    with pytest.raises(ChampionDisagreement, match=message):
        promote(spec=promoted.spec, layout=promoted.layout, registry=registry, candidate=candidate, card={},
                dagster_run_id="test", operator="test")
    with pytest.raises(RollbackRefused, match=message):
        rollback(spec=promoted.spec, layout=promoted.layout, registry=registry, operator="ana", reason="r",
                 to_version="1")
    assert promoted.ledger() == ledger_before
    assert fingerprint(promoted.layout, SENSORS) == before


case("registry-ahead-of-the-ledger", 3, "test_a_registry_ahead_of_the_ledger_is_not_a_disagreement")


@pytest.mark.parametrize("case", cases_of("test_a_registry_ahead_of_the_ledger_is_not_a_disagreement"),
                         ids=lambda c: c.name)
def test_a_registry_ahead_of_the_ledger_is_not_a_disagreement(case: StateCase, promoted):
    """A promotion that moved the alias and died before its ledger row: promotion writes the row
    when the run is repeated, so this must not stop it."""
    from mlops_assets.core.warehouse import connect
    from mlops_assets.promote.agreement import disagreement

    registry = promoted.registry()
    held = registry.champion()
    ahead = registry.register(run_id=None, model_uri=str(promoted.layout.root / "models"), tags=held.tags,
                              description="")
    registry.set_alias("champion", ahead)
    with connect(promoted.layout.warehouse_path) as con:
        assert disagreement(con, PROMOTED_MODEL, registry) is None


case("acknowledge-without-reason", 11, "test_acknowledging_a_reset_is_deliberate", r"--reason")
case("acknowledge-when-they-agree", 11, "test_acknowledging_a_reset_is_deliberate",
     r"agree on the champion: there is no reset to acknowledge")
ACKNOWLEDGE_ARGV = {"acknowledge-without-reason": [], "acknowledge-when-they-agree": ["--reason", "why not"]}


@pytest.mark.parametrize("case", cases_of("test_acknowledging_a_reset_is_deliberate"), ids=lambda c: c.name)
def test_acknowledging_a_reset_is_deliberate(case: StateCase, promoted, capsys):
    ledger_before = promoted.ledger()
    code, err = promoted.cli(capsys, "acknowledge-registry-reset", *ACKNOWLEDGE_ARGV[case.name])
    assert_one_line_refusal(code, err, case.message)
    assert promoted.ledger() == ledger_before


# -- item 5: the spec was edited after its days were judged ---------------------------------------------

TWO_SITE_DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 8)]  # landed with only north and south readings
TIGHTER_SITES = ("site: {type: string, allowed: [north, south, east], max_null_rate: 0}",
                 "site: {type: string, allowed: [north, south], max_null_rate: 0}")


def _two_site_rows(day: dt.date) -> list[dict]:
    from mlops_assets_tests.conftest import sensor_rows

    rows = sensor_rows(day, 150)
    for row in rows:
        row["site"] = "north" if row["site"] == "east" else row["site"]
    return rows


@pytest.fixture
def two_site_state(sensor_state) -> object:
    """The bad-input world's six days plus two days without an east reading, all judged under the
    original spec (sites north, south, east)."""
    from mlops_assets.ingest.landing import landing_path
    from mlops_assets.pipeline.ingest_day import ingest_and_featurize
    from mlops_assets_tests.conftest import SENSOR_FIELDS, write_csv

    for day in TWO_SITE_DAYS:
        write_csv(landing_path(sensor_state.layout, sensor_state.spec, day), _two_site_rows(day), SENSOR_FIELDS)
        assert all(r.passed for r in ingest_and_featurize(sensor_state.spec, sensor_state.layout, day))
    return sensor_state


def _training_rows(layout: StateLayout, snapshot) -> list[tuple]:
    from mlops_assets.core.warehouse import connect

    with connect(layout.warehouse_path) as con:
        return con.execute(f"SELECT DISTINCT site FROM {snapshot.qualified_table} ORDER BY 1").fetchall()


case("allowed-values-tightened", 5, "test_training_uses_only_days_judged_under_the_current_spec",
     r"check_schema.*site.*east")


@pytest.mark.parametrize("case", cases_of("test_training_uses_only_days_judged_under_the_current_spec"),
                         ids=lambda c: c.name)
def test_training_uses_only_days_judged_under_the_current_spec(case: StateCase, two_site_state):
    from mlops_assets.train.snapshot import build_training_snapshot
    from mlops_assets.train.window import TrainingWindow
    from mlops_assets_tests.integration.test_bad_input import sensor_spec_text

    world = two_site_state
    world.respec(sensor_spec_text(**{TIGHTER_SITES[0]: TIGHTER_SITES[1]}))
    snapshot = build_training_snapshot(world.spec, world.layout, TrainingWindow(min_days=2, holdout_days=0))
    assert sorted(snapshot.days) == [d.isoformat() for d in TWO_SITE_DAYS]
    assert _training_rows(world.layout, snapshot) == [("north",), ("south",)]  # no row the spec forbids
    assert sorted(snapshot.refused_days) == [d.isoformat() for d in GOOD_DAYS]
    for why in snapshot.refused_days.values():
        assert re.search(case.message, why, re.DOTALL), why
    assert sorted(snapshot.rejudged_days) == [d.isoformat() for d in TWO_SITE_DAYS]
    # judged once: the next window finds their current verdicts, refuses the same days, re-judges none
    again = build_training_snapshot(world.spec, world.layout, TrainingWindow(min_days=2, holdout_days=0))
    assert again.content_hash == snapshot.content_hash and again.rejudged_days == {}
    assert again.refused_days == snapshot.refused_days
    assert sorted(again.skipped_days) == [d.isoformat() for d in GOOD_DAYS]


case("tightened-until-too-few-days", 5, "test_a_window_the_current_spec_refuses_names_its_days",
     r"only 0 day\(s\).*refused under the current spec: 2024-03-01 fails the current spec's data gates: "
     r"check_schema: .*site.*east")


@pytest.mark.parametrize("case", cases_of("test_a_window_the_current_spec_refuses_names_its_days"),
                         ids=lambda c: c.name)
def test_a_window_the_current_spec_refuses_names_its_days(case: StateCase, sensor_state):
    from mlops_assets.train.snapshot import build_training_snapshot
    from mlops_assets.train.window import TrainingDataError, TrainingWindow
    from mlops_assets_tests.integration.test_bad_input import sensor_spec_text

    world = sensor_state
    features_before = {k: v for k, v in fingerprint(world.layout, SENSORS).items() if k.startswith("features:")}
    world.respec(sensor_spec_text(**{TIGHTER_SITES[0]: TIGHTER_SITES[1]}))
    with pytest.raises(TrainingDataError) as raised:
        build_training_snapshot(world.spec, world.layout, TrainingWindow())
    assert re.search(case.message, str(raised.value), re.DOTALL), str(raised.value)
    after = fingerprint(world.layout, SENSORS)
    assert {k: v for k, v in after.items() if k.startswith("features:")} == features_before
    assert after.get("training_snapshots", []) == []


case("spec-loosened", 5, "test_a_looser_spec_rejudges_and_keeps_every_day")
case("null-ceiling-raised", 5, "test_a_looser_spec_rejudges_and_keeps_every_day")
LOOSER = {
    "spec-loosened": ("reading: {type: float, min: -50, max: 150, max_null_rate: 0.1}",
                      "reading: {type: float, min: -100, max: 200, max_null_rate: 0.1}"),
    "null-ceiling-raised": ("reading: {type: float, min: -50, max: 150, max_null_rate: 0.1}",
                            "reading: {type: float, min: -50, max: 150, max_null_rate: 0.2}"),
}


@pytest.mark.parametrize("case", cases_of("test_a_looser_spec_rejudges_and_keeps_every_day"), ids=lambda c: c.name)
def test_a_looser_spec_rejudges_and_keeps_every_day(case: StateCase, sensor_state):
    from mlops_assets.train.snapshot import build_training_snapshot
    from mlops_assets.train.window import TrainingWindow
    from mlops_assets_tests.integration.test_bad_input import sensor_spec_text

    world = sensor_state
    unchanged = build_training_snapshot(world.spec, world.layout, TrainingWindow(holdout_days=0))
    assert unchanged.rejudged_days == {} and unchanged.refused_days == {}  # judged under these very rules
    old, new = LOOSER[case.name]
    world.respec(sensor_spec_text(**{old: new}))
    snapshot = build_training_snapshot(world.spec, world.layout, TrainingWindow(holdout_days=0))
    assert sorted(snapshot.rejudged_days) == [d.isoformat() for d in GOOD_DAYS]
    assert snapshot.refused_days == {}
    assert sorted(snapshot.days) == [d.isoformat() for d in GOOD_DAYS]
    assert snapshot.content_hash == unchanged.content_hash  # same rows: re-judging changed no data


def test_the_corpus_is_large_and_named_uniquely():
    names = [c.name for c in STATE_CASES]
    assert len(names) == len(set(names))
    assert len(STATE_CASES) >= 15
    assert {c.item for c in STATE_CASES} == {3, 5, 8, 11}
