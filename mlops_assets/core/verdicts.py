"""Gate verdicts: what every check concluded, kept in the warehouse so later steps can rely on it.

Dagster shows check results in the UI, but downstream steps (features, training) must not trust a
snapshot merely because a run once succeeded: they ask this log whether the exact content they are
about to read passed every gate. The log is append-only; the newest verdict per check counts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

EVALUATION_ASSET = "candidate_evaluation"


def evaluation_asset(model: str) -> str:
    """The asset whose blocking checks are a model's promotion gates (its key, as recorded in
    gate_results); its verdicts are keyed by the model's sha256."""
    return f"{model}/{EVALUATION_ASSET}"


@dataclass(frozen=True)
class RuleFailure:
    """One broken rule: the column, the rule, what was observed, what was expected, a few rows."""

    column: str | None
    rule: str
    observed: str
    expected: str
    samples: list[dict[str, Any]] = field(default_factory=list)

    def sentence(self) -> str:
        where = f"column {self.column!r}: " if self.column else ""
        return f"{where}{self.rule}: observed {self.observed}, expected {self.expected}"


@dataclass(frozen=True)
class GateResult:
    """The one verdict type: what a data gate, a feature check or a promotion gate concluded.

    Every check says whether it passed and a summary naming the numbers. Rule checks add the rules
    they saw broken (``failures``) and their statistics; a check that compares one measured value
    with a limit (every promotion gate) also says which ``metric``, the ``observed`` value, the
    ``threshold``, the reference it compared with (``champion_value``: the champion's, or the
    baseline's) and ``delta`` (observed minus that reference).
    """

    check: str
    passed: bool
    summary: str
    failures: list[RuleFailure] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    observed: float | None = None
    threshold: float | None = None
    champion_value: float | None = None
    delta: float | None = None

    @classmethod
    def from_failures(
        cls, check: str, failures: list[RuleFailure], ok_summary: str, stats: dict[str, Any] | None = None
    ) -> "GateResult":
        """Passed when nothing failed; otherwise a summary naming the first few broken rules."""
        if not failures:
            return cls(check, True, ok_summary, [], stats or {})
        summary = f"{len(failures)} rule(s) broken: " + "; ".join(f.sentence() for f in failures[:3])
        if len(failures) > 3:
            summary += f"; and {len(failures) - 3} more"
        return cls(check, False, summary, failures, stats or {})

    def measurement(self) -> dict[str, Any]:
        """metric, observed, threshold, champion_value, delta: plain JSON (NaN and infinity as None)."""
        return {"metric": self.metric, **{name: finite_or_none(getattr(self, name)) for name in _MEASURED}}

    def to_dict(self) -> dict[str, Any]:
        """The verdict as the promotion ledger and the registry tags keep it."""
        return {"gate": self.check, "passed": bool(self.passed), **self.measurement(), "reason": self.summary}

    def to_json(self) -> str:
        return json.dumps(
            {"summary": self.summary, "failures": [asdict(f) for f in self.failures], "stats": self.stats,
             **self.measurement()},
            default=str,
        )

    @classmethod
    def from_record(cls, check: str, passed: bool, summary: str, details_json: str) -> "GateResult":
        """A verdict read back from the log (``record``'s columns)."""
        details = json.loads(details_json)
        stats = details.get("stats") or {}
        measured = details
        if "metric" not in details and "metric" in stats:
            # logged before the one verdict type: a promotion gate's numbers were its stats
            measured, stats = stats, {}
        return cls(
            check, bool(passed), summary, [RuleFailure(**f) for f in details.get("failures") or []], stats,
            measured.get("metric"), *(measured.get(name) for name in _MEASURED),
        )


_MEASURED = ("observed", "threshold", "champion_value", "delta")


def finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Check:
    """A blocking rule check declared once: its check name (as Dagster shows it and the verdict log
    keys it), what passing means, and the rule that returns its verdict."""

    name: str
    description: str
    rule: Callable[..., GateResult]


def check_registry(*checks: Check) -> dict[str, Check]:
    """Checks by name, in the order they run; a name may be declared only once."""
    registry: dict[str, Check] = {}
    for check in checks:
        if check.name in registry:
            raise ValueError(f"check {check.name!r} is declared twice")
        registry[check.name] = check
    return registry


