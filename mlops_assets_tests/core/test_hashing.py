"""Content hashes: the same rows give the same sha256 whatever their order; any change to a value,
a type, a row or a column name gives another."""

from __future__ import annotations

import duckdb
import pytest

from mlops_assets.core.hashing import relation_sha256

ROWS = [(1, "UA", 1400.5, "2013-01-01 10:00:00+00"), (2, "AA", None, "2013-01-01 11:00:00+00"),
        (3, None, 17.0, None), (4, "B6", 0.0, "2013-01-02 04:00:00+00")]


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    connection.execute("CREATE TABLE t (id BIGINT, carrier VARCHAR, distance DOUBLE, ts TIMESTAMPTZ)")
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", ROWS)
    yield connection
    connection.close()


def digest(con, relation: str) -> str:
    value = relation_sha256(con, relation)
    assert len(value) == 64 and int(value, 16) >= 0
    return value


def test_hash_is_deterministic(con):
    assert digest(con, "t") == digest(con, "t")
    assert digest(con, "t") == digest(con, "(SELECT * FROM t)")


def test_hash_ignores_row_order(con):
    con.execute("CREATE TABLE reversed AS SELECT * FROM t ORDER BY id DESC")
    assert [r[0] for r in con.execute("SELECT id FROM reversed").fetchall()] == [4, 3, 2, 1]
    con.execute("CREATE TABLE shuffled AS SELECT * FROM t ORDER BY carrier NULLS FIRST, id")
    assert digest(con, "reversed") == digest(con, "t") == digest(con, "shuffled")


def test_hash_ignores_column_order(con):
    con.execute("CREATE TABLE reordered AS SELECT ts, distance, id, carrier FROM t")
    assert digest(con, "reordered") == digest(con, "t")


def test_hash_changes_with_a_changed_value(con):
    before = digest(con, "t")
    con.execute("UPDATE t SET distance = 1400.25 WHERE id = 1")
    assert digest(con, "t") != before


def test_hash_changes_with_a_changed_type(con):
    con.execute("CREATE TABLE as_int AS SELECT id::INTEGER AS id, carrier, distance, ts FROM t")
    # same values, printed the same in CSV: only the type in the header differs
    assert con.execute("SELECT * FROM as_int EXCEPT SELECT * FROM t").fetchall() == []
    assert digest(con, "as_int") != digest(con, "t")


def test_hash_changes_with_an_added_or_duplicated_row(con):
    before = digest(con, "t")
    con.execute("CREATE TABLE duplicated AS SELECT * FROM t UNION ALL SELECT * FROM t WHERE id = 1")
    assert digest(con, "duplicated") != before
    con.execute("INSERT INTO t VALUES (5, 'DL', 100.0, '2013-01-01 12:00:00+00')")
    assert digest(con, "t") != before


def test_hash_changes_with_a_renamed_column(con):
    con.execute("CREATE TABLE renamed AS SELECT id, carrier AS airline, distance, ts FROM t")
    assert digest(con, "renamed") != digest(con, "t")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("SELECT NULL::VARCHAR AS s", "SELECT ''::VARCHAR AS s"),
        ("SELECT NULL::VARCHAR AS s", "SELECT 'NULL'::VARCHAR AS s"),
        ("SELECT NULL::DOUBLE AS d", "SELECT 0.0::DOUBLE AS d"),
        # nulls moving between columns of the same rows
        ("SELECT * FROM (VALUES (NULL, 1), (2, NULL)) v(a, b)", "SELECT * FROM (VALUES (NULL, 2), (1, NULL)) v(a, b)"),
        # a delimiter inside a value cannot shift a value into the next column
        ("SELECT * FROM (VALUES ('a,b', 'c')) v(x, y)", "SELECT * FROM (VALUES ('a', 'b,c')) v(x, y)"),
        # nor can a newline fake an extra row
        ("SELECT * FROM (VALUES ('a' || chr(10) || 'b')) v(x)", "SELECT * FROM (VALUES ('a'), ('b')) v(x)"),
    ],
)
def test_nulls_and_separators_are_unambiguous(con, left, right):
    assert digest(con, f"({left})") != digest(con, f"({right})")


def test_nulls_hash_the_same_whatever_the_row_order(con):
    left = "(SELECT * FROM (VALUES (NULL, 'x'), (1, NULL), (NULL, NULL)) v(a, b))"
    right = "(SELECT * FROM (VALUES (NULL, NULL), (1, NULL), (NULL, 'x')) v(a, b))"
    assert digest(con, left) == digest(con, right)


def test_empty_relations_hash_by_their_schema(con):
    empty = digest(con, "(SELECT * FROM t WHERE false)")
    assert empty == digest(con, "(SELECT ts, id, distance, carrier FROM t WHERE false)")
    assert empty != digest(con, "(SELECT id, carrier FROM t WHERE false)")
    assert empty != digest(con, "t")


def test_large_relations_hash_across_batches(con):
    """More rows than one Arrow batch (100k): every batch is in the digest."""
    con.execute("CREATE TABLE big AS SELECT range AS id, range % 7 AS k FROM range(250000)")
    before = digest(con, "big")
    con.execute("UPDATE big SET k = -1 WHERE id = 249999")
    assert digest(con, "big") != before


def test_json_sha256_ignores_key_order_and_keeps_the_digests_code_versions_were_built_with():
    import hashlib
    import json

    from mlops_assets.core.hashing import json_sha256
    from mlops_assets.core.spec import load_spec

    assert json_sha256({"a": 1, "b": [1, 2]}) == json_sha256({"b": [1, 2], "a": 1})
    assert json_sha256({"a": 1}) != json_sha256({"a": 2})
    # the raw and feature code versions were built with this form: another would mark every asset stale
    definition = load_spec().model_dump(mode="json", include={"source", "timestamp"})
    assert json_sha256(definition) == hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
