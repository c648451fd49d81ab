"""Tests for model card rendering, completeness and writing; no matplotlib needed."""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from mlops_assets.core.verdicts import GateResult
from mlops_assets.evaluate.plots import png_markdown
from mlops_assets.promote.card_sections import NOT_IN_GIT_NOTE, SECTIONS
from mlops_assets.promote.card import (
    NO_CHAMPION_NOTE,
    REQUIRED_SECTIONS,
    ChampionComparisonRow,
    Lineage,
    MetricRow,
    ModelCard,
    ModelDetails,
    Override,
    SliceRow,
    TrainingData,
    missing_sections,
    render_html,
    render_markdown,
    write_card,
)

MALICIOUS = "<script>alert(1)</script>"


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG, so card tests need no plotting."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def roc_png(tmp_path: Path) -> Path:
    path = tmp_path / "plots" / "roc.png"
    path.parent.mkdir()
    path.write_bytes(tiny_png())
    return path


@pytest.fixture
def card(roc_png: Path) -> ModelCard:
    return ModelCard(
        model_details=ModelDetails(
            name="flights_late",
            version="3",
            model_type="xgboost.XGBClassifier",
            created_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
            framework_versions={"xgboost": "2.1.0", "python": "3.11.7"},
            hyperparameters={"max_depth": 6, "learning_rate": 0.1},
        ),
        intended_use="Rank scheduled flights by their risk of arriving late.",
        limitations=["NYC airports in 2013 only.", "Cancellations count as late."],
        training_data=TrainingData(
            snapshot_hash="sha256:0f1e2d3c",
            start=date(2013, 1, 1),
            end=date(2013, 6, 30),
            rows_per_split={"train": 120000, "validation": 20000, "test": 20000},
            label_rate_per_split={"train": 0.2512, "validation": 0.2431, "test": 0.24},
            features=["carrier", "origin", "dest", "distance"],
        ),
        metrics=[MetricRow("auc", 0.71234, 0.70012, 0.72398), MetricRow("brier", 0.1789)],
        champion_comparison=[
            ChampionComparisonRow("auc", 0.7123, 0.7, 0.0123, -0.004, 0.029),
        ],
        slices=[
            SliceRow("carrier", "UA", 12345, 0.7012, 0.6911, 0.0101),
            SliceRow("carrier", "a|b", 50, None),
        ],
        gate_verdicts=[
            GateResult("check_min_quality", True, "above the floor", metric="auc", observed=0.7123, threshold=0.65),
            GateResult("check_not_worse_than_champion", False, "too low", metric="auc", observed=0.7123,
                       threshold=-0.01, champion_value=0.72, delta=-0.0077),
        ],
        lineage=Lineage(
            dagster_run_id="dagster-run-42",
            mlflow_run_id="mlflow-run-7",
            mlflow_model_uri="models:/flights_late/3",
            code_versions={"candidate_model": "v2", "training_snapshot": "v1"},
            git_commit="abc1234",
        ),
        overrides=[Override("alice", "seasonal dip accepted", date(2024, 6, 1))],
        trigger_reason="weekly schedule",
        plots={"ROC curve": roc_png},
    )


def headings(markdown: str) -> list[str]:
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def test_full_card_renders_every_heading_in_order(card: ModelCard) -> None:
    markdown = render_markdown(card)
    assert markdown.startswith("# Model card: flights_late (version 3)\n")
    assert headings(markdown) == list(SECTIONS)
    assert list(SECTIONS) == [
        "Model details",
        "Intended use",
        "Limitations",
        "Training data",
        "Metrics",
        "Champion comparison",
        "Slices",
        "Gate verdicts",
        "Lineage",
        "Plots",
    ]
    assert "Incomplete card" not in markdown


def test_full_card_contains_the_numbers_and_facts(card: ModelCard) -> None:
    markdown = render_markdown(card)
    for expected in [
        "| auc | 0.7123 [0.7001, 0.7240] | not held out |",
        "| brier | 0.1789 | not held out |",
        "| auc | 0.7123 | 0.7000 | +0.0123 [-0.0040, +0.0290] |",
        "| carrier | UA | 12,345 | 0.7012 | 0.6911 | +0.0101 | yes |",
        "| carrier | a\\|b | 50 | — | — | — | yes |",
        "| train | 120,000 | 0.2512 |",
        "| check_min_quality | **PASS** | auc | 0.7123 | 0.6500 |",
        "| check_not_worse_than_champion | **FAIL** |",
        "**Overall:** **FAIL** — 1 of 2 gates passed; failed: check_not_worse_than_champion.",
        "| alice | seasonal dip accepted | 2024-06-01 |",
        "`sha256:0f1e2d3c`",
        "2013-01-01 to 2013-06-30",
        "`carrier`, `origin`, `dest`, `distance`",
        "`dagster-run-42`",
        "`mlflow-run-7`",
        "`models:/flights_late/3`",
        "`abc1234`",
        "| `candidate_model` | `v2` |",
        "| `learning_rate` | `0.1` |",
        "| Training trigger | weekly schedule |",
        "2024-05-01T12:00:00+00:00",
        "- NYC airports in 2013 only.",
    ]:
        assert expected in markdown, expected
    assert NO_CHAMPION_NOTE not in markdown


