"""A throwaway PostgreSQL server on 127.0.0.1 for benchmarks that measure a Postgres-backed Dagster
instance (the platform's scaled-out configuration). Started in a temporary folder, stopped and
deleted on exit. PostgreSQL refuses to run as root, so as root the server runs as ``postgres``."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"PostgreSQL's {name} was not found (install the postgresql package)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Yield the URL of a fresh, empty database; the server and its files are gone afterwards."""
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, _binary("initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, _binary("pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log"),
                        "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"], check=True, capture_output=True)
        try:
            subprocess.run([*as_user, _binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "dagster"],
                           check=True, capture_output=True)
            yield f"postgresql+psycopg2://bench@127.0.0.1:{port}/dagster"  # sqlalchemy 2.1 defaults to psycopg 3
        finally:
            subprocess.run([*as_user, _binary("pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
