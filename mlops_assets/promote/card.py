"""Model cards rendered to markdown and standalone HTML from facts collected upstream.

The card states only what it is handed: the caller gathers the facts (dataset spec, training
snapshot, evaluation, gate verdicts, lineage) from upstream assets. Nothing here computes a metric
or decides a gate, so the card cannot disagree with the assets it describes.

Both renderers share one document model (sections of paragraphs, tables, lists and images), so
the markdown shown in Dagster's UI and the HTML file on disk always carry the same content.
"""

from __future__ import annotations

import html
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlops_assets.core.verdicts import GateResult
from mlops_assets.evaluate.evaluation import NO_CHAMPION_NOTE
from mlops_assets.core.files import write_text_atomically
from mlops_assets.evaluate.plots import png_data_uri, png_markdown

NOT_IN_GIT_NOTE = "not in a git checkout"
MARKDOWN_FILE_NAME = "model_card.md"
HTML_FILE_NAME = "model_card.html"

_MISSING_VALUE = "—"


# --- the card -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelDetails:
    """What the model is; ``version`` is None until the registry assigns one."""

    name: str
    version: str | None
    model_type: str
    created_at: datetime
    framework_versions: dict[str, str] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingData:
    """The training snapshot, identified by its content hash so the card pins the exact data."""

    snapshot_hash: str
    start: date
    end: date
    rows_per_split: dict[str, int]
    label_rate_per_split: dict[str, float]
    features: list[str]


@dataclass(frozen=True)
class MetricRow:
    """A candidate metric with its bootstrap interval (``low``/``high`` None when not computed)."""

    metric: str
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ChampionComparisonRow:
    """A paired candidate-vs-champion metric; ``delta`` is candidate minus champion."""

    metric: str
    candidate: float
    champion: float
    delta: float
    delta_low: float | None = None
    delta_high: float | None = None


@dataclass(frozen=True)
class SliceRow:
    """Quality on one slice (e.g. slice ``carrier``, value ``UA``); AUC is None for one-class slices.

    ``gated`` is False for a slice with fewer test rows than ``min_slice_rows`` or with one class:
    no gate reads it, and its AUC (1.000 on 4 rows) is noise, so the card does not print it."""

    slice: str
    value: str
    rows: int
    auc: float | None
    champion_auc: float | None = None
    auc_delta: float | None = None
    gated: bool = True

    @property
    def not_gated_reason(self) -> str | None:
        if self.gated:
            return None
        return "one class" if self.auc is None else f"{self.rows:,} rows"


@dataclass(frozen=True)
class Override:
    """A person accepting a failed gate, for a limited time."""

    who: str
    why: str
    until: date
    gate: str = ""


@dataclass(frozen=True)
class Lineage:
    """Where the model came from; ``git_commit`` is None when the code was not in a git checkout."""

    dagster_run_id: str
    mlflow_run_id: str
    mlflow_model_uri: str | None
    code_versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """All facts a card shows, built once from upstream assets; frozen so nobody patches it later.

    Frozen guards attribute assignment only: the list and dict fields are not deep-frozen.

    ``champion_comparison`` and ``slices`` have no defaults on purpose: an empty comparison makes
    the card say that no champion existed, which the caller must state, not forget.
    """

    model_details: ModelDetails
    intended_use: str
    limitations: list[str]
    training_data: TrainingData
    metrics: list[MetricRow]
    champion_comparison: list[ChampionComparisonRow]
    slices: list[SliceRow]
    gate_verdicts: list[GateResult]
    lineage: Lineage
    overrides: list[Override] = field(default_factory=list)
    trigger_reason: str | None = None
    plots: dict[str, Path] = field(default_factory=dict)
    champion_note: str = NO_CHAMPION_NOTE  # why there is no comparison, when there is none


# --- completeness -------------------------------------------------------------------------------


def _is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


