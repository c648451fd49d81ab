"""Every import of a platform name resolves, including the ones inside functions (heavy libraries
load lazily, so a moved name would otherwise fail only when that code path first runs)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def platform_imports():
    for folder in ("mlops_assets", "mlops_assets_tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlops_assets"):
                    for alias in node.names:
                        yield f"{path.relative_to(ROOT)}:{node.lineno}", node.module, alias.name


def test_every_platform_import_resolves():
    missing = []
    for where, module_name, name in platform_imports():
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{where}: {module_name} has no {name}")
    assert not missing, "\n".join(missing)

