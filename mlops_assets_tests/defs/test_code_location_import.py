"""What importing the code location costs beyond Dagster itself (the import benchmark's target):
no template engine or TOML parser, none of the libraries only runs need, and Dagster's objects out
of the garbage collector's reach before the build (so no full collection walks them, whatever the
number of models); and the component tree is the one pyproject.toml declares for `dg`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import dagster
dagster_objects = len(gc.get_objects())
before = set(sys.modules)
import mlops_assets.definitions
print(json.dumps({"dagster_objects": dagster_objects, "frozen": gc.get_freeze_count(),
                  "new_modules": sorted(set(sys.modules) - before)}))
"""


def probe() -> dict:
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", PROBE], capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_the_import_loads_no_template_engine_or_toml_parser_and_walks_no_dagster_objects():
    seen = probe()
    libraries = {name.split(".")[0] for name in seen["new_modules"]}
    assert not libraries & {"jinja2", "tomlkit", "pandas", "numpy", "duckdb", "mlflow", "xgboost", "evidently"}
    assert seen["frozen"] >= 0.95 * seen["dagster_objects"] > 50_000  # some die before the freeze


def test_the_component_tree_is_the_one_pyproject_declares_for_dg():
    from mlops_assets.definitions import CODE_LOCATION_NAME, MODELS_MODULE, _project_models

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert (project["defs_module"], project["code_location_name"]) == (MODELS_MODULE, CODE_LOCATION_NAME)
    tree = _project_models()[0].component_tree
    assert tree.defs_module.__name__ == MODELS_MODULE and tree.project_root == PROJECT_ROOT
