"""A spec's SQL, checked before anything runs: each target bound (and its type checked) against an empty table of the
declared types, and the feature SQL bound in the sandbox it runs in, after static checks that name
each route to a forbidden column or a table it may not read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_assets.core.sql import first_line, parse_select, quote, select_lineage

if TYPE_CHECKING:
    from mlops_assets.core.spec import DatasetSpec
    from mlops_assets.core.spec_sections import TargetSpec


def sql_problems(spec: DatasetSpec) -> list[str]:
    """Bind the target rule against an empty table of the declared types, and the feature SQL in
    the sandbox it runs in (``core.sandbox``)."""
    import duckdb

    problems: list[str] = []
    con = duckdb.connect()
    try:
        columns_sql = ", ".join(f"{quote(n)} {c.type.duckdb_type}" for n, c in spec.columns.items())
        con.execute(f"CREATE TABLE base ({columns_sql})")
        for name, reference in spec.reference_tables.items():
            path = spec.resolve_path(reference.path)
            if not path.exists():
                problems.append(f"reference_tables.{name}.path: file not found: {path}")
        for index, target in enumerate(spec.targets):
            where = "target" if len(spec.targets) == 1 else f"targets[{index}]"
            try:
                lineage = parse_select(con, f"SELECT ({target.expression}) AS t FROM base")
                unknown = lineage.all_columns - set(spec.columns)
                unlabelled = lineage.all_columns - set(spec.label_columns) - set(spec.entity_key)
                if lineage.table_functions or lineage.tables - {"base"}:
                    problems.append(f"{where}.expression: may only read the row's own columns "
                                    "(no tables or table functions)")
                elif unknown:
                    problems.append(f"{where}.expression: unknown column(s) {sorted(unknown)}")
                elif spec.labels is not None and unlabelled:
                    problems.append(f"{where}.expression: reads {sorted(unlabelled)}, which the label files "
                                    "do not carry (a target reads labels.columns and the entity key)")
                else:
                    problem = _target_type_problem(con, target)
                    if problem:
                        problems.append(f"{where}.expression: {problem}")
            except (duckdb.Error, ValueError) as error:
                problems.append(f"{where}.expression: {first_line(error)}")
        if spec.timestamp.derive:
            problems.extend(_derived_timestamp_problems(con, spec))
        if spec.feature_sql and not any(p.startswith("reference_tables.") for p in problems):
            problems.extend(_feature_sql_problems(con, spec))
    finally:
        con.close()
    return problems


def _derived_timestamp_problems(con: Any, spec: DatasetSpec) -> list[str]:
    """The derived timestamp reads only the row's own columns and gives a date or a timestamp."""
    import duckdb

    from mlops_assets.core.spec_sections import type_family

    where, expression = "timestamp.derive", spec.timestamp.derive
    try:
        lineage = parse_select(con, f"SELECT ({expression}) AS t FROM base")
        if lineage.table_functions or lineage.tables - {"base"}:
            return [f"{where}: may only read the row's own columns (no tables or table functions)"]
        unknown = lineage.all_columns - set(spec.columns)
        if unknown:
            return [f"{where}: unknown column(s) {sorted(unknown)}"]
        result_type = con.execute(f"DESCRIBE SELECT ({expression}) AS t FROM base").fetchall()[0][1]
    except (duckdb.Error, ValueError) as error:
        return [f"{where}: {first_line(error)}"]
    if type_family(result_type) not in ("date", "timestamp"):
        return [f"{where}: gives {result_type}, not a date or timestamp (e.g. make_date(year, 1, 1))"]
    if spec.grain.within_day and type_family(result_type) == "date":
        return [f"{where}: gives a date, but {spec.grain.name} partitions need the time of day (give a timestamp, "
                "e.g. make_timestamp(year, month, day, hour, 0, 0))"]
    return []


