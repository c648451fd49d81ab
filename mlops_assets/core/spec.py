"""The dataset spec: a user's data is configuration, not code.

A spec (YAML) names where the data comes from, its timestamp and entity key, the target rule, the
raw columns with their types and allowed values (these drive the data gates), the features (raw
columns, columns computed by optional feature SQL, and point-in-time trailing rates), the
outcome-side columns that must never become features, and the text the model card needs.

Each section is its own pydantic model (``core.spec_sections``); ``DatasetSpec`` here assembles
them and derives what the builders read. A spec is validated completely before anything runs: first
its shape (pydantic), then its
meaning (every name resolves, no forbidden column feeds a feature: ``core.spec_checks``), then its SQL
(DuckDB parses and binds the targets and feature SQL against empty tables of the declared types:
``core.spec_sql``). Every error names the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from mlops_assets.core.grain import Grain
from mlops_assets.core.spec_sections import (
    TASK_TARGET_TYPE, ColumnSpec, FeatureSpec, LabelFeed, ModelSection, PartitionSpec, QualitySpec, ReferenceTable,
    SourceSpec, TargetSpec, TimestampSpec, TrailingRate, Window, _Strict,
)

SPEC_ENV = "MLOPS_DATASET_SPEC"
BUILTIN_SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
DEFAULT_SPEC_NAME = "nycflights"
# the partition's first day (a year's 1 January, a week's Monday); named for the daily grain it began with
DAY_COLUMN = "_day"


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names every offending field."""


class DatasetSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str = ""
    source: SourceSpec = Field(default_factory=SourceSpec)
    timestamp: TimestampSpec
    partitions: PartitionSpec
    entity_key: list[str] = Field(min_length=1)
    entity_key_scope: Literal["dataset", "partition"] = Field(
        default="dataset",
        description="dataset: a key appears once in the whole dataset (no other day may hold it); "
        "partition: once per day, the same key may come back on another day",
    )
    targets: list[TargetSpec] = Field(
        min_length=1, description="the outcomes models can learn; `target:` (one mapping) is the same as a list of one"
    )
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    reference_tables: dict[str, ReferenceTable] = Field(default_factory=dict)
    feature_sql: str | None = None
    features: dict[str, FeatureSpec] = Field(min_length=1)
    trailing_rates: list[TrailingRate] = Field(default_factory=list)
    forbidden_columns: list[str] = Field(default_factory=list)
    labels: LabelFeed | None = Field(
        default=None, description="outcomes arriving as their own feed; absent: they arrive in the same "
        "files as the rows (every ingested row is labelled at once)"
    )
    slices: list[str] = Field(default_factory=list)
    quality: QualitySpec = Field(default_factory=QualitySpec)
    intended_use: str = Field(min_length=1)
    limitations: list[str] = Field(min_length=1)
    base_dir: Path | None = Field(default=None, exclude=True)
    _model: ModelSection | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _one_target_is_a_list_of_one(cls, document: Any) -> Any:
        if isinstance(document, dict) and "target" in document:
            if "targets" in document:
                raise ValueError("give either target or targets, not both")
            document = {**document, "targets": [document["target"]]}
            del document["target"]
        return document

    @model_validator(mode="after")
    def _names_resolve(self) -> "DatasetSpec":
        from mlops_assets.core.spec_checks import semantic_problems

        problems = semantic_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- the model trained on it ------------------------------------------------------------------

    @property
    def model(self) -> ModelSection:
        if self._model is not None:
            return self._model
        first = self.targets[0]
        return ModelSection(name=f"{self.name}_{first.name}", target=first.name, task=first.default_task)

    @property
    def target(self) -> TargetSpec:
        """The model's target (the dataset's first one when no model is named)."""
        wanted = self.model.target
        return next(target for target in self.targets if target.name == wanted)

    def target_named(self, name: str) -> TargetSpec:
        return next(target for target in self.targets if target.name == name)

    def for_model(self, model: ModelSection) -> "DatasetSpec":
        """This dataset as seen by one model: ``model`` and ``target`` are that model's."""
        names = [target.name for target in self.targets]
        if model.target not in names:
            raise SpecError(f"model {model.name}: target {model.target!r} is not one of the dataset "
                            f"{self.name}'s targets ({', '.join(names)})")
        target = self.target_named(model.target)
        if TASK_TARGET_TYPE[model.task] != target.type:
            raise SpecError(
                f"model {model.name}: a {model.task} model needs a {TASK_TARGET_TYPE[model.task]} target, "
                f"but {target.name!r} is {target.type}"
            )
        copy = self.model_copy()
        copy._model = model
        return copy

    def rate_target(self, rate: TrailingRate) -> TargetSpec:
        return self.target_named(rate.target) if rate.target else self.targets[0]

    # -- derived views used by the builders -----------------------------------------------------

    @property
    def raw_asset_name(self) -> str:
        return f"raw_{self.name}"

    @property
    def features_asset_name(self) -> str:
        return f"{self.name}_features"

    @property
    def trailing_rate_names(self) -> list[str]:
        return [rate.name for rate in self.trailing_rates]

    @property
    def sql_feature_names(self) -> list[str]:
        """Features computed by feature SQL: declared, and neither raw nor trailing."""
        return [
            name
            for name in self.features
            if name not in self.columns and name not in self.trailing_rate_names
        ]

    @property
    def passthrough_columns(self) -> list[str]:
        """Raw columns carried into the feature table: key, timestamp, slices, raw features."""
        ordered: list[str] = []
        for name in [*self.entity_key, *self.timestamp_columns, *self.slices, *self.features]:
            if name in self.columns and name not in ordered:
                ordered.append(name)
        return ordered

    @property
    def grain(self) -> Grain:
        return self.partitions.grain_rules

    def partitions_in(self, window: Window) -> int:
        """A window of this spec in whole partitions of its grain (``core.grain``)."""
        return self.grain.partitions_in(window)

    @property
    def max_trailing_partitions(self) -> int:
        return max((self.partitions_in(rate.span) for rate in self.trailing_rates), default=0)

    @property
    def label_columns(self) -> list[str]:
        """Columns that arrive in label files rather than with the rows (none without a label feed)."""
        return list(self.labels.columns) if self.labels else []

    @property
    def input_columns(self) -> dict[str, ColumnSpec]:
        """The columns a landing file of rows carries: all of them, but the label feed's."""
        outcomes = set(self.label_columns)
        return {name: rules for name, rules in self.columns.items() if name not in outcomes}

    @property
    def label_delay_partitions(self) -> int:
        return self.partitions_in(self.labels.delay) if self.labels else 0

    @property
    def timestamp_columns(self) -> list[str]:
        """The raw column the partition timestamp is read from (none when it is derived)."""
        return [self.timestamp.column] if self.timestamp.column else []

    def max_null_rate(self, column: str) -> float:
        rules = self.columns[column]
        if rules.max_null_rate is not None:
            return rules.max_null_rate
        return self.quality.default_max_null_rate

    def resolve_path(self, path: str) -> Path:
        from mlops_assets.ingest.sources import resolve_builtin_path

        if path.startswith("builtin:"):
            return resolve_builtin_path(path.removeprefix("builtin:"))
        candidate = Path(path).expanduser()
        if not candidate.is_absolute() and self.base_dir is not None:
            candidate = self.base_dir / candidate
        return candidate


