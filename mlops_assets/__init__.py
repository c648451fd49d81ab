"""mlops_assets: a Dagster asset-based data and model platform.

``mlops_assets.ModelLifecycle`` is the component a model of the project is an instance of; it is
loaded on first use so that importing the package (the CLI, the plain modules) does not import
Dagster.
"""

_COMPONENTS = {"ModelLifecycle": "mlops_assets.defs.lifecycle"}


def __getattr__(name: str):
    if name in _COMPONENTS:
        import importlib

        return getattr(importlib.import_module(_COMPONENTS[name]), name)
    raise AttributeError(f"module 'mlops_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_COMPONENTS])