_EMPTINESS_CHECKS: dict[str, Callable[[ModelCard], bool]] = {
    "Model details": lambda card: (
        _is_blank(card.model_details.name) or _is_blank(card.model_details.model_type)
    ),
    "Intended use": lambda card: _is_blank(card.intended_use),
    "Limitations": lambda card: all(_is_blank(item) for item in card.limitations),
    "Training data": lambda card: (
        _is_blank(card.training_data.snapshot_hash)
        or not card.training_data.rows_per_split
        or not card.training_data.features
    ),
    "Metrics": lambda card: not card.metrics,
    "Gate verdicts": lambda card: not card.gate_verdicts,
    "Lineage": lambda card: (
        _is_blank(card.lineage.dagster_run_id) or _is_blank(card.lineage.mlflow_run_id)
    ),
}
REQUIRED_SECTIONS: tuple[str, ...] = tuple(_EMPTINESS_CHECKS)


def missing_sections(card: ModelCard) -> list[str]:
    """Names of required sections that are empty, in card order; [] means the card is complete.

    Backs the blocking "card complete" check: a card without intended use, metrics, gate
    verdicts, a pinned snapshot or run ids cannot support a promotion decision.
    """
    return [name for name, is_empty in _EMPTINESS_CHECKS.items() if is_empty(card)]


# --- document model shared by both renderers ----------------------------------------------------


@dataclass(frozen=True)
class _Code:
    text: str


@dataclass(frozen=True)
class _Strong:
    text: str


@dataclass(frozen=True)
class _Verdict:
    passed: bool


_Inline = str | _Code | _Strong | _Verdict
_Rich = _Inline | tuple[_Inline, ...]


@dataclass(frozen=True)
class _Paragraph:
    content: _Rich


@dataclass(frozen=True)
class _Subheading:
    text: str


@dataclass(frozen=True)
class _Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[_Rich, ...], ...]
    numeric_columns: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _BulletList:
    items: tuple[_Rich, ...]


@dataclass(frozen=True)
class _Image:
    name: str
    path: Path


_Block = _Paragraph | _Subheading | _Table | _BulletList | _Image


@dataclass(frozen=True)
class _Section:
    title: str
    blocks: tuple[_Block, ...]


# --- formatting ---------------------------------------------------------------------------------


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


def _code_or(value: str | None, fallback: str) -> _Rich:
    return fallback if _is_blank(value) else _Code(value)


def _comma_separated_code(names: Sequence[str]) -> tuple[_Inline, ...]:
    inlines: list[_Inline] = []
    for index, name in enumerate(names):
        if index:
            inlines.append(", ")
        inlines.append(_Code(name))
    return tuple(inlines)


def _key_value_table(pairs: Sequence[tuple[str, _Rich]]) -> _Table:
    return _Table(headers=("Field", "Value"), rows=tuple((key, value) for key, value in pairs))


def _mapping_table(
    mapping: Mapping[str, Any], headers: tuple[str, str], empty_note: str
) -> _Block:
    """A sorted two-column table, so cards of successive versions diff cleanly."""
    if not mapping:
        return _Paragraph(empty_note)
    return _Table(
        headers=headers,
        rows=tuple((_Code(str(key)), _Code(str(mapping[key]))) for key in sorted(mapping)),
    )


# --- sections -----------------------------------------------------------------------------------


def _model_details_section(card: ModelCard) -> tuple[_Block, ...]:
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
        _Subheading("Framework versions"),
        _mapping_table(
            details.framework_versions, ("Package", "Version"), "No framework versions recorded."
        ),
        _Subheading("Hyperparameters"),
        _mapping_table(
            details.hyperparameters, ("Parameter", "Value"), "No hyperparameters recorded."
        ),
    )


def _intended_use_section(card: ModelCard) -> tuple[_Block, ...]:
    if _is_blank(card.intended_use):
        return (_Paragraph("Not stated."),)
    return (_Paragraph(card.intended_use.strip()),)


def _limitations_section(card: ModelCard) -> tuple[_Block, ...]:
    stated = tuple(" ".join(item.split()) for item in card.limitations if not _is_blank(item))
    if not stated:
        return (_Paragraph("No limitations were stated."),)
    return (_BulletList(stated),)


