"""Importing the definitions module must cost at most 1.3x a bare `import dagster`.

Fresh interpreters, alternating the two so drift on a shared machine hits both equally.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, table, timed_subprocess  # noqa: E402

TARGET_RATIO = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output")
    args = parser.parse_args()
    timed_subprocess("import dagster")  # warm the filesystem cache for both
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(timed_subprocess("import dagster")[0])
        ours.append(timed_subprocess("import mlops_assets.definitions")[0])
    ratio = median(ours) / median(bare)
    rows = [
        ["import dagster", f"{median(bare):.2f} s", "1.00", ""],
        ["import mlops_assets.definitions", f"{median(ours):.2f} s", f"{ratio:.2f}",
         f"<= {TARGET_RATIO} {'met' if ratio <= TARGET_RATIO else 'MISSED'}"],
    ]
    emit(f"### Definitions import ({args.repeats} runs each; {machine()})\n\n"
         + table(rows, ["what", "median", "ratio", "target"]), args.output)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
