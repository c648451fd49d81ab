"""candidate_evaluation's champion status: set where the champion is scored, stored, and derived for
evaluations stored before it existed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlops_assets.evaluate.settings import EvaluationSettings
from mlops_assets.evaluate.evaluation import (
    NO_CHAMPION_NOTE,
    ChampionStatus,
    Evaluation,
    UnloadableChampion,
    evaluate_candidate,
)


class FakeModel:
    """predict() like a LoadedModel; ``refuses`` makes it reject the features as a stale champion does."""

    def __init__(self, version: str | None = None, refuses: bool = False, noise: float = 1.0) -> None:
        self.version, self.refuses, self.noise, self.threshold = version, refuses, noise, 0.5
        self.booster = SimpleNamespace(get_score=lambda importance_type: {"distance": 1.0})
        self.encoding = SimpleNamespace(columns=["distance"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.refuses:
            raise ValueError("feature 'route_late_rate' is missing")
        rng = np.random.default_rng(int(self.noise * 10))
        return 1 / (1 + np.exp(-(2 * frame["late"].to_numpy() - 1 + rng.normal(0, self.noise, len(frame)))))


@pytest.fixture(scope="module")
def test_rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"late": (rng.random(600) < 0.3).astype(int), "carrier": rng.choice(["AA", "UA"], 600),
                         "distance": rng.integers(100, 2000, 600)})


def evaluate(rows, champion, tmp_path) -> Evaluation:
    return evaluate_candidate(
        model="flights_late", slices=["carrier"], target="late", test=rows, candidate=FakeModel(),
        candidate_sha256="ab" * 32, snapshot_hash="cd" * 32, train_label_rate=0.3, champion=champion,
        plots_dir=tmp_path / "plots", settings=EvaluationSettings(bootstrap_resamples=20),
    )


@pytest.mark.parametrize(
    ("champion", "status", "note"),
    [
        (None, ChampionStatus.NONE, NO_CHAMPION_NOTE),
        (FakeModel("3", noise=1.5), ChampionStatus.SCORED, ""),
        (FakeModel("3", refuses=True), ChampionStatus.CANNOT_SCORE, "champion v3 cannot score these features"),
        (UnloadableChampion("3", "sha256 0f1e expected 9a8b"), ChampionStatus.UNVERIFIED,
         "champion v3 could not be loaded safely: sha256"),
    ],
    ids=["none_yet", "scored", "cannot_score", "unverified"],
)
def test_the_champion_status_is_set_where_the_champion_is_scored(test_rows, tmp_path, champion, status, note):
    evaluation = evaluate(test_rows, champion, tmp_path)
    assert evaluation.champion_status is status
    assert evaluation.champion_note.startswith(note)
    assert (evaluation.champion_version == "3") is (status is ChampionStatus.SCORED)
    assert bool(evaluation.paired) is (status is ChampionStatus.SCORED)
    stored = Evaluation.from_json(evaluation.to_json())
    assert stored.champion_status is status and json.loads(evaluation.to_json())["champion_status"] == status.value


@pytest.mark.parametrize(
    ("champion_version", "note", "status"),
    [
        ("2", "", ChampionStatus.SCORED),
        (None, NO_CHAMPION_NOTE, ChampionStatus.NONE),
        (None, "champion v2 cannot score these features: missing column", ChampionStatus.CANNOT_SCORE),
        (None, "the reigning model rejected today's columns", ChampionStatus.CANNOT_SCORE),
    ],
)
def test_an_evaluation_stored_before_the_status_loads_with_a_derived_one(champion_version, note, status):
    document = json.loads(Evaluation("flights", "ab", "cd", 10, 0.5, {}, {}).to_json())
    del document["champion_status"]
    document.update(champion_version=champion_version, champion_note=note)
    assert Evaluation.from_json(json.dumps(document)).champion_status is status
