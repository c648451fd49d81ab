"""A scaled-up NYC flights dataset: real days replicated with jitter, landed as one file per day.

Each real day of the bundled flights is copied ``replicas`` times. Copies keep the schedule,
route, plane and weather hour of the original (so the weather and planes joins still match), get
fresh flight numbers (numbered within each carrier, origin and departure hour, so the entity key
stays unique and inside the spec's 1..9999 range) and jittered delays (a seeded +-10 minutes, so
labels and trailing rates are not exact multiples of the real ones). Everything happens in DuckDB;
nothing is materialized in Python.

    .venv/bin/python benchmarks/generate_flights.py --state /tmp/scale --rows 10000000 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path

START = dt.date(2013, 1, 1)
JITTER_MINUTES = 10
MAX_FLIGHT_NUMBER = 9999


def generate(spec, layout, *, start: dt.date, days: int, rows: int, seed: int = 0) -> list[tuple[dt.date, int]]:
    """Land ``days`` days starting at ``start`` holding about ``rows`` rows in all; returns (day, rows)."""
    import duckdb

    from mlops_assets.core.files import atomic_path
    from mlops_assets.core.timestamps import instant_sql, partition_sql
    from mlops_assets.ingest.landing import landing_path
    from mlops_assets.ingest.sources import source_relation_sql
    from mlops_assets.core.sql import sql_string

    zone = layout.landing_dir_for(spec.name)
    zone.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        source = con.sql(source_relation_sql(spec, layout.cache_dir))
        stored = dict(zip(source.columns, (str(t) for t in source.types)))
        day_sql = partition_sql(spec, instant_sql(spec, stored, strict=True))
        end = start + dt.timedelta(days=days)
        con.execute(
            f"CREATE TEMP TABLE real_days AS SELECT *, {day_sql} AS __day "
            f"FROM ({source_relation_sql(spec, layout.cache_dir)}) WHERE {day_sql} >= ? AND {day_sql} < ?",
            [start, end],
        )
        real_rows, busiest_hour = con.execute(
            "SELECT (SELECT count(*) FROM real_days), (SELECT max(n) FROM (SELECT count(*) AS n FROM real_days "
            "GROUP BY carrier, origin, time_hour))"
        ).fetchall()[0]
        replicas = max(1, math.ceil(rows / real_rows))
        if busiest_hour * replicas > MAX_FLIGHT_NUMBER:
            raise ValueError(
                f"{replicas} copies of {busiest_hour} flights in one carrier-origin-hour exceed flight number "
                f"{MAX_FLIGHT_NUMBER}; spread the rows over more days"
            )
        columns = [name for name, *_ in con.execute("DESCRIBE real_days").fetchall() if name != "__day"]

        def jitter(column: str) -> str:
            noise = (f"(hash(replica, flight, carrier, time_hour, {sql_string(column)}, {int(seed)}) "
                     f"% {2 * JITTER_MINUTES + 1})::BIGINT - {JITTER_MINUTES}")
            return f"CASE WHEN replica = 0 OR {column} IS NULL THEN {column} ELSE {column} + {noise} END AS {column}"

        selected = []
        for column in columns:
            if column in ("dep_delay", "arr_delay"):
                selected.append(jitter(column))
            elif column == "flight":
                selected.append(
                    "row_number() OVER (PARTITION BY carrier, origin, time_hour ORDER BY replica, flight) AS flight"
                )
            else:
                selected.append(column)
        landed = []
        for (day,) in con.execute("SELECT DISTINCT __day FROM real_days ORDER BY 1").fetchall():
            target = landing_path(layout, spec, day)
            with atomic_path(target) as temp:
                con.execute(
                    f"COPY (SELECT {', '.join(selected)} FROM real_days, range({replicas}) AS copies(replica) "
                    f"WHERE __day = ? ORDER BY time_hour, carrier, flight, origin) "
                    f"TO {sql_string(str(temp))} (FORMAT csv, HEADER true)",
                    [day],
                )
            count = con.execute("SELECT count(*) FROM real_days WHERE __day = ?", [day]).fetchall()[0][0]
            landed.append((day, count * replicas))
        return landed
    finally:
        con.close()


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", required=True, help="state folder to land the files in")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=START)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from mlops_assets.core.spec import load_spec
    from mlops_assets.core.paths import StateLayout

    layout = StateLayout(Path(args.state)).ensure()
    landed = generate(load_spec(), layout, start=args.start, days=args.days, rows=args.rows, seed=args.seed)
    print(f"landed {len(landed)} days, {sum(n for _, n in landed):,} rows in {layout.landing_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
