"""SQL helpers: identifiers from configuration cannot inject SQL, and parse_select reports what a
SELECT reads (lineage per output column, stars, table functions, tables)."""

from __future__ import annotations

import duckdb
import pytest

from mlops_assets.core.sql import (
    UnsafeIdentifierError,
    parse_select,
    quote,
    sql_string,
    validate_identifier,
)


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("name", ["carrier", "_day", "Origin2", "a" * 63])
def test_plain_identifiers_are_accepted(name):
    assert validate_identifier(name) == name
    assert quote(name) == f'"{name}"'


@pytest.mark.parametrize(
    "name",
    [
        'name"; DROP TABLE x; --',
        'a"b',
        "a b",
        "1abc",
        "",
        "a" * 64,
        "x;y",
        "schema.table",
        "carrier--",
        "naïve",
        "tab\tname",
        None,
        42,
    ],
)
def test_unsafe_identifiers_are_refused(name):
    with pytest.raises(UnsafeIdentifierError, match="not a plain identifier"):
        validate_identifier(name, what="column")
    with pytest.raises(UnsafeIdentifierError):
        quote(name)


def test_refusal_names_what_and_the_offender():
    with pytest.raises(UnsafeIdentifierError) as error:
        validate_identifier('x"; --', what="entity key")
    assert str(error.value).startswith("entity key 'x\"; --'")


def test_sql_string_escapes_quotes_so_the_value_stays_one_literal(con):
    value = "it's'; DROP TABLE t; --"
    assert con.execute(f"SELECT {sql_string(value)}").fetchall() == [(value,)]


# -- lineage --------------------------------------------------------------------------------------


def test_lineage_of_aliases_and_qualified_references(con):
    lineage = parse_select(
        con,
        "SELECT b.carrier, b.sched_dep_time / 100 AS hour, w.temp AS origin_temp, "
        "b.year - p.year AS plane_age, 1 AS one "
        "FROM base b LEFT JOIN weather w ON w.origin = b.origin LEFT JOIN planes p ON p.tailnum = b.tailnum",
    )
    assert lineage.output_sources == {
        "carrier": frozenset({"carrier"}),
        "hour": frozenset({"sched_dep_time"}),
        "origin_temp": frozenset({"temp"}),
        "plane_age": frozenset({"year"}),
        "one": frozenset(),
    }
    assert lineage.tables == frozenset({"base", "weather", "planes"})
    assert lineage.has_star is False
    assert lineage.table_functions == frozenset()


def test_lineage_follows_functions_case_and_windows(con):
    lineage = parse_select(
        con,
        "SELECT CASE WHEN wind > 150 THEN NULL ELSE wind END AS w, "
        "coalesce(a, b + c) AS abc, avg(arr_delay) OVER (PARTITION BY carrier) AS leak FROM base",
    )
    assert lineage.output_sources["w"] == frozenset({"wind"})
    assert lineage.output_sources["abc"] == frozenset({"a", "b", "c"})
    assert lineage.output_sources["leak"] == frozenset({"arr_delay", "carrier"})


def test_lineage_follows_scalar_subqueries_in_the_select_list(con):
    lineage = parse_select(con, "SELECT carrier, (SELECT max(arr_delay) FROM base) AS x FROM base")
    assert lineage.output_sources["x"] == frozenset({"arr_delay"})


@pytest.mark.parametrize(
    ("query", "star"),
    [
        ("SELECT * FROM base", True),
        ("SELECT b.* FROM base b", True),
        ("SELECT *, 1 AS y FROM base", True),
        ("SELECT carrier, COLUMNS('arr.*') FROM base", True),
        ("SELECT carrier FROM base", False),
    ],
)
def test_stars_are_reported(con, query, star):
    assert parse_select(con, query).has_star is star


@pytest.mark.parametrize(
    ("query", "function"),
    [
        ("SELECT a FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT a FROM base JOIN read_parquet('x.parquet') p USING (a)", "read_parquet"),
        ("SELECT a FROM (SELECT a FROM read_json('x.json'))", "read_json"),
        ("WITH t AS (SELECT a FROM read_text('/etc/hosts')) SELECT a FROM t", "read_text"),
    ],
)
def test_table_functions_are_found_anywhere(con, query, function):
    assert function in parse_select(con, query).table_functions


def test_a_quoted_file_path_shows_up_as_a_table(con):
    lineage = parse_select(con, "SELECT a FROM '/etc/passwd'")
    assert lineage.tables == frozenset({"/etc/passwd"})


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; SELECT 2",
        "DROP TABLE base",
        "SELECT 1 UNION ALL SELECT 2",
        "SELEC carrier FROM base",
    ],
)
def test_only_one_plain_select_is_accepted(con, query):
    with pytest.raises((ValueError, duckdb.Error)):
        parse_select(con, query)


def test_parse_does_not_run_the_query(con):
    con.execute("CREATE TABLE base (a INTEGER)")
    parse_select(con, "SELECT a FROM base")
    # parsing a query that names a missing table succeeds: nothing is bound or executed
    assert parse_select(con, "SELECT a FROM no_such_table").tables == frozenset({"no_such_table"})
    assert con.execute("SELECT count(*) FROM base").fetchall() == [(0,)]


def test_lineage_folds_in_ctes(con):
    lineage = parse_select(
        con, "WITH a AS (SELECT carrier, arr_delay AS d FROM base) SELECT carrier, d AS x FROM a"
    )
    assert "arr_delay" in lineage.output_sources["x"]


def test_lineage_folds_in_nested_ctes(con):
    lineage = parse_select(
        con,
        "WITH a AS (SELECT arr_delay AS d FROM base), c AS (SELECT d AS e FROM a) SELECT e AS x FROM c",
    )
    assert "arr_delay" in lineage.output_sources["x"]


def test_lineage_follows_subqueries_in_from(con):
    lineage = parse_select(
        con,
        "SELECT b.carrier, s.x AS x FROM base b "
        "JOIN (SELECT carrier, avg(arr_delay) AS x FROM base GROUP BY carrier) s USING (carrier)",
    )
    assert "arr_delay" in lineage.output_sources["x"]