def test_plots_are_inlined_by_default_and_linked_on_request(
    card: ModelCard, roc_png: Path
) -> None:
    inlined = render_markdown(card)
    assert png_markdown(roc_png, alt="ROC curve") in inlined

    linked = render_markdown(card, inline_images=False)
    assert "![ROC curve](roc.png)" in linked
    assert "base64" not in linked


def test_card_without_champion_says_so(card: ModelCard) -> None:
    no_champion = dataclasses.replace(card, champion_comparison=[])
    assert NO_CHAMPION_NOTE == "No champion existed; the champion comparison passed by rule."
    assert NO_CHAMPION_NOTE in render_markdown(no_champion)
    assert NO_CHAMPION_NOTE in render_html(no_champion)


def test_card_with_a_champion_that_could_not_be_compared_says_why(card: ModelCard) -> None:
    note = "champion v2 cannot score these features: feature 'route_late_rate' is missing"
    markdown = render_markdown(dataclasses.replace(card, champion_comparison=[], champion_note=note))
    assert f"**{note}**" in markdown
    assert NO_CHAMPION_NOTE not in markdown


def test_unregistered_model_outside_git_is_stated(card: ModelCard) -> None:
    draft = dataclasses.replace(
        card,
        model_details=dataclasses.replace(card.model_details, version=None),
        lineage=dataclasses.replace(card.lineage, git_commit=None, mlflow_model_uri=None),
    )
    markdown = render_markdown(draft)
    assert markdown.startswith("# Model card: flights_late (unregistered)\n")
    assert f"| Git commit | {NOT_IN_GIT_NOTE} |" in markdown
    assert NOT_IN_GIT_NOTE == "not in a git checkout"
    assert "| MLflow model URI | not registered |" in markdown


def test_complete_card_has_no_missing_sections(card: ModelCard) -> None:
    assert missing_sections(card) == []


def test_missing_sections_finds_blank_intended_use_and_no_gates(card: ModelCard) -> None:
    incomplete = dataclasses.replace(card, intended_use="   \n", gate_verdicts=[])
    assert missing_sections(incomplete) == ["Intended use", "Gate verdicts"]
    markdown = render_markdown(incomplete)
    assert "Incomplete card: these required sections are empty: Intended use, Gate verdicts." in (
        markdown
    )
    assert headings(markdown) == list(SECTIONS)


def test_missing_sections_covers_every_required_section(card: ModelCard) -> None:
    empty = dataclasses.replace(
        card,
        model_details=dataclasses.replace(card.model_details, name=""),
        intended_use="",
        limitations=[" "],
        training_data=dataclasses.replace(card.training_data, snapshot_hash=""),
        metrics=[],
        gate_verdicts=[],
        lineage=dataclasses.replace(card.lineage, dagster_run_id=""),
    )
    assert missing_sections(empty) == list(REQUIRED_SECTIONS)
    assert set(REQUIRED_SECTIONS) <= set(SECTIONS)
    # Optional sections: their absence must not block the card.
    assert "Champion comparison" not in REQUIRED_SECTIONS
    assert "Slices" not in REQUIRED_SECTIONS


def test_html_escapes_strings_from_upstream(card: ModelCard) -> None:
    hostile = dataclasses.replace(card, limitations=[MALICIOUS])
    page = render_html(hostile)
    assert MALICIOUS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert MALICIOUS not in render_markdown(hostile)


def test_html_is_standalone_with_the_same_sections(card: ModelCard) -> None:
    page = render_html(card)
    assert page.startswith("<!DOCTYPE html>")
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(SECTIONS)
    assert re.search(r'(?:src|href)="(?!data:)', page) is None
    assert "<link" not in page
    encoded = base64.b64encode(tiny_png()).decode("ascii")
    assert f'src="data:image/png;base64,{encoded}"' in page
    assert "0.7123 [0.7001, 0.7240]" in page
    assert '<span class="verdict fail">FAIL</span>' in page
    assert NOT_IN_GIT_NOTE in render_html(
        dataclasses.replace(card, lineage=dataclasses.replace(card.lineage, git_commit=None))
    )


