"""What each section of a model card says, built from the card's facts as document blocks."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_assets.promote.card_document import (
    Block, BulletList, Code, Image, Inline, Paragraph, Rich, Section, Strong, Subheading, Table, Verdict,
)

if TYPE_CHECKING:
    from mlops_assets.promote.card import ModelCard

NOT_IN_GIT_NOTE = "not in a git checkout"
_MISSING_VALUE = "—"


def is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _format_statistic(value: float | dict[str, float] | None) -> str:
    """A label statistic: a number, or class frequencies as ``class share`` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {_format_number(share)}" for name, share in value.items())
    return _format_number(value)


def _format_number(value: float | int | None, *, signed: bool = False) -> str:
    """Four decimals for scores and rates; thousands separators for counts."""
    if value is None:
        return _MISSING_VALUE
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):+,}" if signed else f"{int(value):,}"
    number = float(value)
    if math.isnan(number):
        return "n/a"
    sign = "+" if signed else ""
    if number != 0 and abs(number) < 1e-4:
        return f"{number:{sign}.3e}"  # .4f would print a misleading 0.0000
    return f"{number:{sign}.4f}"


def _format_with_interval(
    value: float | None, low: float | None, high: float | None, *, signed: bool = False
) -> str:
    """Render ``0.7123 [0.7001, 0.7240]``; just the value when the interval is unknown."""
    formatted = _format_number(value, signed=signed)
    if low is None or high is None:
        return formatted
    return (
        f"{formatted} [{_format_number(low, signed=signed)}, {_format_number(high, signed=signed)}]"
    )


def _format_instant(value: date) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def _code_or(value: str | None, fallback: str) -> Rich:
    return fallback if is_blank(value) else Code(value)


def _comma_separated_code(names: Sequence[str]) -> tuple[Inline, ...]:
    inlines: list[Inline] = []
    for index, name in enumerate(names):
        if index:
            inlines.append(", ")
        inlines.append(Code(name))
    return tuple(inlines)


def _key_value_table(pairs: Sequence[tuple[str, Rich]]) -> Table:
    return Table(headers=("Field", "Value"), rows=tuple((key, value) for key, value in pairs))


def _mapping_table(
    mapping: Mapping[str, Any], headers: tuple[str, str], empty_note: str
) -> Block:
    """A sorted two-column table, so cards of successive versions diff cleanly."""
    if not mapping:
        return Paragraph(empty_note)
    return Table(
        headers=headers,
        rows=tuple((Code(str(key)), Code(str(mapping[key]))) for key in sorted(mapping)),
    )


# --- sections -----------------------------------------------------------------------------------


def _model_details_section(card: ModelCard) -> tuple[Block, ...]:
    details = card.model_details
    return (
        _key_value_table(
            (
                ("Name", _code_or(details.name, "not stated")),
                ("Version", _code_or(details.version, "unregistered")),
                ("Model type", details.model_type),
                ("Created at", _format_instant(details.created_at)),
                ("Training trigger", card.trigger_reason or "not recorded"),
            )
        ),
        Subheading("Framework versions"),
        _mapping_table(
            details.framework_versions, ("Package", "Version"), "No framework versions recorded."
        ),
        Subheading("Hyperparameters"),
        _mapping_table(
            details.hyperparameters, ("Parameter", "Value"), "No hyperparameters recorded."
        ),
    )


def _intended_use_section(card: ModelCard) -> tuple[Block, ...]:
    if is_blank(card.intended_use):
        return (Paragraph("Not stated."),)
    return (Paragraph(card.intended_use.strip()),)


def _limitations_section(card: ModelCard) -> tuple[Block, ...]:
    stated = tuple(" ".join(item.split()) for item in card.limitations if not is_blank(item))
    if not stated:
        return (Paragraph("No limitations were stated."),)
    return (BulletList(stated),)


def _training_data_section(card: ModelCard) -> tuple[Block, ...]:
    data = card.training_data
    split_names = list(data.rows_per_split) + [
        name for name in data.label_rate_per_split if name not in data.rows_per_split
    ]
    splits = Table(
        headers=("Split", "Rows", data.label_statistic),
        rows=tuple(
            (
                name,
                _format_number(data.rows_per_split.get(name)),
                _format_statistic(data.label_rate_per_split.get(name)),
            )
            for name in split_names
        ),
        numeric_columns=frozenset({1, 2}),
    )
    features: Block = (
        Paragraph(_comma_separated_code(data.features))
        if data.features
        else Paragraph("No features recorded.")
    )
    return (
        _key_value_table(
            (
                ("Snapshot hash", _code_or(data.snapshot_hash, "not recorded")),
                ("Date range", f"{_format_instant(data.start)} to {_format_instant(data.end)}"),
            )
        ),
        Subheading("Splits"),
        splits if split_names else Paragraph("No splits recorded."),
        Subheading(f"Features ({len(data.features)})"),
        features,
    )


def _metrics_section(card: ModelCard) -> tuple[Block, ...]:
    if not card.metrics:
        return (Paragraph("No metrics were recorded."),)
    forward = {row.metric: row for row in card.oot_metrics}
    explained = (Paragraph(card.gated_on),) if card.gated_on else ()
    return (
        Table(
            headers=("Metric", "In-period test [bootstrap interval]", "Out-of-time test [bootstrap interval]"),
            rows=tuple(
                (row.metric, _format_with_interval(row.value, row.low, row.high),
                 _format_with_interval(forward[row.metric].value, forward[row.metric].low, forward[row.metric].high)
                 if row.metric in forward else "not held out")
                for row in card.metrics
            ),
            numeric_columns=frozenset({1, 2}),
        ),
        *explained,
    )


