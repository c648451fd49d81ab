"""Importing the definitions module must cost at most 1.3x a bare `import dagster`.

Fresh interpreters, alternating the two so drift on a shared machine hits both equally; medians.
The target is judged on the time until the import is done: the child stamps CLOCK_MONOTONIC (which
``time.perf_counter`` reads, system-wide on Linux) right after its import and the parent subtracts
its own stamp taken before starting it. The whole process (interpreter exit included) and the CPU
seconds are reported beside it: exit tears down every object the import made, and the code location
freezes Dagster's objects out of the garbage collector's reach, which also makes its exit cheaper
than a bare `import dagster`'s, so the whole-process ratio flatters it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table  # noqa: E402

TARGET_RATIO = 1.3
CHILD = "import {module}\nimport sys, time\nsys.stdout.write(f'{{time.perf_counter()}} {{time.process_time()}}')"


def timed_import(module: str) -> tuple[float, float, float, float]:
    """Seconds until ``import module`` is done in a fresh Python, and until it exits; CPU seconds of
    both."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD.format(module=module)], check=True,
                          capture_output=True, text=True)
    exited = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    imported, cpu_imported = map(float, done.stdout.split())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return imported - started, exited - started, cpu_imported, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--output")
    args = parser.parse_args()
    timed_import("dagster")  # warm the filesystem cache and write both bytecode caches
    timed_import("mlops_assets.definitions")
    load_before = os.getloadavg()
    runs: dict[str, list[tuple[float, ...]]] = {"dagster": [], "mlops_assets.definitions": []}
    for _ in range(args.repeats):
        for module, times in runs.items():
            times.append(timed_import(module))
    load_after = os.getloadavg()
    medians = {module: [median([run[i] for run in times]) for i in range(4)] for module, times in runs.items()}
    bare, ours = medians["dagster"], medians["mlops_assets.definitions"]
    ratio = ours[0] / bare[0]
    rows = [
        [f"import {module}", *(f"{value:.2f} s ({value / bare[i]:.2f})" for i, value in enumerate(values)),
         "" if module == "dagster" else f"<= {TARGET_RATIO} {'met' if ratio <= TARGET_RATIO else 'MISSED'}"]
        for module, values in medians.items()
    ]
    emit(f"### Definitions import ({args.repeats} runs each, alternating; {machine()}; load average before "
         f"{' '.join(f'{v:.1f}' for v in load_before)}, after {' '.join(f'{v:.1f}' for v in load_after)})\n\n"
         + table(rows, ["what (ratio to bare dagster)", "import done: wall", "whole process: wall", "import done: CPU",
                        "whole process: CPU", "target (import done, wall)"]), args.output)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
