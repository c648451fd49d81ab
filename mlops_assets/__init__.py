"""mlops_assets: a governed ML lifecycle on Dagster.

``mlops_assets.ModelLifecycle`` is the component a model of the project is an instance of; it is
loaded on first use so that importing the package (the CLI, the plain modules) does not import
Dagster.

xgboost's OpenMP threads (libgomp) spin for about 300,000 iterations before sleeping whenever they
wait for each other, and a boosting round waits many times. When another process holds one of the
cores (the Dagster daemon, a sensor, another run, a test suite), a spinning thread burns the time
slice its partner needs: on 2 cores under load a round took 6-9x longer (benchmarks/results.md,
"Training profile"). A passive policy makes them sleep at once; the computation, and so every model,
is the same. libgomp reads the variable only when it is first loaded, so it is set here, before any
module of the platform imports xgboost; a value the user set wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_COMPONENTS = {"ModelLifecycle": "mlops_assets.defs.lifecycle"}


def __getattr__(name: str):
    if name in _COMPONENTS:
        import importlib

        return getattr(importlib.import_module(_COMPONENTS[name]), name)
    raise AttributeError(f"module 'mlops_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_COMPONENTS])
