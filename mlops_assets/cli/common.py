"""What every command shares: the refusal type, argument types, and the state and spec a command runs on."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from mlops_assets.core.paths import StateLayout


class UsageError(RuntimeError):
    """A command line that cannot be run as given; the message names the argument."""


def whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, got {text!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, got {text!r}")
        return number

    return parse


positive_days = whole_number(1)


def day(text: str) -> dt.date | dt.datetime:
    """A day (``YYYY-MM-DD``) or a local hour (``YYYY-MM-DDTHH``, ``YYYY-MM-DDTHH:MM``, or an hourly
    partition key); a command takes the partition of its dataset's grain that holds it."""
    from mlops_assets.core.grain import GRAINS, GrainError

    try:
        return GRAINS["hourly"].parse_moment(text)
    except GrainError:
        raise argparse.ArgumentTypeError(
            f"must be a day as YYYY-MM-DD or an hour as YYYY-MM-DDTHH, got {text!r}") from None


def state_layout(args) -> StateLayout:
    if args.state_dir:
        os.environ["MLOPS_STATE_DIR"] = str(Path(args.state_dir).expanduser().resolve())
    from mlops_assets.defs.instance import prepare

    layout = prepare(StateLayout.from_env())
    for key, value in layout.environment().items():
        os.environ.setdefault(key, value)
    if layout.warehouse_path.exists():
        from mlops_assets.core.warehouse import connect

        # a damaged warehouse or a read-only state is refused here, in one line, before any run
        # starts and fails on it step by step
        with connect(layout.warehouse_path):
            pass
    return layout


def dataset_spec(args):
    from mlops_assets.core.spec import SPEC_ENV, load_spec

    if args.spec:
        os.environ[SPEC_ENV] = str(Path(args.spec).resolve()) if Path(args.spec).exists() else args.spec
    return load_spec(args.spec)


def model_spec(args):
    """The model a command acts on, and whether it is one of the project's (``defs/models/``):
    ``--model`` names one; without it, the spec's own model (``--spec``, MLOPS_DATASET_SPEC or the
    built-in), which is the project's model when the project holds one of that name on that
    dataset, so that its YAML policies apply."""
    from mlops_assets.core.spec import SPEC_ENV
    from mlops_assets.definitions import project_models

    if args.model:
        models = project_models()
        if args.model not in models:
            raise UsageError(f"--model {args.model} is not a model of this project (its models: "
                             f"{', '.join(sorted(models)) or 'none'}; add one with "
                             "`dg scaffold defs mlops_assets.ModelLifecycle <name>`)")
        return models[args.model], True
    named_spec = args.spec or os.environ.get(SPEC_ENV)
    spec = dataset_spec(args)
    if not named_spec:
        project = project_models().get(spec.model.name)
        if project is not None and project.name == spec.name:
            return project, True
    return spec, False


def model_target(args):
    """(the model's spec, the Dagster definitions that hold it) for a command that runs its jobs."""
    from mlops_assets.definitions import build_definitions, project_definitions

    spec, in_project = model_spec(args)
    return spec, project_definitions() if in_project else build_definitions(spec)
