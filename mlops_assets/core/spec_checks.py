"""What a spec means, checked after its shape: every name it uses resolves, no outcome-side column
feeds a feature, targets and trailing rates fit; and the spec against its source's header and
column types (``validate``). Every problem names the field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_assets.core.grain import UNPARTITIONED, GrainError
from mlops_assets.core.spec_sections import ColumnType, FeatureKind, type_family
from mlops_assets.core.sql import IDENTIFIER_PATTERN

if TYPE_CHECKING:
    from mlops_assets.core.spec import DatasetSpec


def semantic_problems(spec: DatasetSpec) -> list[str]:
    """Every name resolves, no forbidden column feeds a feature, each rule fits its column; every
    problem names the field."""
    problems: list[str] = []
    columns = spec.columns
    forbidden = set(spec.forbidden_columns)
    trailing = spec.trailing_rate_names

    for name in columns:
        if not IDENTIFIER_PATTERN.fullmatch(name):
            problems.append(f"columns.{name}: not a plain identifier")
    target_names = [target.name for target in spec.targets]
    for name in [*spec.features, *trailing, *spec.reference_tables, *target_names]:
        if not IDENTIFIER_PATTERN.fullmatch(name):
            problems.append(f"{name!r}: not a plain identifier")
    if len(set(target_names)) != len(target_names):
        problems.append(f"targets: names repeat ({', '.join(target_names)})")
    for index, key in enumerate(spec.entity_key):
        if key not in columns:
            problems.append(f"entity_key[{index}]: unknown column {key!r}")
        elif key in forbidden:
            problems.append(f"entity_key[{index}]: {key!r} is a forbidden outcome-side column")
    ts = spec.timestamp.column
    if ts is None:
        pass  # derived: its SQL is bound with the other spec SQL (core.spec_sql)
    elif ts not in columns:
        problems.append(f"timestamp.column: unknown column {ts!r}")
    elif columns[ts].type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
        problems.append(f"timestamp.column: {ts!r} has type {columns[ts].type.value}, not timestamp or date")
    elif columns[ts].type is ColumnType.DATE and spec.grain.within_day:
        problems.append(f"timestamp.column: {ts!r} is a date, but {spec.grain.name} partitions need the time of day "
                        "(declare a timestamp column)")
    if not spec.grain.partitioned:
        if spec.trailing_rates:
            problems.append("trailing_rates: an unpartitioned dataset (grain none) has no earlier partitions to "
                            "average over")
        given = spec.quality.row_count.model_fields_set & {"trailing", "trailing_days", "min_history"}
        if given:
            problems.append(f"quality.row_count: an unpartitioned dataset (grain none) has no trailing partitions "
                            f"to hold its row count against: remove {', '.join(sorted(given))}")
    windows = {f"trailing_rates.{rate.name}": rate.span for rate in spec.trailing_rates}
    windows["quality.row_count"] = spec.quality.row_count_history
    for where, window in windows.items():
        try:
            if spec.partitions_in(window) < 1:
                problems.append(f"{where}: the window must cover at least one partition")
        except GrainError as error:
            problems.append(f"{where}: {error}")
    problems.extend(_label_feed_problems(spec))
    for index, name in enumerate(spec.forbidden_columns):
        if name not in columns:
            problems.append(f"forbidden_columns[{index}]: unknown column {name!r}")
    for index, target in enumerate(spec.targets):
        if target.name in columns or target.name in spec.features:
            problems.append(f"targets[{index}].name: {target.name!r} collides with a column or feature")
    for name, feature in spec.features.items():
        where = f"features.{name}"
        if name in forbidden:
            problems.append(f"{where}: forbidden outcome-side column used as a feature")
        elif name in target_names:
            problems.append(f"{where}: a target cannot be a feature")
        elif name in columns:
            column_type = columns[name].type
            if feature.kind is FeatureKind.NUMERIC and not column_type.is_numeric:
                problems.append(f"{where}: numeric feature on {column_type.value} column")
        elif name not in trailing and not spec.feature_sql:
            problems.append(
                f"{where}: unknown column {name!r} (not a raw column, trailing rate or feature_sql output)"
            )
    for name in trailing:
        if name not in spec.features:
            problems.append(f"trailing_rates.{name}: declare it under features too (kind: numeric)")
        if name in columns:
            problems.append(f"trailing_rates.{name}: collides with a raw column")
    for rate in spec.trailing_rates:
        if rate.target is not None and rate.target not in target_names:
            problems.append(f"trailing_rates.{rate.name}.target: unknown target {rate.target!r}")
        elif (spec.rate_target(rate).type == "class"):
            problems.append(f"trailing_rates.{rate.name}: averages a class target; name a boolean or numeric one")
        for column in rate.group_by:
            if column not in columns:
                problems.append(f"trailing_rates.{rate.name}.group_by: unknown column {column!r}")
            elif column in forbidden:
                problems.append(
                    f"trailing_rates.{rate.name}.group_by: forbidden outcome-side column {column!r}"
                )
    for index, name in enumerate(spec.slices):
        if name not in columns and name not in spec.features:
            problems.append(f"slices[{index}]: unknown column {name!r}")
        elif name in forbidden:
            problems.append(f"slices[{index}]: forbidden outcome-side column {name!r}")
    for name, rules in columns.items():
        if rules.allowed is not None and rules.type in (ColumnType.TIMESTAMP, ColumnType.DATE):
            problems.append(f"columns.{name}.allowed: not supported for {rules.type.value} columns")
        if (rules.min is not None or rules.max is not None) and not rules.type.is_numeric:
            problems.append(f"columns.{name}: min/max only apply to numeric columns")
    return problems


def _label_feed_problems(spec: DatasetSpec) -> list[str]:
    """A label feed carries outcome-side columns only, and the targets read nothing else (besides the
    key), because a target is computed when the labels land, not from the scoring input."""
    if spec.labels is None:
        return []
    problems = []
    if spec.partitions.grain == UNPARTITIONED:
        problems.append("labels: a label feed lands a partition's outcomes after it; an unpartitioned dataset "
                        "(grain none) has its outcomes in its one table")
    forbidden = set(spec.forbidden_columns)
    for index, name in enumerate(spec.labels.columns):
        where = f"labels.columns[{index}]"
        if name not in spec.columns:
            problems.append(f"{where}: unknown column {name!r}")
        elif name in spec.entity_key or name in spec.timestamp_columns:
            problems.append(f"{where}: {name!r} is part of the entity key or the timestamp, which the rows carry")
        elif name not in forbidden:
            problems.append(f"{where}: {name!r} arrives with the outcome, so list it under forbidden_columns too")
    try:
        if spec.label_delay_partitions < 0:
            problems.append("labels.delay: cannot be negative")
    except GrainError as error:
        problems.append(f"labels.delay: {error}")
    return problems


def source_type_problems(spec: DatasetSpec, source_types: dict[str, str]) -> list[str]:
    """Every declared column against the source's header and column types (``ingest.sources``):
    present, and of a type the declared one can hold. Each problem names the column."""
    problems = []
    for name, column in spec.columns.items():
        where = f"columns.{name}"
        if name not in source_types:
            problems.append(f"{where}: not in the source (its columns: {', '.join(source_types)})")
        elif not column.type.holds(source_types[name]):
            source_type = source_types[name]
            hint = ""
            if type_family(source_type) == "text" and column.type.is_numeric:
                hint = f" (the source holds a value that is not a {column.type.value} there)"
            elif type_family(source_type) == "float" and column.type is ColumnType.INT:
                hint = " (declare it float)"
            problems.append(
                f"{where}: declared {column.type.value}, but the source stores it as {source_type}, "
                f"which a {column.type.value} column cannot hold{hint}"
            )
    return problems
