"""Content hashes: the same rows give the same sha256, whatever order or file they came in.

A table is hashed in a canonical form: columns sorted by name, a header naming each column and its
type, rows sorted by every column, serialized as CSV by Arrow's C++ writer straight into sha256.
Nothing is materialized in Python objects, so hashing a million rows takes about a second.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlops_assets.core.sql import quote


class _HashSink:
    """A write-only file object that feeds sha256 (Arrow's CSV writer needs ``write``/``closed``)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.closed = False

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass


def json_sha256(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (keys sorted): equal definitions, equal digests."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def relation_sha256(con: Any, relation_sql: str) -> str:
    """sha256 of the canonical form of a SQL relation (a table name or a parenthesized query)."""
    import pyarrow.csv as pacsv

    columns = [row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()]
    columns.sort(key=lambda column: column[0])
    sink = _HashSink()
    sink.write(("\x1f".join(f"{name}:{kind}" for name, kind in columns) + "\n").encode())
    if not columns:
        return sink.digest.hexdigest()
    ordered = ", ".join(quote(name) for name, _ in columns)
    reader = con.sql(f"SELECT {ordered} FROM {relation_sql} ORDER BY ALL NULLS FIRST").to_arrow_reader(100_000)
    writer = None
    for batch in reader:
        if writer is None:
            writer = pacsv.CSVWriter(sink, batch.schema, write_options=pacsv.WriteOptions(include_header=False))
        writer.write_batch(batch)
    if writer is not None:
        writer.close()
    return sink.digest.hexdigest()
