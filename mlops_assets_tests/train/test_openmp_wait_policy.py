"""The platform makes xgboost's OpenMP threads sleep, not spin, when they wait (mlops_assets/__init__)."""

from __future__ import annotations

import os
import subprocess
import sys

LOAD_XGBOOST = "import mlops_assets.definitions, mlops_assets.train.model, xgboost"


def _openmp_environment(code: str, **environment: str) -> str:
    """libgomp's own report of its settings (OMP_DISPLAY_ENV) in a fresh Python running ``code``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env |= {"OMP_DISPLAY_ENV": "verbose", **environment}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stderr


def test_xgboost_threads_wait_passively_once_the_platform_is_imported():
    report = _openmp_environment(LOAD_XGBOOST)
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in report
    assert "GOMP_SPINCOUNT = '0'" in report  # libgomp's default without the platform: 300000 spins


def test_a_wait_policy_the_user_set_is_kept():
    report = _openmp_environment(LOAD_XGBOOST, OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in report