def _champion_comparison_section(card: ModelCard) -> tuple[Block, ...]:
    if not card.champion_comparison:
        return (Paragraph(Strong(card.champion_note or "No champion comparison was recorded.")),)
    return (
        Table(
            headers=("Metric", "Candidate", "Champion", "Delta [bootstrap interval]"),
            rows=tuple(
                (
                    row.metric,
                    _format_number(row.candidate),
                    _format_number(row.champion),
                    _format_with_interval(row.delta, row.delta_low, row.delta_high, signed=True),
                )
                for row in card.champion_comparison
            ),
            numeric_columns=frozenset({1, 2, 3}),
        ),
        Paragraph("Delta is candidate minus champion."),
    )


def _slices_section(card: ModelCard) -> tuple[Block, ...]:
    if not card.slices:
        return (Paragraph("No slices were evaluated."),)

    def cells(row) -> tuple[str, ...]:
        reason = row.not_gated_reason
        if reason is not None:
            why_not = "one class" if row.auc is None else "too few rows to gate"
            return (f"n/a ({reason})", _MISSING_VALUE, _MISSING_VALUE, f"no: {why_not}")
        return (_format_number(row.auc), _format_number(row.champion_auc),
                _format_number(row.auc_delta, signed=True), "yes")

    blocks: tuple[Block, ...] = (
        Table(
            headers=("Slice", "Value", "Rows", card.slice_metric, f"Champion {card.slice_metric}",
                     f"{card.slice_metric} delta", "Gated"),
            rows=tuple((row.slice, row.value, _format_number(row.rows), *cells(row)) for row in card.slices),
            numeric_columns=frozenset({2, 3, 4, 5}),
        ),
    )
    if any(not row.gated for row in card.slices):
        blocks += (Paragraph(
            "Slices not gated have fewer test rows than min_slice_rows, or one class: "
            "their AUC is noise, so it is not shown and no gate reads it."
        ),)
    return blocks


def _gate_verdicts_section(card: ModelCard) -> tuple[Block, ...]:
    verdicts = card.gate_verdicts
    if not verdicts:
        return (Paragraph("No gate verdicts were recorded."),)
    failed = [verdict.check for verdict in verdicts if not verdict.passed]
    summary = f" — {len(verdicts) - len(failed)} of {len(verdicts)} gates passed" + (
        f"; failed: {', '.join(failed)}." if failed else "."
    )
    blocks: list[Block] = [
        Paragraph((Strong("Overall:"), " ", Verdict(not failed), summary)),
        Table(
            headers=(
                "Gate",
                "Verdict",
                "Metric",
                "Observed",
                "Threshold",
                "Champion",
                "Delta",
                "Reason",
            ),
            rows=tuple(
                (
                    verdict.check,
                    Verdict(verdict.passed),
                    verdict.metric or _MISSING_VALUE,
                    _format_number(verdict.observed),
                    _format_number(verdict.threshold),
                    _format_number(verdict.champion_value),
                    _format_number(verdict.delta, signed=True),
                    verdict.summary,
                )
                for verdict in verdicts
            ),
            numeric_columns=frozenset({3, 4, 5, 6}),
        ),
    ]
    if card.overrides:
        blocks += [
            Subheading("Overrides"),
            Table(
                headers=("Gate", "Who", "Why", "Until"),
                rows=tuple(
                    (override.gate or _MISSING_VALUE, override.who, override.why, _format_instant(override.until))
                    for override in card.overrides
                ),
            ),
        ]
    return tuple(blocks)


def _lineage_section(card: ModelCard) -> tuple[Block, ...]:
    lineage = card.lineage
    return (
        _key_value_table(
            (
                ("Dagster run id", _code_or(lineage.dagster_run_id, "not recorded")),
                ("MLflow run id", _code_or(lineage.mlflow_run_id, "not recorded")),
                ("MLflow model URI", _code_or(lineage.mlflow_model_uri, "not registered")),
                ("Git commit", _code_or(lineage.git_commit, NOT_IN_GIT_NOTE)),
            )
        ),
        Subheading("Code versions"),
        _mapping_table(
            lineage.code_versions, ("Asset", "Code version"), "No code versions recorded."
        ),
    )


def _plots_section(card: ModelCard) -> tuple[Block, ...]:
    if not card.plots:
        return (Paragraph("No plots were produced."),)
    blocks: list[Block] = []
    for name, path in card.plots.items():
        blocks += [Subheading(name), Image(name, Path(path))]
    return tuple(blocks)


_SECTION_BUILDERS: dict[str, Callable[[ModelCard], tuple[Block, ...]]] = {
    "Model details": _model_details_section,
    "Intended use": _intended_use_section,
    "Limitations": _limitations_section,
    "Training data": _training_data_section,
    "Metrics": _metrics_section,
    "Champion comparison": _champion_comparison_section,
    "Slices": _slices_section,
    "Gate verdicts": _gate_verdicts_section,
    "Lineage": _lineage_section,
    "Plots": _plots_section,
}
# The card's section headings, in the order both renderers emit them.
SECTIONS: tuple[str, ...] = tuple(_SECTION_BUILDERS)


def card_sections(card: ModelCard) -> tuple[Section, ...]:
    return tuple(Section(title, build(card)) for title, build in _SECTION_BUILDERS.items())