def _target_type_problem(con: Any, target: TargetSpec) -> str | None:
    """The expression's own SQL type against the declared target type (a class may be anything
    that names a class: text, an integer code, a flag)."""
    from mlops_assets.core.spec_sections import type_family

    result_type = con.execute(f"DESCRIBE SELECT ({target.expression}) AS t FROM base").fetchall()[0][1]
    allowed = {"boolean": {"boolean"}, "numeric": {"integer", "float"},
               "class": {"integer", "text", "boolean"}}[target.type]
    return None if type_family(result_type) in allowed else f"gives {result_type}, not a {target.type} value"


def _feature_sql_problems(con: Any, spec: DatasetSpec) -> list[str]:
    """Static checks first (friendly errors naming the route), then the query is bound in the same
    sandbox it runs in at build time: only ``base`` without the outcome-side columns, and the
    reference tables, exist there."""
    import duckdb

    from mlops_assets.core.sandbox import FeatureSqlError, describe_feature_sql, open_sandbox

    try:
        lineage = parse_select(con, spec.feature_sql)
    except (duckdb.Error, ValueError) as error:
        return [f"feature_sql: {first_line(error)}"]
    problems = []
    if lineage.has_star:
        problems.append("feature_sql: name the output columns; SELECT * is not allowed")
    if lineage.table_functions:
        problems.append(
            f"feature_sql: table functions are not allowed ({', '.join(sorted(lineage.table_functions))}); "
            "declare files as reference_tables"
        )
    allowed_tables = {"base", *spec.reference_tables}
    unknown_tables = {t for t in lineage.tables if t not in allowed_tables} - _cte_names(spec.feature_sql, con)
    if unknown_tables:
        problems.append(f"feature_sql: unknown table(s) {sorted(unknown_tables)}; use base or reference_tables")
    if lineage.qualified_tables:
        problems.append(
            f"feature_sql: reads {sorted(lineage.qualified_tables)}; a schema-qualified name never resolves "
            "(feature SQL sees only base and reference_tables)"
        )
    for name, sources in forbidden_lineage(spec, lineage).items():
        where = f"features.{name}" if name in spec.features else "feature_sql"
        problems.append(f"{where}: derived from forbidden outcome-side column(s) {sorted(sources)} in feature_sql")
    if problems:
        return problems
    try:
        sandbox = open_sandbox(spec, with_reference_rows=False)
    except (duckdb.Error, FeatureSqlError) as error:
        return [f"reference_tables: {first_line(error)}"]
    try:
        described = describe_feature_sql(sandbox, spec)
    except FeatureSqlError as error:
        return [f"feature_sql: {first_line(error)}"]
    finally:
        sandbox.close()
    outputs = [row[0] for row in described]
    for key in spec.entity_key:
        if key not in outputs:
            problems.append(f"feature_sql: must return the entity key column {key!r} to join on")
    expected = set(spec.sql_feature_names)
    for name in outputs:
        if name in spec.entity_key:
            continue
        if name not in spec.features:
            problems.append(f"feature_sql: returns {name!r}, which is not declared under features")
        elif name in spec.columns or name in spec.trailing_rate_names:
            problems.append(f"feature_sql: returns {name!r}, which collides with a raw column or trailing rate")
    for name in sorted(expected - set(outputs)):
        problems.append(f"features.{name}: unknown column {name!r} (not a raw column, trailing rate or feature_sql output)")
    return problems


def forbidden_lineage(spec: DatasetSpec, lineage: Any = None) -> dict[str, set[str]]:
    """Which feature-SQL outputs read a forbidden column (by name, conservatively)."""
    if not spec.feature_sql:
        return {}
    if lineage is None:
        lineage = select_lineage(spec.feature_sql)
    forbidden = set(spec.forbidden_columns)
    found = {
        name: set(sources & forbidden)
        for name, sources in lineage.output_sources.items()
        if sources & forbidden
    }
    # A forbidden column read anywhere else (WHERE, JOIN ON, a filter inside a subquery) can still
    # shape which rows get which values, so feature SQL may not read one at all.
    unattributed = (lineage.all_columns & forbidden) - set().union(*found.values())
    if unattributed:
        found["(filters and joins)"] = unattributed
    return found


def _cte_names(query: str, con: Any) -> set[str]:
    import json

    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    node = tree["statements"][0]["node"]
    return {cte["key"] for cte in (node.get("cte_map") or {}).get("map", [])}