def _training_data_section(card: ModelCard) -> tuple[_Block, ...]:
    data = card.training_data
    split_names = list(data.rows_per_split) + [
        name for name in data.label_rate_per_split if name not in data.rows_per_split
    ]
    splits = _Table(
        headers=("Split", "Rows", "Label rate"),
        rows=tuple(
            (
                name,
                _format_number(data.rows_per_split.get(name)),
                _format_number(data.label_rate_per_split.get(name)),
            )
            for name in split_names
        ),
        numeric_columns=frozenset({1, 2}),
    )
    features: _Block = (
        _Paragraph(_comma_separated_code(data.features))
        if data.features
        else _Paragraph("No features recorded.")
    )
    return (
        _key_value_table(
            (
                ("Snapshot hash", _code_or(data.snapshot_hash, "not recorded")),
                ("Date range", f"{_format_instant(data.start)} to {_format_instant(data.end)}"),
            )
        ),
        _Subheading("Splits"),
        splits if split_names else _Paragraph("No splits recorded."),
        _Subheading(f"Features ({len(data.features)})"),
        features,
    )


def _metrics_section(card: ModelCard) -> tuple[_Block, ...]:
    if not card.metrics:
        return (_Paragraph("No metrics were recorded."),)
    return (
        _Table(
            headers=("Metric", "Value [bootstrap interval]"),
            rows=tuple(
                (row.metric, _format_with_interval(row.value, row.low, row.high))
                for row in card.metrics
            ),
            numeric_columns=frozenset({1}),
        ),
    )


