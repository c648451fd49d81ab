"""Checks on a day of features: the declared schema and ranges, and no target leakage.

Leakage is impossible by construction for feature SQL (it runs where the outcome-side columns do
not exist, see ``core.sandbox``), and still checked three ways on what was stored, because a raw
column can be the outcome under another name: no forbidden column is in the table; no feature-SQL
output reads a forbidden column by name (static lineage); and no single feature predicts the label
almost perfectly, numeric (rank AUC) or categorical (its categories ordered by label rate).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_assets.features.build import features_table
from mlops_assets.ingest.labels import labelled_rows_sql
from mlops_assets.core.spec import DAY_COLUMN, DatasetSpec
from mlops_assets.core.spec_sections import FeatureKind
from mlops_assets.core.spec_sql import forbidden_lineage
from mlops_assets.core.sql import quote
from mlops_assets.core.verdicts import Check, GateResult, RuleFailure, check_registry

FEATURES_ASSET = "features"
MIN_ROWS_FOR_SEPARATION_TEST = 200
# A category scores only with this many rows of its own; rarer values are pooled into one, so an
# ID-like feature (one value per row) cannot separate the label by chance: a pure category of 20
# rows at a 20% base rate happens with probability 0.8**20, about 1%, and near-perfect separation
# needs most rows in such categories.
MIN_ROWS_PER_CATEGORY = 20
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN",
                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def check_feature_schema(con: Any, spec: DatasetSpec, day: dt.date) -> GateResult:
    """Every declared feature is present, of its kind, inside its range and allowed set, and under
    its null-rate ceiling."""
    columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE {features_table(spec)}").fetchall()}
    where = f"{quote(DAY_COLUMN)} = {spec.grain.literal_sql(day)}"
    rows = con.execute(f"SELECT count(*) FROM {features_table(spec)} WHERE {where}").fetchall()[0][0]
    failures: list[RuleFailure] = []
    if rows == 0:
        failures.append(RuleFailure(None, "rows present", "no feature rows", f"rows for {spec.grain.label(day)}"))
    # (feature, condition, expected): a null rate where the condition is None, else a count outside
    measured: list[tuple[str, str | None, str | None]] = []
    for name, feature in spec.features.items():
        if name not in columns:
            failures.append(RuleFailure(name, "feature present", "missing", f"a {feature.kind.value} column"))
            continue
        kind = columns[name]
        is_numeric = kind.startswith(NUMERIC_TYPES)
        if feature.kind is FeatureKind.NUMERIC and not is_numeric:
            failures.append(RuleFailure(name, "feature kind", f"type {kind}", "a numeric type"))
            continue
        if feature.kind is FeatureKind.CATEGORICAL and kind != "VARCHAR":
            failures.append(RuleFailure(name, "feature kind", f"type {kind}", "VARCHAR (categorical)"))
            continue
        column = quote(name)
        measured.append((name, None, None))
        if feature.min is not None:
            measured.append((name, f"{column} < {float(feature.min)!r}", f">= {feature.min:g}"))
        if feature.max is not None:
            measured.append((name, f"{column} > {float(feature.max)!r}", f"<= {feature.max:g}"))
        if feature.allowed is not None:
            allowed = ", ".join("'" + str(v).replace("'", "''") + "'" for v in feature.allowed)
            measured.append((name, f"CAST({column} AS VARCHAR) NOT IN ({allowed})", f"one of {feature.allowed}"))
    if rows and measured:
        # every feature's null rate and out-of-range counts in one scan of the day
        values = con.execute(
            "SELECT " + ", ".join(f"avg(({quote(name)} IS NULL)::DOUBLE)" if condition is None
                                  else f"count(*) FILTER (WHERE {condition})" for name, condition, _ in measured)
            + f" FROM {features_table(spec)} WHERE {where}"
        ).fetchall()[0]
        for (name, condition, expected), value in zip(measured, values):
            feature = spec.features[name]
            if condition is None:
                ceiling = feature.max_null_rate if feature.max_null_rate is not None else spec.quality.default_max_null_rate
                if value > ceiling:
                    failures.append(
                        RuleFailure(name, "null rate ceiling", f"{value:.2%} nulls", f"at most {ceiling:.2%}",
                                    _samples(con, spec, where, f"{quote(name)} IS NULL", name))
                    )
            elif value:
                failures.append(
                    RuleFailure(name, "feature range", f"{value} value(s) outside", expected,
                                _samples(con, spec, where, condition, name))
                )
    summary = f"{len(spec.features)} features of {rows} rows match the spec"
    return GateResult.from_failures("check_feature_schema", failures, summary, {"rows": rows})


def check_no_leakage(con: Any, spec: DatasetSpec, day: dt.date) -> GateResult:
    columns = {row[0] for row in con.execute(f"DESCRIBE {features_table(spec)}").fetchall()}
    failures = [
        RuleFailure(name, "no forbidden column", "present in the feature table", "absent")
        for name in spec.forbidden_columns
        if name in columns
    ]
    for name, sources in sorted(forbidden_lineage(spec).items()):
        failures.append(
            RuleFailure(name, "not derived from a forbidden column", f"feature_sql reads {sorted(sources)}",
                        "no outcome-side input")
        )
    separations = _single_feature_separation(con, spec, day, columns)
    ceiling = spec.quality.leakage_max_single_feature_auc
    for name, auc in separations.items():
        if auc >= ceiling:
            categorical = name in spec.features and spec.features[name].kind is FeatureKind.CATEGORICAL
            how = (
                f"from its categories ordered by label rate (values with fewer than {MIN_ROWS_PER_CATEGORY} "
                "rows pooled)" if categorical else "on its own"
            )
            failures.append(
                RuleFailure(name, "no near-perfect single-feature predictor", f"AUC {auc:.4f} {how}",
                            f"below {ceiling:g} (quality.leakage_max_single_feature_auc)")
            )
    stats = {f"single_feature_auc.{k}": round(v, 4) for k, v in separations.items()}
    return GateResult.from_failures("check_no_leakage", failures, "no forbidden column or outcome proxy among the features", stats)


# The feature checks, in the order they run: rule(con, spec, day) -> GateResult.
FEATURE_CHECKS = check_registry(
    Check("check_feature_schema",
          "Every declared feature is present, of its kind, in its range and under its null ceiling.",
          check_feature_schema),
    Check("check_no_leakage",
          "No outcome-side column (or a column derived from one, by feature-SQL lineage or a "
          "near-perfect single-feature AUC) reaches the feature set.",
          check_no_leakage),
)
# The feature checks that read the outcomes. With a label feed a partition's features are built and
# checked before its outcomes exist, so these are judged again when its labels land.
OUTCOME_CHECKS = {name: FEATURE_CHECKS[name] for name in ("check_no_leakage",)}


SEPARATION_ROWS = "__separation_rows"


def _single_feature_separation(con: Any, spec: DatasetSpec, day: dt.date, columns: set[str]) -> dict[str, float]:
    """max(AUC, 1 - AUC) against the label of each numeric feature alone (rank-based, in SQL) and
    of each feature's null indicator. The label is a boolean target (the model's, else the dataset's
    first boolean one): the features are shared by every model of the dataset, and a separation AUC
    is defined against a yes/no outcome only. A dataset without one is checked by lineage alone."""
    boolean = [target for target in (spec.target, *spec.targets) if target.type == "boolean"]
    if not boolean:
        return {}
    label = quote(boolean[0].name)
    # with a label feed only the rows whose outcome has landed can be scored (often none on the day
    # the features are built: then the lineage check is what holds)
    scored = [name for name in spec.features if name in columns]
    # the day's labelled rows once, in a temp table: each feature's statistic below then reads the
    # day alone instead of joining every day's features and labels again
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {SEPARATION_ROWS} AS SELECT {', '.join([label, *map(quote, scored)])} "
        f"FROM ({labelled_rows_sql(con, spec)}) "
        f"WHERE {quote(DAY_COLUMN)} = {spec.grain.literal_sql(day)} AND {label} IS NOT NULL"
    )
    try:
        return _separations(con, spec, scored, label)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {SEPARATION_ROWS}")


def _separations(con: Any, spec: DatasetSpec, columns: list[str], label: str) -> dict[str, float]:
    rows = SEPARATION_ROWS
    total, positives = con.execute(f"SELECT count(*), coalesce(sum({label}), 0) FROM {rows}").fetchall()[0]
    negatives = total - positives
    if total < MIN_ROWS_FOR_SEPARATION_TEST or not positives or not negatives:
        return {}
    result = {}
    # Whether a value is missing can encode the label as well as the value can (a column that is
    # only filled in for late flights): score the null indicator of every feature too.
    null_rates = con.execute("SELECT " + ", ".join(
        f"avg(({quote(name)} IS NULL)::DOUBLE) FILTER (WHERE {label} = 1), "
        f"avg(({quote(name)} IS NULL)::DOUBLE) FILTER (WHERE {label} = 0)" for name in columns
    ) + f" FROM {rows}").fetchall()[0] if columns else ()
    for index, name in enumerate(columns):
        null_given_pos, null_given_neg = null_rates[2 * index], null_rates[2 * index + 1]
        null_auc = 0.5 + (null_given_pos - null_given_neg) / 2
        if abs(null_auc - 0.5) > 1e-12:
            result[f"{name} IS NULL"] = max(null_auc, 1 - null_auc)
    separations = {}
    for name in columns:
        if spec.features[name].kind is FeatureKind.CATEGORICAL:
            auc = _categorical_separation(con, name, rows, label)
            if auc is not None:
                separations[name] = auc
    numeric = [name for name in columns if spec.features[name].kind is FeatureKind.NUMERIC]
    if numeric:
        # Mann-Whitney U of every numeric feature in one query, over its non-null values (their
        # missingness is scored above): the features as (feature, value) rows, ranked per feature
        as_values = ", ".join(f"CAST({quote(name)} AS DOUBLE) AS {quote(name)}" for name in numeric)
        sums = con.execute(
            f"""
            WITH long AS (
                UNPIVOT (SELECT {label} AS y, {as_values} FROM {rows})
                ON {', '.join(quote(name) for name in numeric)} INTO NAME feature VALUE v
            ), ranked AS (
                SELECT feature, y, rank() OVER (PARTITION BY feature ORDER BY v) AS low,
                       count(*) OVER (PARTITION BY feature, v) AS ties
                FROM long
            )
            SELECT feature, sum(CASE WHEN y = 1 THEN low + (ties - 1) / 2.0 END), sum(y), count(*)
            FROM ranked GROUP BY feature
            """
        ).fetchall()
        by_feature = {feature: (rank_sum, pos, n) for feature, rank_sum, pos, n in sums}
        for name in numeric:  # in the spec's order; a feature with no value at all has no row
            rank_sum, pos, n = by_feature.get(name, (None, 0, 0))
            if not pos or pos == n:
                continue
            auc = (rank_sum - pos * (pos + 1) / 2) / (pos * (n - pos))
            separations[name] = max(auc, 1 - auc)
    result.update((name, separations[name]) for name in columns if name in separations)
    return result


def _categorical_separation(con: Any, name: str, rows: str, label: str) -> float | None:
    """max(AUC, 1 - AUC) of a categorical feature scored by its own categories' label rates (the
    best any model can do with it alone), rare values pooled (MIN_ROWS_PER_CATEGORY); ``label`` is
    the quoted boolean target."""
    column = quote(name)
    groups = con.execute(
        f"""
        WITH categories AS (
            SELECT {column} AS value, count(*) AS n, sum({label}) AS positives
            FROM {rows} GROUP BY ALL
        )
        SELECT n >= {MIN_ROWS_PER_CATEGORY} OR value IS NULL AS scored,
               CASE WHEN n >= {MIN_ROWS_PER_CATEGORY} OR value IS NULL THEN value END AS bucket,
               sum(n), sum(positives)
        FROM categories GROUP BY ALL
        """
    ).fetchall()
    by_rate: dict[float, list[int]] = {}
    for _scored, _bucket, n, positives in groups:
        counts = by_rate.setdefault(positives / n, [0, 0])
        counts[0] += int(positives)
        counts[1] += int(n - positives)
    total_pos = sum(p for p, _ in by_rate.values())
    total_neg = sum(n for _, n in by_rate.values())
    if len(by_rate) < 2 or not total_pos or not total_neg:
        return None
    wins, negatives_below = 0.0, 0
    for rate in sorted(by_rate):
        positives, negatives = by_rate[rate]
        wins += positives * (negatives_below + negatives / 2)
        negatives_below += negatives
    auc = wins / (total_pos * total_neg)
    return max(auc, 1 - auc)


def _samples(con: Any, spec: DatasetSpec, where: str, condition: str, column: str) -> list[dict]:
    keys = [quote(c) for c in spec.entity_key]
    cursor = con.execute(
        f"SELECT {', '.join(keys)}, {quote(column)} FROM {features_table(spec)} "
        f"WHERE {where} AND {condition} LIMIT {spec.quality.failure_samples}"
    )
    names = [*spec.entity_key, column]
    return [{n: (v if isinstance(v, (int, float, str, type(None))) else str(v)) for n, v in zip(names, row)}
            for row in cursor.fetchall()]