def test_write_card_writes_both_files_and_no_temp_files(card: ModelCard, tmp_path: Path) -> None:
    folder = tmp_path / "cards" / "flights_late"
    markdown_path, html_path = write_card(card, folder)
    assert (markdown_path, html_path) == (folder / "model_card.md", folder / "model_card.html")
    assert markdown_path.read_text(encoding="utf-8") == render_markdown(card)
    assert html_path.read_text(encoding="utf-8") == render_html(card)

    write_card(dataclasses.replace(card, champion_comparison=[]), folder)  # replaces in place
    assert sorted(entry.name for entry in folder.iterdir()) == ["model_card.html", "model_card.md"]
    assert NO_CHAMPION_NOTE in markdown_path.read_text(encoding="utf-8")


def test_write_card_failure_keeps_the_previous_card(card: ModelCard, tmp_path: Path) -> None:
    folder = tmp_path / "card"
    markdown_path, _ = write_card(card, folder)
    previous = markdown_path.read_text(encoding="utf-8")
    broken = dataclasses.replace(card, plots={"gone": tmp_path / "missing.png"})
    with pytest.raises(FileNotFoundError):
        write_card(broken, folder)
    assert markdown_path.read_text(encoding="utf-8") == previous
    assert sorted(entry.name for entry in folder.iterdir()) == [
        "model_card.html",
        "model_card.md",
    ]


def test_card_is_frozen(card: ModelCard) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.intended_use = "anything"  # type: ignore[misc]


def test_card_shows_the_in_period_and_out_of_time_figures_and_what_gated(card: ModelCard) -> None:
    from mlops_assets.evaluate.evaluation import Evaluation
    from mlops_assets.promote.card_facts import gated_on

    evaluation = Evaluation(
        "flights", "ab", "cd", 1000, 0.5, {"auc": {"value": 0.78}}, {}, oot_rows=900,
        oot_metrics={"auc": {"value": 0.69}}, oot_daily_auc={"2013-01-20": 0.70, "2013-01-21": 0.66},
        comparison_split="oot", comparison_rows=900, comparison_days=["2013-01-20", "2013-01-21"],
    )
    text = gated_on(evaluation)
    assert "check_min_quality, check_beats_baseline, check_calibration judged on the in-period test" in text
    assert "check_not_worse_than_champion, check_no_slice_regression judged on the out-of-time test" in text
    assert "used 900 oot rows of 2013-01-20, 2013-01-21" in text
    assert "Out-of-time AUC averaged per day: 0.680 over 2 day(s)" in text
    forward = dataclasses.replace(card, oot_metrics=[MetricRow("auc", 0.6912, 0.6801, 0.7033)], gated_on=text)
    markdown = render_markdown(forward)
    assert "| auc | 0.7123 [0.7001, 0.7240] | 0.6912 [0.6801, 0.7033] |" in markdown
    assert "| brier | 0.1789 | not held out |" in markdown
    assert text in markdown


def test_slices_below_min_slice_rows_or_with_one_class_are_marked_not_gated(card: ModelCard) -> None:
    """A 4-row slice scores AUC 1.000 by luck: the card says it is not gated instead of printing it."""
    import json

    import numpy as np
    import pandas as pd

    from mlops_assets.evaluate.slices import slice_metrics
    from mlops_assets.promote.card_facts import slice_rows

    rng = np.random.default_rng(0)
    labels = np.r_[rng.integers(0, 2, 300), [0, 0, 1, 1], [0, 0, 0]]
    probabilities = np.r_[rng.uniform(size=300), [0.1, 0.2, 0.8, 0.9], [0.3, 0.4, 0.5]]
    frame = pd.DataFrame({
        "carrier": ["UA"] * 300 + ["HA"] * 4 + ["VX"] * 3, "label": labels, "p": probabilities,
    })
    table = slice_metrics(frame, ["carrier"], "label", "p", None, min_rows=200, threshold=0.5)
    assert dict(zip(table["value"], table["auc"]))["HA"] == 1.0  # what the card used to print
    stored = json.loads(table.to_json(orient="records"))  # as evaluate_candidate stores it
    markdown = render_markdown(dataclasses.replace(card, slices=slice_rows(stored)))
    assert "| carrier | HA | 4 | n/a (4 rows) | — | — | no: too few rows to gate |" in markdown
    assert "| carrier | VX | 3 | n/a (one class) | — | — | no: one class |" in markdown
    assert re.search(r"\| carrier \| UA \| 300 \| 0\.\d{4} \| — \| — \| yes \|", markdown)
    assert "fewer test rows than min_slice_rows, or one class" in markdown
    assert "1.0000" not in markdown.split("## Slices")[1].split("## ")[0]
