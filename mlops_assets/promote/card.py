"""Model cards rendered to markdown and standalone HTML from facts collected upstream.

The card states only what it is handed: the caller gathers the facts (dataset spec, training
snapshot, evaluation, gate verdicts, lineage) from upstream assets. Nothing here computes a metric
or decides a gate, so the card cannot disagree with the assets it describes.

The card's facts live here; ``card_sections`` says what each section shows and
``card_document`` renders the same document to markdown and HTML.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mlops_assets.core.verdicts import GateResult
from mlops_assets.evaluate.evaluation import NO_CHAMPION_NOTE
from mlops_assets.core.files import write_text_atomically
from mlops_assets.promote import card_document
from mlops_assets.promote.card_document import Document
from mlops_assets.promote.card_sections import card_sections, is_blank

MARKDOWN_FILE_NAME = "model_card.md"
HTML_FILE_NAME = "model_card.html"


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
    # the task's label statistic per split: the positive rate, the mean, or the class frequencies
    label_rate_per_split: dict[str, float | dict[str, float]]
    features: list[str]
    label_statistic: str = "Label rate"


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
    """Quality on one slice (e.g. slice ``carrier``, value ``UA``) in the card's ``slice_metric`` (binary:
    AUC, None for one-class slices; the field names predate tasks).

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
    oot_metrics: list[MetricRow] = field(default_factory=list)  # on the held-out last days, when any
    gated_on: str = ""  # which test each gate judged on, and what the comparison rows were
    oot_metrics: list[MetricRow] = field(default_factory=list)  # on the held-out last days, when any
    gated_on: str = ""  # which test each gate judged on, and what the comparison rows were
    slice_metric: str = "AUC"  # what the slice table's values are: the task's primary metric, spoken


# --- completeness -------------------------------------------------------------------------------


_EMPTINESS_CHECKS: dict[str, Callable[[ModelCard], bool]] = {
    "Model details": lambda card: (
        is_blank(card.model_details.name) or is_blank(card.model_details.model_type)
    ),
    "Intended use": lambda card: is_blank(card.intended_use),
    "Limitations": lambda card: all(is_blank(item) for item in card.limitations),
    "Training data": lambda card: (
        is_blank(card.training_data.snapshot_hash)
        or not card.training_data.rows_per_split
        or not card.training_data.features
    ),
    "Metrics": lambda card: not card.metrics,
    "Gate verdicts": lambda card: not card.gate_verdicts,
    "Lineage": lambda card: (
        is_blank(card.lineage.dagster_run_id) or is_blank(card.lineage.mlflow_run_id)
    ),
}
REQUIRED_SECTIONS: tuple[str, ...] = tuple(_EMPTINESS_CHECKS)


def missing_sections(card: ModelCard) -> list[str]:
    """Names of required sections that are empty, in card order; [] means the card is complete.

    Backs the blocking "card complete" check: a card without intended use, metrics, gate
    verdicts, a pinned snapshot or run ids cannot support a promotion decision.
    """
    return [name for name, is_empty in _EMPTINESS_CHECKS.items() if is_empty(card)]


def _card_title(card: ModelCard) -> str:
    details = card.model_details
    version = f"version {details.version}" if details.version else "unregistered"
    return f"Model card: {details.name} ({version})"


def _incompleteness_notice(card: ModelCard) -> str | None:
    missing = missing_sections(card)
    if not missing:
        return None
    return f"Incomplete card: these required sections are empty: {', '.join(missing)}."


def document(card: ModelCard) -> Document:
    """The card as a document: its title, a notice if incomplete, and every section in order."""
    return Document(_card_title(card), _incompleteness_notice(card), card_sections(card))


def render_markdown(card: ModelCard, *, inline_images: bool = True) -> str:
    """Render the card as GitHub-style markdown, the form Dagster's metadata shows.

    With ``inline_images`` the PNGs are embedded as base64 data URIs, so the markdown stands
    alone; without, images are links to the plot file names, for a folder that holds them.
    """
    return card_document.render_markdown(document(card), inline_images=inline_images)


def render_html(card: ModelCard) -> str:
    """Render the card as one standalone HTML page: inline CSS, images as data URIs, no scripts."""
    return card_document.render_html(document(card))


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
