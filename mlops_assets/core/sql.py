"""SQL safety and lineage helpers shared by the spec validator and the SQL builders.

Identifiers that come from a dataset spec are validated here before they reach any SQL string,
and user-written feature SQL is parsed with DuckDB's own parser (``json_serialize_sql``) so that
lineage (which input columns feed which output column) is known without running the query.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class UnsafeIdentifierError(ValueError):
    """An identifier from configuration that would not be safe to put into SQL."""


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier; raise naming the offender otherwise."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        raise UnsafeIdentifierError(
            f"{what} {name!r} is not a plain identifier "
            "(letters, digits and underscores, not starting with a digit, at most 63 characters)"
        )
    return name


def quote(name: str) -> str:
    """Quote a validated identifier for DuckDB."""
    return '"' + validate_identifier(name) + '"'


def sql_identifier(name: str) -> str:
    """Quote any name (a reference file's column header) for DuckDB; for names not from a spec."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A SQL string literal; for values (paths, timezones) that DuckDB cannot take as parameters."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class SelectLineage:
    """What a SELECT statement produces and reads, from DuckDB's parse tree."""

    output_sources: dict[str, frozenset[str]]  # output column -> input column names it reads
    has_star: bool
    table_functions: frozenset[str]
    tables: frozenset[str]
    qualified_tables: frozenset[str]  # tables named with a schema or catalog: never a CTE
    all_columns: frozenset[str]  # every column name referenced anywhere (WHERE, JOIN ON, subqueries)


@functools.lru_cache(maxsize=256)
def select_lineage(query: str) -> SelectLineage:
    """``parse_select`` on a private connection, remembered per query text: the parse depends on the
    text alone, and the gates ask for the same spec's lineage on every partition they check."""
    import duckdb

    con = duckdb.connect()
    try:
        return parse_select(con, query)
    finally:
        con.close()


def parse_select(con: Any, query: str) -> SelectLineage:
    """Parse one SELECT with DuckDB's parser and extract per-output-column lineage.

    Column references are reduced to their last name part (``b.arr_delay`` -> ``arr_delay``), so a
    check on forbidden names is conservative: any reference with that name counts.
    """
    serialized = con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0]
    tree = json.loads(serialized)
    if tree.get("error"):
        raise ValueError(f"cannot parse SQL: {tree.get('error_message', 'unknown error')}")
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise ValueError(f"expected exactly one SELECT statement, found {len(statements)}")
    node = statements[0]["node"]
    if node.get("type") != "SELECT_NODE":
        raise ValueError("expected a plain SELECT (no UNION or other set operation at the top level)")

    output_sources: dict[str, frozenset[str]] = {}
    has_star = False
    for position, expression in enumerate(node.get("select_list", [])):
        if expression.get("class") == "STAR":
            has_star = True
            continue
        alias = expression.get("alias") or _implicit_alias(expression) or f"column{position}"
        output_sources[alias] = frozenset(_column_refs(expression))

    table_functions = frozenset(
        item.get("function", {}).get("function_name", "?")
        for item in _walk(tree)
        if isinstance(item, dict) and item.get("type") == "TABLE_FUNCTION"
    )
    tables = frozenset(
        item.get("table_name", "")
        for item in _walk(tree)
        if isinstance(item, dict) and item.get("type") == "BASE_TABLE"
    )
    qualified_tables = frozenset(
        ".".join(part for part in (item.get("catalog_name"), item.get("schema_name"), item.get("table_name")) if part)
        for item in _walk(tree)
        if isinstance(item, dict) and item.get("type") == "BASE_TABLE"
        and (item.get("catalog_name") or item.get("schema_name"))
    )
    # Columns of CTEs and subqueries feed the outer query: fold their lineage in by column name,
    # through any depth of nesting.
    derived = _derived_lineage(tree, node)
    output_sources = {name: _closure(refs, derived) for name, refs in output_sources.items()}
    all_columns = frozenset(_column_refs(tree))
    return SelectLineage(output_sources, has_star, table_functions, tables, qualified_tables, all_columns)


def _derived_lineage(tree: Any, top: dict) -> dict[str, frozenset[str]]:
    """alias -> column names it reads, for every SELECT nested anywhere below the top one."""
    lineage: dict[str, frozenset[str]] = {}
    for item in _walk(tree):
        if not isinstance(item, dict) or item.get("type") != "SELECT_NODE" or item is top:
            continue
        for position, expression in enumerate(item.get("select_list", [])):
            if expression.get("class") == "STAR":
                continue
            alias = expression.get("alias") or _implicit_alias(expression) or f"column{position}"
            lineage[alias] = lineage.get(alias, frozenset()) | frozenset(_column_refs(expression))
    return lineage


def _closure(refs: frozenset[str], derived: dict[str, frozenset[str]]) -> frozenset[str]:
    seen: set[str] = set()
    pending = list(refs)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(derived.get(name, ()))
    return frozenset(seen)


def _implicit_alias(expression: dict) -> str | None:
    if expression.get("class") == "COLUMN_REF":
        return expression["column_names"][-1]
    return None


def _column_refs(tree: Any) -> Iterator[str]:
    for item in _walk(tree):
        if isinstance(item, dict) and item.get("class") == "COLUMN_REF":
            yield item["column_names"][-1]


def _walk(tree: Any) -> Iterator[Any]:
    stack = [tree]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (DuckDB appends context lines), or its type's name."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