def _champion_comparison_section(card: ModelCard) -> tuple[_Block, ...]:
    if not card.champion_comparison:
        return (_Paragraph(_Strong(card.champion_note or "No champion comparison was recorded.")),)
    return (
        _Table(
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
        _Paragraph("Delta is candidate minus champion."),
    )


def _slices_section(card: ModelCard) -> tuple[_Block, ...]:
    if not card.slices:
        return (_Paragraph("No slices were evaluated."),)
    def cells(row: SliceRow) -> tuple[str, ...]:
        reason = row.not_gated_reason
        if reason is not None:
            why_not = "one class" if row.auc is None else "too few rows to gate"
            return (f"n/a ({reason})", _MISSING_VALUE, _MISSING_VALUE, f"no: {why_not}")
        return (_format_number(row.auc), _format_number(row.champion_auc),
                _format_number(row.auc_delta, signed=True), "yes")

    blocks: tuple[_Block, ...] = (
        _Table(
            headers=("Slice", "Value", "Rows", "AUC", "Champion AUC", "AUC delta", "Gated"),
            rows=tuple((row.slice, row.value, _format_number(row.rows), *cells(row)) for row in card.slices),
            numeric_columns=frozenset({2, 3, 4, 5}),
        ),
    )
    if any(not row.gated for row in card.slices):
        blocks += (_Paragraph(
            "Slices not gated have fewer test rows than min_slice_rows, or one class: "
            "their AUC is noise, so it is not shown and no gate reads it."
        ),)
    return blocks


def _gate_verdicts_section(card: ModelCard) -> tuple[_Block, ...]:
    verdicts = card.gate_verdicts
    if not verdicts:
        return (_Paragraph("No gate verdicts were recorded."),)
    failed = [verdict.check for verdict in verdicts if not verdict.passed]
    summary = f" — {len(verdicts) - len(failed)} of {len(verdicts)} gates passed" + (
        f"; failed: {', '.join(failed)}." if failed else "."
    )
    blocks: list[_Block] = [
        _Paragraph((_Strong("Overall:"), " ", _Verdict(not failed), summary)),
        _Table(
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
                    _Verdict(verdict.passed),
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
            _Subheading("Overrides"),
            _Table(
                headers=("Gate", "Who", "Why", "Until"),
                rows=tuple(
                    (override.gate or _MISSING_VALUE, override.who, override.why, _format_instant(override.until))
                    for override in card.overrides
                ),
            ),
        ]
    return tuple(blocks)


def _lineage_section(card: ModelCard) -> tuple[_Block, ...]:
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
        _Subheading("Code versions"),
        _mapping_table(
            lineage.code_versions, ("Asset", "Code version"), "No code versions recorded."
        ),
    )


def _plots_section(card: ModelCard) -> tuple[_Block, ...]:
    if not card.plots:
        return (_Paragraph("No plots were produced."),)
    blocks: list[_Block] = []
    for name, path in card.plots.items():
        blocks += [_Subheading(name), _Image(name, Path(path))]
    return tuple(blocks)


_SECTION_BUILDERS: dict[str, Callable[[ModelCard], tuple[_Block, ...]]] = {
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


def _card_title(card: ModelCard) -> str:
    details = card.model_details
    version = f"version {details.version}" if details.version else "unregistered"
    return f"Model card: {details.name} ({version})"


def _incompleteness_notice(card: ModelCard) -> str | None:
    missing = missing_sections(card)
    if not missing:
        return None
    return f"Incomplete card: these required sections are empty: {', '.join(missing)}."


def _card_sections(card: ModelCard) -> tuple[_Section, ...]:
    return tuple(_Section(title, build(card)) for title, build in _SECTION_BUILDERS.items())


# --- markdown -----------------------------------------------------------------------------------


def render_markdown(card: ModelCard, *, inline_images: bool = True) -> str:
    """Render the card as GitHub-style markdown, the form Dagster's metadata shows.

    With ``inline_images`` the PNGs are embedded as base64 data URIs, so the markdown stands
    alone; without, images are links to the plot file names, for a folder that holds them.
    """
    lines = [f"# {_markdown_text(_card_title(card))}", ""]
    notice = _incompleteness_notice(card)
    if notice:
        lines += [f"> **{_markdown_text(notice)}**", ""]
    for section in _card_sections(card):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block, inline_images=inline_images)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_block(block: _Block, *, inline_images: bool) -> list[str]:
    if isinstance(block, _Paragraph):
        return [_markdown_rich(block.content, in_table=False)]
    if isinstance(block, _Subheading):
        return [f"### {_markdown_text(block.text)}"]
    if isinstance(block, _BulletList):
        return [f"- {_markdown_rich(item, in_table=False)}" for item in block.items]
    if isinstance(block, _Table):
        return _markdown_table(block)
    if isinstance(block, _Image):
        if inline_images:
            return [png_markdown(block.path, alt=block.name)]
        return [f"![{_markdown_text(block.name)}]({quote(block.path.name)})"]
    raise TypeError(f"unknown block {block!r}")


def _markdown_table(table: _Table) -> list[str]:
    def row_line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    separators = [
        "---:" if index in table.numeric_columns else "---" for index in range(len(table.headers))
    ]
    lines = [
        row_line([_markdown_text(header, in_table=True) for header in table.headers]),
        row_line(separators),
    ]
    for row in table.rows:
        lines.append(row_line([_markdown_rich(cell, in_table=True) for cell in row]))
    return lines


def _markdown_rich(content: _Rich, *, in_table: bool) -> str:
    inlines = content if isinstance(content, tuple) else (content,)
    rendered = "".join(_markdown_inline(inline, in_table=in_table) for inline in inlines)
    return " ".join(rendered.split()) if in_table else rendered


def _markdown_inline(inline: _Inline, *, in_table: bool) -> str:
    if isinstance(inline, str):
        return _markdown_text(inline, in_table=in_table)
    if isinstance(inline, _Code):
        return _markdown_code(inline.text, in_table=in_table)
    if isinstance(inline, _Strong):
        return f"**{_markdown_text(inline.text, in_table=in_table)}**"
    if isinstance(inline, _Verdict):
        return "**PASS**" if inline.passed else "**FAIL**"
    raise TypeError(f"unknown inline {inline!r}")


def _markdown_text(text: str, *, in_table: bool = False) -> str:
    """Escape HTML so renderers that allow raw HTML show, not run, strings from upstream."""
    escaped = html.escape(text, quote=False)
    return escaped.replace("|", "\\|") if in_table else escaped


def _markdown_code(text: str, *, in_table: bool) -> str:
    # GitHub tables split cells on "|" even inside code spans; "\|" there renders as "|".
    body = text.replace("|", "\\|") if in_table else text
    if "`" not in body:
        return f"`{body}`"
    return f"`` {body} ``"


# --- HTML ---------------------------------------------------------------------------------------

_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0; background: #f6f8fa; line-height: 1.5; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 32px; background: #ffffff; }
h1 { font-size: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3em; }
h2 { font-size: 1.35em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
p { white-space: pre-line; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em;
       background: #eff1f3; padding: 0.1em 0.3em; border-radius: 4px; overflow-wrap: anywhere; }
.verdict { font-weight: 700; padding: 0 0.4em; border-radius: 4px; }
.pass { color: #116329; background: #dafbe1; }
.fail { color: #82071e; background: #ffebe9; }
.notice { border-left: 4px solid #bf8700; background: #fff8c5; padding: 8px 12px; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
""".strip()

# Forbids scripts and any network fetch even if a string ever slipped past escaping.
_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_html(card: ModelCard) -> str:
    """Render the card as one standalone HTML page: inline CSS, images as data URIs, no scripts.

    The machines have no internet, so the page must not reference any external resource.
    """
    title = html.escape(_card_title(card))
    body = [f"<h1>{title}</h1>"]
    notice = _incompleteness_notice(card)
    if notice:
        body.append(f'<p class="notice"><strong>{html.escape(notice)}</strong></p>')
    for section in _card_sections(card):
        anchor = html.escape(section.title.lower().replace(" ", "-"))
        body.append(f'<section id="{anchor}">')
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [_html_block(block) for block in section.blocks]
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>\n{_HTML_STYLE}\n</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _html_block(block: _Block) -> str:
    if isinstance(block, _Paragraph):
        return f"<p>{_html_rich(block.content)}</p>"
    if isinstance(block, _Subheading):
        return f"<h3>{html.escape(block.text)}</h3>"
    if isinstance(block, _BulletList):
        items = "".join(f"<li>{_html_rich(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, _Table):
        return _html_table(block)
    if isinstance(block, _Image):
        name = html.escape(block.name)
        source = html.escape(png_data_uri(block.path))
        return f'<figure><img src="{source}" alt="{name}"></figure>'
    raise TypeError(f"unknown block {block!r}")


def _html_table(table: _Table) -> str:
    header = "".join(f"<th>{html.escape(text)}</th>" for text in table.headers)
    rows = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{_html_rich(cell)}</td>'
            if index in table.numeric_columns
            else f"<td>{_html_rich(cell)}</td>"
            for index, cell in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_rich(content: _Rich) -> str:
    inlines = content if isinstance(content, tuple) else (content,)
    return "".join(_html_inline(inline) for inline in inlines)


def _html_inline(inline: _Inline) -> str:
    if isinstance(inline, str):
        return html.escape(inline)
    if isinstance(inline, _Code):
        return f"<code>{html.escape(inline.text)}</code>"
    if isinstance(inline, _Strong):
        return f"<strong>{html.escape(inline.text)}</strong>"
    if isinstance(inline, _Verdict):
        verdict = "pass" if inline.passed else "fail"
        return f'<span class="verdict {verdict}">{verdict.upper()}</span>'
    raise TypeError(f"unknown inline {inline!r}")


# --- files --------------------------------------------------------------------------------------


def write_card(card: ModelCard, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``folder``; return both paths.

    Both are rendered before either is written, so a rendering error (e.g. a missing plot)
    leaves the previous card untouched rather than half replaced.
    """
    target = Path(folder)
    markdown = render_markdown(card, inline_images=True)
    page = render_html(card)
    target.mkdir(parents=True, exist_ok=True)
    markdown_path = write_text_atomically(target / MARKDOWN_FILE_NAME, markdown)
    html_path = write_text_atomically(target / HTML_FILE_NAME, page)
    return markdown_path, html_path