def record(
    con: Any,
    *,
    dataset: str,
    asset: str,
    day: dt.date | None,
    content_hash: str,
    result: GateResult,
    run_id: str | None,
    rules: str | None = None,
) -> None:
    """Append one verdict; ``rules`` fingerprints the spec rules it was given under."""
    con.execute(
        "INSERT INTO gate_results (dataset, asset, day, content_hash, check_name, passed, summary, details_json, "
        "checked_at, run_id, rules) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            dataset, asset, day, content_hash, result.check, result.passed, result.summary,
            result.to_json(), dt.datetime.now(dt.timezone.utc), run_id, rules,
        ],
    )


def results_of_run(
    con: Any, *, dataset: str, asset: str, day: dt.date | None, content_hash: str, run_id: str | None
) -> dict[str, GateResult]:
    """check name -> the newest result this run recorded for this exact content (none without a run id)."""
    if run_id is None:
        return {}
    day_clause = "day IS NULL" if day is None else "day = ?"
    rows = con.execute(
        f"""
        SELECT check_name, arg_max(passed, checked_at), arg_max(summary, checked_at), arg_max(details_json, checked_at)
        FROM gate_results
        WHERE dataset = ? AND asset = ? AND content_hash = ? AND run_id = ? AND {day_clause}
        GROUP BY check_name
        """,
        [dataset, asset, content_hash, run_id] + ([] if day is None else [day]),
    ).fetchall()
    found = {}
    for name, passed, summary, details in rows:
        stored = json.loads(details)
        failures = [RuleFailure(**failure) for failure in stored.get("failures", [])]
        found[name] = GateResult(name, passed, summary, failures, stored.get("stats", {}))
    return found


def latest_rules(con: Any, *, dataset: str, asset: str, day: dt.date, content_hash: str) -> dict[str, str | None]:
    """check name -> the rules fingerprint of its newest verdict for this exact content."""
    rows = con.execute(
        "SELECT check_name, arg_max(rules, checked_at) FROM gate_results "
        "WHERE dataset = ? AND asset = ? AND content_hash = ? AND day = ? GROUP BY check_name",
        [dataset, asset, content_hash, day],
    ).fetchall()
    return dict(rows)


def latest_verdicts(
    con: Any, *, dataset: str, asset: str, day: dt.date | None, content_hash: str
) -> dict[str, tuple[bool, str]]:
    """check name -> (passed, summary) of the newest verdict for this exact content."""
    day_clause = "day IS NULL" if day is None else "day = ?"
    params = [dataset, asset, content_hash] + ([] if day is None else [day])
    rows = con.execute(
        f"""
        SELECT check_name, arg_max(passed, checked_at), arg_max(summary, checked_at)
        FROM gate_results
        WHERE dataset = ? AND asset = ? AND content_hash = ? AND {day_clause}
        GROUP BY check_name
        """,
        params,
    ).fetchall()
    return {name: (passed, summary) for name, passed, summary in rows}


def unmet_gates(
    con: Any,
    *,
    dataset: str,
    asset: str,
    day: dt.date | None,
    content_hash: str,
    required: Sequence[str],
) -> list[str]:
    """Readable reasons why this content may not be used; empty when every gate passed."""
    unmet = unmet_gates_by_name(con, dataset=dataset, asset=asset, day=day, content_hash=content_hash,
                                required=required)
    return [f"{check}: {reason}" for check, reason in unmet.items()]


def unmet_gates_by_name(
    con: Any,
    *,
    dataset: str,
    asset: str,
    day: dt.date | None,
    content_hash: str,
    required: Sequence[str],
) -> dict[str, str]:
    """check name -> why it is not met (failed, or never run), in ``required`` order."""
    verdicts = latest_verdicts(con, dataset=dataset, asset=asset, day=day, content_hash=content_hash)
    unmet = {}
    for check in required:
        if check not in verdicts:
            unmet[check] = f"no verdict recorded for {content_hash[:12]}"
        elif not verdicts[check][0]:
            unmet[check] = verdicts[check][1]
    return unmet


def passed_hashes_sql(required: Sequence[str]) -> str:
    """SQL selecting (day, content_hash) that passed all ``required`` checks, for an asset.

    Parameters: dataset, asset, then each required check name.
    """
    placeholders = ", ".join("?" for _ in required)
    return f"""
        SELECT day, content_hash FROM (
            SELECT day, content_hash, check_name, arg_max(passed, checked_at) AS passed
            FROM gate_results
            WHERE dataset = ? AND asset = ? AND check_name IN ({placeholders})
            GROUP BY day, content_hash, check_name
        )
        GROUP BY day, content_hash
        HAVING count(*) = {len(required)} AND bool_and(passed)
    """
