"""Shared helpers: medians, peak RSS of child processes, markdown tables, machine facts."""

from __future__ import annotations

import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib.metadata import version


def machine() -> str:
    import os

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"dagster {version('dagster')}, duckdb {version('duckdb')}, xgboost {version('xgboost')}, "
            f"mlflow {version('mlflow')}")


def timed_subprocess(code: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of a fresh Python running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
    elapsed = time.perf_counter() - started
    return elapsed, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def emit(text: str, output: str | None) -> None:
    print(text)
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(text + "\n\n")
