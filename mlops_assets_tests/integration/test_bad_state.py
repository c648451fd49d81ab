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

from mlops_assets.cli import main as cli
from mlops_assets.core.paths import StateLayout
from mlops_assets_tests.integration.test_bad_input import (  # noqa: F401 - fixtures used by name
    GOOD_DAYS, SENSORS, champion_store, copy_state, fingerprint, leftovers, sensor_state, sensor_world,
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


def _last_block_cut(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 4096)


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
    "warehouse-missing-its-last-block": _last_block_cut,
    "warehouse-cut-to-its-headers": _headers_only,
    "warehouse-of-random-bytes": _random_bytes,
    "warehouse-that-is-sqlite": _sqlite_file,
}
for _name in WAREHOUSE_DAMAGE:
    case(_name, 11, "test_damaged_warehouse_is_named_not_dumped",
         r"warehouse .*warehouse\.duckdb is unreadable: .*(empty|truncated|read enough bytes|not a valid).*restore")


@pytest.mark.parametrize("case", cases_of("test_damaged_warehouse_is_named_not_dumped"), ids=lambda c: c.name)
@pytest.mark.parametrize("command", [["ledger"], ["override", "--model", "0123456789ab", "--gate",
                                                   "check_calibration", "--reason", "r", "--until", "2030-01-01"]],
                         ids=["ledger", "override"])
def test_damaged_warehouse_is_named_not_dumped(case: StateCase, command, sensor_state, capsys):
    layout = sensor_state.layout
    WAREHOUSE_DAMAGE[case.name](layout.warehouse_path)
    before = tree_digest(layout.root)
    code, err = run_cli(["--state-dir", str(layout.root), *command], capsys)
    assert_one_line_refusal(code, err, case.message)
    assert tree_digest(layout.root) == before  # not repaired, not overwritten, nothing beside it


case("days-zero", 11, "test_pointless_command_line_is_refused", r"--days: must be at least 1 day, got 0")
case("days-negative", 11, "test_pointless_command_line_is_refused", r"--days: must be at least 1 day, got -2")
case("days-not-a-number", 11, "test_pointless_command_line_is_refused", r"--days: expected a whole number")
case("train-days-zero", 11, "test_pointless_command_line_is_refused", r"--train-days: must be at least 1")
case("start-beyond-the-data", 11, "test_pointless_command_line_is_refused",
     r"no rows from 2031-01-01 to 2031-01-03: is --start beyond")
case("start-not-a-day", 11, "test_pointless_command_line_is_refused", r"--start: expected a day as YYYY-MM-DD")
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
case("read-only-state-replay", 11, "test_read_only_state_folder_is_named", r"cannot write .*(read-only|permission)")
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

    from mlops_assets.cli.main import run_ingestion
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
                "SELECT s.day, count(DISTINCT g.check_name) FROM raw_snapshots s LEFT JOIN gate_results g "
                "ON g.asset = 'raw' AND g.content_hash = s.content_hash GROUP BY 1 ORDER BY 1"
            ).fetchall()
        assert judged == [(day, 5) for day in days]
