"""Which partitions a training window trains on: its bounds (with a label feed, its end moves back to
the newest partition up to the one asked for whose outcomes have landed), the partitions in it a model
can learn from (features that passed every feature check and, with a label feed, landed outcomes),
whether their stored features are current with the spec, and the last ones held out whole as the
out-of-time test.

``train.snapshot`` freezes the rows of the partitions chosen here; retraining and monitoring ask
which partitions passed their checks, or can be learned from, through the same functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlops_assets.features.checks import FEATURE_CHECKS, FEATURES_ASSET
from mlops_assets.features.build import features_code_version, features_table
from mlops_assets.ingest.labels import label_versions
from mlops_assets.core.settings import setting
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.sql import quote
from mlops_assets.core.verdicts import passed_hashes_sql
from mlops_assets.core.warehouse import table_columns


class TrainingDataError(RuntimeError):
    """The requested window cannot make a usable training snapshot."""


@dataclass(frozen=True)
class TrainingWindow:
    start_date: dt.date | None = setting(None, "first feature partition (YYYY-MM-DD, its first day); default: the earliest")
    end_date: dt.date | None = setting(
        None, "last feature partition, inclusive; default: the latest (with a label feed: the latest with outcomes)")
    last_n_days: int | None = setting(None, "train on the N partitions (days for a daily dataset) ending at end_date")
    min_days: int = setting(3, "refuse to train on fewer gate-passed partitions (not counting the held-out ones)")
    holdout_days: int = setting(
        7, "the window's last N gate-passed partitions (days for a daily dataset) are held out whole as the "
        "out-of-time test that judges promotion and sets the live reference (0: no out-of-time test)"
    )

    def __post_init__(self) -> None:
        if self.holdout_days < 0:
            raise ValueError(f"holdout_days must be 0 or more, got {self.holdout_days}")


def resolve_window(con: Any, spec: DatasetSpec, window: TrainingWindow) -> tuple[dt.date, dt.date]:
    bounds = con.execute(
        "SELECT min(day), max(day) FROM feature_versions WHERE dataset = ?", [spec.name]
    ).fetchall()[0]
    if bounds[0] is None:
        raise TrainingDataError(f"no features of {spec.name} exist yet; run the ingest job first")
    end = spec.grain.partition_of(window.end_date or bounds[1])
    if spec.labels is not None:
        # the newest partitions have no outcomes yet: the window (and its last N partitions) ends at
        # the newest one before its requested end that has
        end = max((day for day in label_versions(con, spec) if day <= end), default=end)
    if window.start_date is not None:
        start = spec.grain.partition_of(window.start_date)
    elif window.last_n_days:
        start = spec.grain.shift(end, 1 - window.last_n_days)
    else:
        start = spec.grain.as_start(bounds[0])
    if start > end:
        raise TrainingDataError(
            f"training window start {spec.grain.label(start)} is after its end {spec.grain.label(end)}")
    return start, end


def passed_feature_days(con: Any, spec: DatasetSpec, start: dt.date | None, end: dt.date | None) -> dict[dt.date, str]:
    """Days (in [start, end]) whose current feature build passed every feature check."""
    rows = con.execute(
        """
        SELECT v.day, arg_max(v.content_hash, v.created_at) AS current_hash
        FROM feature_versions v
        WHERE v.dataset = ? AND (? IS NULL OR v.day >= ?) AND (? IS NULL OR v.day <= ?)
        GROUP BY v.day
        """,
        [spec.name, start, start, end, end],
    ).fetchall()
    passed = {
        (day, content_hash)
        for day, content_hash in con.execute(
            passed_hashes_sql(list(FEATURE_CHECKS)), [spec.name, FEATURES_ASSET, *FEATURE_CHECKS]
        ).fetchall()
    }
    return {spec.grain.as_start(day): h for day, h in rows if (day, h) in passed}


def learnable_days(con: Any, spec: DatasetSpec, start: dt.date | None, end: dt.date | None) -> dict[dt.date, str]:
    """The days a model can learn from: passed features, and with a label feed landed outcomes."""
    return with_outcomes(con, spec, passed_feature_days(con, spec, start, end))


def with_outcomes(con: Any, spec: DatasetSpec, days: dict[dt.date, str]) -> dict[dt.date, str]:
    if spec.labels is None:
        return days
    labelled = label_versions(con, spec)
    return {day: h for day, h in days.items() if day in labelled}


def no_outcomes(spec: DatasetSpec, start: dt.date, end: dt.date) -> TrainingDataError:
    return TrainingDataError(
        f"no labels of {spec.name} have landed for {start}..{end}: a row is learned from only once its "
        f"outcome has arrived in the label zone (landing/{spec.name}/labels/)"
    )


def require_current_features(
    con: Any, spec: DatasetSpec, wanted: list[str], usable: dict[dt.date, str], start: dt.date
) -> None:
    """A feature added to the spec after the features were built is missing from the table, or (once
    a later day was rebuilt) holds no value on the days built before: say which days, and what
    rebuilds them, instead of failing in the binder or training on a column of nulls."""
    stored = table_columns(con, features_table(spec))
    from_labels = {t.name for t in spec.targets} if spec.labels is not None else set()
    missing = [c for c in wanted if c not in stored and c not in from_labels]
    if missing:
        raise TrainingDataError(
            f"the spec's column(s) {missing} are not in the stored features of {spec.name}: the spec changed "
            f"after the features were built. {_rebuild_hint(spec, min(usable, default=start))}"
        )
    current = features_code_version(spec)
    built_with = dict(con.execute(
        "SELECT day, arg_max(code_version, created_at) FROM feature_versions WHERE dataset = ? "
        f"AND list_contains(?, struct_pack(d := CAST(day AS {spec.grain.column_type}), h := content_hash)) GROUP BY day",
        [spec.name, [{"d": d, "h": h} for d, h in usable.items()]],
    ).fetchall())
    built_with = {spec.grain.as_start(day): version for day, version in built_with.items()}
    older = sorted(day for day in usable if built_with.get(day) != current)
    if not older:
        return
    days_sql = ", ".join(spec.grain.literal_sql(d) for d in older)
    empty: dict[str, list[str]] = {}
    for name, feature in spec.features.items():
        ceiling = feature.max_null_rate if feature.max_null_rate is not None else spec.quality.default_max_null_rate
        if ceiling >= 1.0:
            continue  # a feature allowed to be all null (a trailing rate without history) says nothing
        rows = con.execute(
            f"SELECT {quote(DAY_COLUMN)} FROM {features_table(spec)} WHERE {quote(DAY_COLUMN)} IN ({days_sql}) "
            f"GROUP BY ALL HAVING count({quote(name)}) = 0 ORDER BY 1"
        ).fetchall()
        if rows:
            empty[name] = [spec.grain.label(day) for (day,) in rows]
    if empty:
        raise TrainingDataError(
            "feature(s) with no value on days built before the spec declared them: "
            + "; ".join(f"{name} on {', '.join(days)}" for name, days in empty.items())
            + f". {_rebuild_hint(spec, spec.grain.as_start(dt.datetime.fromisoformat(min(min(d) for d in empty.values()))))}"
        )


def _rebuild_hint(spec: DatasetSpec, day: dt.date) -> str:
    return (
        f"Rebuild the features of the training days, e.g. `dagster asset materialize -m mlops_assets.definitions "
        f"--select {spec.features_asset_name} --partition {spec.grain.key(day)}` for each day (or rerun the ingest "
        "job for them), then train again"
    )


def held_out_days(
    usable: list[dt.date], window: TrainingWindow, start: dt.date, end: dt.date, unit: str = "day"
) -> list[dt.date]:
    """The window's last ``holdout_days`` usable partitions (``unit``: what one is called); refuses a
    window that would keep fewer than ``min_days`` to train on."""
    if window.holdout_days == 0:
        return []
    days = sorted(usable)
    left = len(days) - window.holdout_days
    if left < max(window.min_days, 1):
        raise TrainingDataError(
            f"the window {start}..{end} has {len(days)} gate-passed {unit}(s): holding out the last "
            f"{window.holdout_days} as the out-of-time test leaves {max(left, 0)} to train on (need at least "
            f"{max(window.min_days, 1)}); widen the window or lower holdout_days (0 disables the out-of-time test)"
        )
    return days[left:]
