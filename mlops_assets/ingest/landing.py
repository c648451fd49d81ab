"""The landing zone: one file per dataset partition, the only door data comes in through.

``replay`` simulates arrival by slicing whole partitions out of a spec's source and landing them as
files named by the partition's start as ``core.grain`` writes it (``landing/<dataset>/<YYYY-MM-DD>.<csv|parquet>``;
for a yearly dataset ``2019-01-01.csv`` holds 2019; an hourly one's ``2024-03-10T14.csv`` holds 14:00 to
15:00, with no ``:``, which some file systems refuse). A dataset whose outcomes are their own feed (the
spec's ``labels``) has a second zone, ``landing/<dataset>/labels/``, named the same way: the entity
key and the outcome columns of a partition's rows, landed ``labels.delay`` later. Ingestion and the landing sensor only ever read
files whose names match that pattern exactly, are regular files (not symlinks), and resolve inside
the landing folder, so a crafted file name cannot make the platform read anything else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.core.files import atomic_path, file_sha256
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.sql import quote, sql_string
from mlops_assets.core.timestamps import instant_sql, partition_sql
from mlops_assets.core.paths import StateLayout

LANDING_NAME = re.compile(r"^([0-9A-Za-z-]+)\.(csv|parquet)$")  # the stem is then read by the grain


class LandingError(RuntimeError):
    """A landing file that is missing or not safe to read."""


@dataclass(frozen=True)
class LandedFile:
    day: dt.date
    path: Path
    rows: int
    sha256: str
    labels: bool = False  # the partition's outcomes (the label feed), not its rows


def zone_dir(layout: StateLayout, spec: DatasetSpec, *, labels: bool = False) -> Path:
    """The folder rows land in, or with ``labels`` the folder their outcomes land in."""
    zone = layout.landing_dir_for(spec.name)
    return zone / "labels" if labels else zone


def landing_path(layout: StateLayout, spec: DatasetSpec, day: dt.date, *, labels: bool = False) -> Path:
    return zone_dir(layout, spec, labels=labels) / f"{spec.grain.file_stem(day)}.{spec.source.format}"


def landed_file(layout: StateLayout, spec: DatasetSpec, day: dt.date, *, labels: bool = False) -> Path:
    """The landing file for ``day``, after checking it is a safe regular file inside the zone."""
    path = landing_path(layout, spec, day, labels=labels)
    if path.is_symlink():
        raise LandingError(f"landing file {path} is a symlink; refusing to follow it")
    if not path.exists():
        what = "labels" if labels else "landing file"
        raise LandingError(
            f"no {what} for {spec.name} on {spec.grain.label(day)}: expected {path} "
            f"(run `mlops-assets replay --start {spec.grain.file_stem(day)} --days 1` or drop the file there)"
        )
    if not path.is_file():
        raise LandingError(f"landing path {path} is not a regular file")
    zone = zone_dir(layout, spec, labels=labels).resolve()
    if path.resolve().parent != zone:
        raise LandingError(f"landing file {path} resolves outside the landing folder {zone}")
    return path


def landed_days(layout: StateLayout, spec: DatasetSpec, *, labels: bool = False) -> list[tuple[dt.date, Path]]:
    """Days with a well-named landing file, in order; anything else in the folder is ignored."""
    zone = zone_dir(layout, spec, labels=labels)
    if not zone.is_dir():
        return []
    found = []
    for entry in sorted(zone.iterdir()):
        match = LANDING_NAME.fullmatch(entry.name)
        if not match or match.group(2) != spec.source.format or entry.is_symlink() or not entry.is_file():
            continue
        start = spec.grain.parse_file_stem(match.group(1))
        if start is not None:
            found.append((start, entry))
    return found


def replay(spec: DatasetSpec, layout: StateLayout, start: dt.date, days: int) -> list[LandedFile]:
    """Land ``days`` whole partitions (days for a daily dataset) from the spec's source, starting
    with the partition holding ``start``; returns what landed. With a label feed, a partition lands
    without its outcome columns, and the outcomes due by then (those of the partition
    ``labels.delay`` earlier) land in the label zone, as they would in production.

    Each file is written under a temporary name and renamed, so a reader never sees half a partition.
    Partitions with no rows in the source are skipped (and not returned).
    """
    import duckdb

    from mlops_assets.ingest.sources import attach_source_sql, source_relation_sql

    if days < 1:
        raise ValueError("days must be at least 1")
    start = spec.grain.partition_of(start)
    end = spec.grain.end_of(spec.grain.shift(start, days - 1))
    delay = spec.label_delay_partitions
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        attach = attach_source_sql(spec)
        if attach:
            con.execute(attach)
        source = source_relation_sql(spec, layout.cache_dir)
        relation = con.sql(source)
        stored = dict(zip(relation.columns, (str(t) for t in relation.types)))
        day_sql = partition_sql(spec, instant_sql(spec, stored, strict=True))
        con.execute(
            f"CREATE TEMP TABLE replay_window AS SELECT *, {day_sql} AS __day "
            f"FROM ({source}) WHERE {day_sql} >= ? AND {day_sql} < ?",
            [spec.grain.shift(start, -delay), end],
        )
        order = [*spec.timestamp_columns, *spec.entity_key]
        rows_columns = [c for c in relation.columns if c not in set(spec.label_columns)]
        landed = _land_partitions(con, spec, layout, rows_columns, order, start, end, labels=False)
        if spec.labels is not None:
            label_columns = list(dict.fromkeys([*spec.entity_key, *spec.label_columns]))
            landed += _land_partitions(con, spec, layout, label_columns, order, spec.grain.shift(start, -delay),
                                       spec.grain.end_of(spec.grain.shift(start, days - 1 - delay)), labels=True)
        return landed
    finally:
        con.close()


def _land_partitions(con, spec: DatasetSpec, layout: StateLayout, columns: list[str], order: list[str],
                     start: dt.date, end: dt.date, *, labels: bool) -> list[LandedFile]:
    """Write each partition of ``replay_window`` in [start, end) with ``columns`` to its zone."""
    zone_dir(layout, spec, labels=labels).mkdir(parents=True, exist_ok=True)
    options = (
        "FORMAT parquet"
        if spec.source.format == "parquet"
        else f"FORMAT csv, HEADER true, DELIMITER {sql_string(spec.source.csv.delimiter)}"
    )
    selected = ", ".join(quote(c) for c in columns)
    ordered = ", ".join(quote(c) for c in order)
    landed = []
    partitions = con.execute(
        "SELECT __day, count(*) FROM replay_window WHERE __day >= ? AND __day < ? GROUP BY 1 ORDER BY 1", [start, end]
    ).fetchall()
    for day, rows in partitions:
        target = landing_path(layout, spec, day, labels=labels)
        with atomic_path(target) as temp:
            con.execute(
                f"COPY (SELECT {selected} FROM replay_window WHERE __day = ? ORDER BY {ordered}) "
                f"TO {sql_string(str(temp))} ({options})",
                [day],
            )
        landed.append(LandedFile(spec.grain.as_start(day), target, rows, file_sha256(target), labels))
    return landed


def new_landings(
    layout: StateLayout, spec: DatasetSpec, seen: dict[str, list], *, labels: bool = False
) -> tuple[list[tuple[dt.date, Path, str]], dict[str, list]]:
    """Landing files that are new or changed since ``seen`` (name -> [size, mtime_ns, sha256]).

    Only files whose size or modification time changed are hashed again, so a tick over a year
    of files costs a directory listing. Returns (day, path, sha256) of each, and the updated state.
    """
    updated: dict[str, list] = {}
    changed = []
    for day, path in landed_days(layout, spec, labels=labels):
        stat = path.stat()
        previous = seen.get(path.name)
        if previous and previous[0] == stat.st_size and previous[1] == stat.st_mtime_ns:
            updated[path.name] = previous
            continue
        digest = file_sha256(path)
        updated[path.name] = [stat.st_size, stat.st_mtime_ns, digest]
        if not previous or previous[2] != digest:
            changed.append((day, path, digest))
    return changed, updated