# -- loading ---------------------------------------------------------------------------------------


UNSET_SECTIONS_LEFT_OUT = ("labels",)


def sections_digest(spec: DatasetSpec, sections: set[str]) -> str:
    """A short sha256 of some sections of the spec: code versions and verdicts name the rules they
    were made under with it, so editing those sections makes them stale."""
    from mlops_assets.core.hashing import json_sha256

    dumped = spec.model_dump(mode="json", include=sections)
    for section in UNSET_SECTIONS_LEFT_OUT:  # so verdicts recorded before the section existed keep their fingerprint
        if dumped.get(section, ...) is None:
            del dumped[section]
    return json_sha256(dumped)[:10]


def load_spec(source: str | os.PathLike | None = None, *, check_sql: bool = True) -> DatasetSpec:
    """Load and fully validate a spec: a path, a built-in name, or ``MLOPS_DATASET_SPEC``/default."""
    location = source if source is not None else os.environ.get(SPEC_ENV) or DEFAULT_SPEC_NAME
    path = Path(location)
    if not path.suffix and (BUILTIN_SPECS_DIR / f"{location}.yaml").exists():
        path = BUILTIN_SPECS_DIR / f"{location}.yaml"
    if not path.exists():
        raise SpecError(f"dataset spec {str(location)!r} not found (a path or a built-in name)")
    try:
        # libyaml's parser where the wheel has it: the pure-Python one costs ~0.2 s per spec, paid
        # by every import of the code location
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from error
    return spec_from_dict(document, base_dir=path.parent, origin=str(path), check_sql=check_sql)


def spec_from_dict(
    document: Any, *, base_dir: Path | None = None, origin: str = "spec", check_sql: bool = True
) -> DatasetSpec:
    if not isinstance(document, dict):
        raise SpecError(f"{origin}: a dataset spec must be a mapping, got {type(document).__name__}")
    try:
        spec = DatasetSpec.model_validate({**document, "base_dir": base_dir})
    except ValidationError as error:
        raise SpecError(f"{origin}: invalid dataset spec:\n" + _format_errors(error)) from None
    if check_sql:
        from mlops_assets.core.spec_sql import sql_problems

        problems = sql_problems(spec)
        if problems:
            raise SpecError(f"{origin}: invalid dataset spec:\n" + "\n".join(f"  - {p}" for p in problems))
    return spec


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        lines.append(f"  - {location + ': ' if location else ''}{message}")
    return "\n".join(lines)
