"""The label feed of the bundled flights spec: departures land without their outcomes, the outcomes
land a day later in a zone of their own, keyed by flight; a partition's labels may land late, out of
order or in parts, a bad label file changes nothing, training learns only from labelled rows, and
trailing rates never depend on how early the latest outcomes happened to land."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml

from mlops_assets.core.spec import SpecError, load_spec, spec_from_dict
from mlops_assets.core.warehouse import connect
from mlops_assets.features.build import build_features
from mlops_assets.ingest.labels import LabelError, ingest_labels, labelled_rows_sql
from mlops_assets.ingest.landing import landing_path, replay
from mlops_assets.pipeline.ingest_day import ingest_and_featurize
from mlops_assets.train.snapshot import build_training_snapshot
from mlops_assets.train.window import TrainingDataError, TrainingWindow
from mlops_assets_tests.conftest import outcomes_in_rows

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(5)]
KEY = ["carrier", "flight", "origin", "time_hour"]


def land_departures(spec, layout, days=DAYS):
    """Replay the days (one more, so the last day's outcomes land too) and ingest the departures."""
    landed = replay(spec, layout, days[0], len(days) + 1)
    for item in landed:
        if not item.labels and item.day in days:
            assert all(result.passed for result in ingest_and_featurize(spec, layout, item.day))
    return landed


def stored_labels(layout, day) -> pd.DataFrame:
    with connect(layout.warehouse_path) as con:
        return con.execute("SELECT * FROM labels_nycflights WHERE _day = ? ORDER BY ALL", [day]).df()


def test_replay_lands_departures_without_outcomes_and_the_outcomes_a_day_later(two_feed_spec, state):
    landed = replay(two_feed_spec, state, DAYS[0], 3)
    assert [(f.day, f.labels) for f in landed] == [
        (DAYS[0], False), (DAYS[1], False), (DAYS[2], False), (DAYS[0], True), (DAYS[1], True)]
    departures = pd.read_csv(landing_path(state, two_feed_spec, DAYS[0]))
    assert not set(two_feed_spec.label_columns) & set(departures.columns)
    outcomes = pd.read_csv(landing_path(state, two_feed_spec, DAYS[0], labels=True))
    assert list(outcomes.columns) == [*KEY, *two_feed_spec.label_columns]
    assert len(outcomes) == len(departures)


def test_labels_hold_every_target_computed_as_the_rows_would(two_feed_spec, state):
    land_departures(two_feed_spec, state, DAYS[:1])
    batch = ingest_labels(two_feed_spec, state, DAYS[0])
    assert batch.is_new and batch.coverage == 1.0 and batch.rows == batch.partition_rows
    stored = stored_labels(state, DAYS[0])
    full = pd.read_csv(landing_path(state, two_feed_spec, DAYS[0], labels=True))
    assert len(stored) == len(full)
    late = (full["arr_delay"].isna() | (full["arr_delay"] > 15)).astype(int)
    assert sorted(stored["late"].tolist()) == sorted(late.tolist())
    assert stored["arrival_delay_minutes"].isna().sum() == full["arr_delay"].isna().sum()
    assert batch.target_rates["late"] == pytest.approx(late.mean())
    again = ingest_labels(two_feed_spec, state, DAYS[0])
    assert not again.is_new and again.content_hash == batch.content_hash


def test_partial_then_complete_outcomes_replace_the_partitions_labels(two_feed_spec, state):
    land_departures(two_feed_spec, state, DAYS[:1])
    path = landing_path(state, two_feed_spec, DAYS[0], labels=True)
    everything = pd.read_csv(path, dtype=str, keep_default_na=False)
    everything.iloc[:100].to_csv(path, index=False)
    partial = ingest_labels(two_feed_spec, state, DAYS[0])
    assert partial.rows == 100 and partial.coverage == pytest.approx(100 / len(everything))
    everything.to_csv(path, index=False)
    complete = ingest_labels(two_feed_spec, state, DAYS[0])
    assert complete.is_new and complete.coverage == 1.0
    assert len(stored_labels(state, DAYS[0])) == len(everything)


def test_outcomes_may_land_before_their_departures_and_out_of_order(two_feed_spec, state):
    replay(two_feed_spec, state, DAYS[0], 4)
    later = ingest_labels(two_feed_spec, state, DAYS[2])  # no departures ingested yet
    assert later.matched_rows is None and later.coverage is None
    earlier = ingest_labels(two_feed_spec, state, DAYS[0])
    assert earlier.rows > 0
    assert set(pd.concat([stored_labels(state, DAYS[2]), stored_labels(state, DAYS[0])])["_day"]) == {
        pd.Timestamp(DAYS[0]), pd.Timestamp(DAYS[2])}


@pytest.mark.parametrize("break_file, named", [
    (lambda f: f.assign(gate="B12"), "gate"),
    (lambda f: f.drop(columns=["arr_delay"]), "arr_delay"),
    (lambda f: f.assign(arr_delay="late"), "arr_delay"),
    (lambda f: pd.concat([f, f.iloc[:3]]), "more than once"),
])
def test_a_bad_label_file_is_refused_by_name_and_keeps_the_labels_before_it(two_feed_spec, state, break_file, named):
    land_departures(two_feed_spec, state, DAYS[:1])
    first = ingest_labels(two_feed_spec, state, DAYS[0])
    path = landing_path(state, two_feed_spec, DAYS[0], labels=True)
    before = stored_labels(state, DAYS[0])
    break_file(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False)
    with pytest.raises(LabelError, match=named):
        ingest_labels(two_feed_spec, state, DAYS[0])
    pd.testing.assert_frame_equal(stored_labels(state, DAYS[0]), before)
    with connect(state.warehouse_path) as con:
        current = con.execute("SELECT arg_max(content_hash, created_at) FROM label_versions WHERE day = ?",
                              [DAYS[0]]).fetchall()[0][0]
    assert current == first.content_hash


def test_training_learns_only_from_rows_whose_outcomes_landed(two_feed_spec, state):
    land_departures(two_feed_spec, state)
    window = TrainingWindow(min_days=2, holdout_days=1)
    with pytest.raises(TrainingDataError, match="no labels"):
        build_training_snapshot(two_feed_spec, state, window)  # scored before its outcomes: nothing to learn
    for day in DAYS[:3]:
        ingest_labels(two_feed_spec, state, day)
    snapshot = build_training_snapshot(two_feed_spec, state, window)
    assert (snapshot.start, snapshot.end) == (DAYS[0], DAYS[2])  # the newest labelled day, by default
    assert sorted(snapshot.days) == [d.isoformat() for d in DAYS[:3]]
    with connect(state.warehouse_path) as con:
        labelled = con.execute(f"SELECT count(*) FROM ({labelled_rows_sql(con, two_feed_spec)})").fetchall()[0][0]
    assert sum(snapshot.rows.values()) == labelled
    # a window asked to end on a day whose outcomes have not landed ends on the newest one that has
    recent = build_training_snapshot(two_feed_spec, state, TrainingWindow(end_date=DAYS[4], last_n_days=2,
                                                                           min_days=1, holdout_days=1))
    assert (recent.start, recent.end) == (DAYS[1], DAYS[2])


def test_trailing_rates_do_not_depend_on_how_early_the_latest_outcomes_landed(two_feed_spec, state, tmp_path):
    """Day D's trailing rates average the outcomes due before D (labels.delay earlier), so D's
    features are the same whether the outcomes of D-1 landed before them or not."""
    replay(two_feed_spec, state, DAYS[0], len(DAYS) + 1)
    for day in DAYS[:3]:
        ingest_labels(two_feed_spec, state, day)
    for day in DAYS[:4]:
        assert all(r.passed for r in ingest_and_featurize(two_feed_spec, state, day))
    with_previous = build_features(two_feed_spec, state, DAYS[3])
    assert with_previous.history_days == DAYS[:2]  # not DAYS[2]: its outcomes were due only on DAYS[3]
    with connect(state.warehouse_path) as con:
        con.execute("DELETE FROM labels_nycflights WHERE _day = ?", [DAYS[2]])
    without_previous = build_features(two_feed_spec, state, DAYS[3])
    assert without_previous.content_hash == with_previous.content_hash
    with connect(state.warehouse_path) as con:
        rates = con.execute(
            "SELECT count(carrier_late_rate_7d) FROM features_nycflights WHERE _day = ?", [DAYS[3]]).fetchall()[0][0]
    assert rates > 0


def test_a_dataset_without_a_label_feed_takes_no_label_files(two_feed_spec, state):
    with pytest.raises(LabelError, match="no label feed"):
        ingest_labels(outcomes_in_rows(two_feed_spec), state, DAYS[0])


def _bundled_document() -> dict:
    from mlops_assets.core.spec import BUILTIN_SPECS_DIR, DEFAULT_SPEC_NAME

    return yaml.safe_load((BUILTIN_SPECS_DIR / f"{DEFAULT_SPEC_NAME}.yaml").read_text())


def test_a_label_column_must_be_a_forbidden_outcome_column():
    document = _bundled_document()
    document["labels"]["columns"].append("carrier")
    with pytest.raises(SpecError, match=r"labels.columns\[5\]: 'carrier' is part of the entity key"):
        spec_from_dict(document, base_dir=load_spec().base_dir)
    document = _bundled_document()
    document["labels"]["columns"].append("distance")
    with pytest.raises(SpecError, match="list it under forbidden_columns"):
        spec_from_dict(document, base_dir=load_spec().base_dir)


def test_a_target_reads_only_what_the_label_files_carry():
    document = _bundled_document()
    document["targets"][0]["expression"] = "arr_delay > 15 AND distance > 100"
    with pytest.raises(SpecError, match=r"reads \['distance'\], which the label files do not carry"):
        spec_from_dict(document, base_dir=load_spec().base_dir)


def test_a_feature_that_gives_the_outcome_away_is_found_when_the_labels_land(two_feed_spec, state):
    """Built before their outcomes, a day's features pass the leakage check with nothing to measure;
    when the labels land the check is judged again on them, and a feature that tells the outcome
    keeps the day out of training."""
    from mlops_assets.pipeline.ingest_day import check_labelled_features
    from mlops_assets.train.window import learnable_days

    replay(two_feed_spec, state, DAYS[0], 3)
    rows_path = landing_path(state, two_feed_spec, DAYS[0])
    departures = pd.read_csv(rows_path, dtype=str, keep_default_na=False)
    outcomes = pd.read_csv(landing_path(state, two_feed_spec, DAYS[0], labels=True), dtype=str, keep_default_na=False)
    arrival = pd.to_numeric(departures.merge(outcomes, on=KEY, how="left")["arr_delay"], errors="coerce")
    # the export writes the flight's distance only for flights that arrived on time: an outcome proxy
    departures["distance"] = [str(d) if on_time else "4983" for d, on_time in zip(departures["distance"], arrival <= 15)]
    departures.to_csv(rows_path, index=False)
    for day in DAYS[:2]:
        results = ingest_and_featurize(two_feed_spec, state, day)
        assert all(r.passed for r in results), [r.summary for r in results if not r.passed]

    leaky_features, (verdict,) = check_labelled_features(two_feed_spec, state, DAYS[0])
    assert leaky_features and verdict.passed  # no labels stored yet: nothing to measure
    ingest_labels(two_feed_spec, state, DAYS[0])
    ingest_labels(two_feed_spec, state, DAYS[1])
    features_hash, (verdict,) = check_labelled_features(two_feed_spec, state, DAYS[0], "run-1")
    assert features_hash and not verdict.passed
    assert "distance" in verdict.summary or any(f.column == "distance" for f in verdict.failures)
    _clean_hash, (clean,) = check_labelled_features(two_feed_spec, state, DAYS[1], "run-1")
    assert clean.passed and any(key.startswith("single_feature_auc.") for key in clean.stats)
    with connect(state.warehouse_path) as con:
        assert sorted(learnable_days(con, two_feed_spec, None, None)) == [DAYS[1]]


def test_labels_that_land_before_their_rows_are_read_by_the_features_own_check(two_feed_spec, state):
    from mlops_assets.pipeline.ingest_day import check_labelled_features

    replay(two_feed_spec, state, DAYS[0], 2)
    ingest_labels(two_feed_spec, state, DAYS[0])
    features_hash, (verdict,) = check_labelled_features(two_feed_spec, state, DAYS[0])
    assert features_hash == "" and verdict.passed and "no features" in verdict.summary
    results = ingest_and_featurize(two_feed_spec, state, DAYS[0])
    leakage = next(r for r in results if r.check == "check_no_leakage")
    assert leakage.passed and any(key.startswith("single_feature_auc.") for key in leakage.stats)
