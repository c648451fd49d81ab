"""The landing zone: one file per dataset partition, the only door data comes in through.

``replay`` simulates arrival by slicing whole partitions out of a spec's source and landing them as
files named by the partition's start as ``core.grain`` writes it (``landing/<dataset>/<YYYY-MM-DD>.<csv|parquet>``;
for a yearly dataset ``2019-01-01.csv`` holds 2019; an hourly one's ``2024-03-10T14.csv`` holds 14:00 to
15:00, with no ``:``, which some file systems refuse). Ingestion and the landing sensor only ever read
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


def landing_path(layout: StateLayout, spec: DatasetSpec, day: dt.date) -> Path:
    return layout.landing_dir_for(spec.name) / f"{spec.grain.file_stem(day)}.{spec.source.format}"


def landed_file(layout: StateLayout, spec: DatasetSpec, day: dt.date) -> Path:
    """The landing file for ``day``, after checking it is a safe regular file inside the zone."""
    path = landing_path(layout, spec, day)
    if path.is_symlink():
        raise LandingError(f"landing file {path} is a symlink; refusing to follow it")
    if not path.exists():
        raise LandingError(
            f"no landing file for {spec.name} on {spec.grain.label(day)}: expected {path} "
            f"(run `mlops-assets replay --start {spec.grain.file_stem(day)} --days 1` or drop the file there)"
        )
    if not path.is_file():
        raise LandingError(f"landing path {path} is not a regular file")
    zone = layout.landing_dir_for(spec.name).resolve()
    if path.resolve().parent != zone:
        raise LandingError(f"landing file {path} resolves outside the landing folder {zone}")
    return path


def landed_days(layout: StateLayout, spec: DatasetSpec) -> list[tuple[dt.date, Path]]:
    """Days with a well-named landing file, in order; anything else in the folder is ignored."""
    zone = layout.landing_dir_for(spec.name)
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
    with the partition holding ``start``; returns what landed.

    Each file is written under a temporary name and renamed, so a reader never sees half a partition.
    Partitions with no rows in the source are skipped (and not returned).
    """
    import duckdb

    from mlops_assets.ingest.sources import attach_source_sql, source_relation_sql

    if days < 1:
        raise ValueError("days must be at least 1")
    zone = layout.landing_dir_for(spec.name)
    zone.mkdir(parents=True, exist_ok=True)
    start = spec.grain.partition_of(start)
    end = spec.grain.end_of(spec.grain.shift(start, days - 1))
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
            [start, end],
        )
        order = ", ".join(quote(c) for c in [*spec.timestamp_columns, *spec.entity_key])
        landed = []
        for (day,) in con.execute("SELECT DISTINCT __day FROM replay_window ORDER BY 1").fetchall():
            target = landing_path(layout, spec, day)
            options = (
                "FORMAT parquet"
                if spec.source.format == "parquet"
                else f"FORMAT csv, HEADER true, DELIMITER {sql_string(spec.source.csv.delimiter)}"
            )
            with atomic_path(target) as temp:
                con.execute(
                    f"COPY (SELECT * EXCLUDE (__day) FROM replay_window WHERE __day = ? ORDER BY {order}) "
                    f"TO {sql_string(str(temp))} ({options})",
                    [day],
                )
            rows = con.execute("SELECT count(*) FROM replay_window WHERE __day = ?", [day]).fetchall()[0][0]
            landed.append(LandedFile(spec.grain.as_start(day), target, rows, file_sha256(target)))
        return landed
    finally:
        con.close()


def new_landings(
    layout: StateLayout, spec: DatasetSpec, seen: dict[str, list]
) -> tuple[list[tuple[dt.date, Path, str]], dict[str, list]]:
    """Landing files that are new or changed since ``seen`` (name -> [size, mtime_ns, sha256]).

    Only files whose size or modification time changed are hashed again, so a tick over a year
    of files costs a directory listing. Returns (day, path, sha256) of each, and the updated state.
    """
    updated: dict[str, list] = {}
    changed = []
    for day, path in landed_days(layout, spec):
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
