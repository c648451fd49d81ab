"""The timeline's drift summary counts what can trigger retraining, by the policy's statistic and
levels, and names the features: a feature the spec opts out is listed apart, never counted."""

from __future__ import annotations

import datetime as dt

import pytest

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.warehouse import connect
from mlops_assets.monitor.drift_store import record_day
from mlops_assets.monitor.policy import LoopPolicy
from mlops_assets.monitor.timeline import build_timeline, timeline_markdown, timeline_text

D0 = dt.date(2013, 7, 1)
OPTED_OUT = "origin_late_rate_7d"


@pytest.fixture
def layout(tmp_path, spec):
    """Five days: the opted-out feature drifts high every day, origin_temp is moderate on one."""
    assert not spec.features[OPTED_OUT].drift_triggers_retraining
    layout = StateLayout(tmp_path / "state").ensure()
    with connect(layout.warehouse_path) as con:
        for i in range(5):
            values = {"origin_temp": 0.25 if i == 2 else 0.01, "carrier": 0.02, OPTED_OUT: 0.9, "__prediction__": 0.03}
            record_day(con, spec.model.name, D0 + dt.timedelta(days=i),
                       [(feature, "psi", value, "stored level") for feature, value in values.items()], "snap", "1", None)
    return layout


def test_drifted_days_count_only_features_that_can_trigger_and_name_them(spec, layout):
    timeline = build_timeline(spec, layout, [], LoopPolicy())
    assert [row["level"] for row in timeline.drift_days] == ["none", "none", "moderate", "none", "none"]
    assert timeline.drift_days[2]["drifted"] == {"origin_temp": 0.25}
    assert timeline.not_triggering == {OPTED_OUT: 5}
    text = timeline_text(timeline)
    assert "drifted days by PSI: 1 of 5 scored days (0 high); origin_temp on 1 day" in text
    assert f"not counted (drift_triggers_retraining: false): {OPTED_OUT} on 5 days" in text
    markdown = timeline_markdown(timeline)
    assert f"| {D0 + dt.timedelta(days=2)} | moderate | 0.250 | origin_temp 0.25 |" in markdown
    assert "| max PSI |" in markdown and f"Not counted (`drift_triggers_retraining: false`): {OPTED_OUT} on 5 days" in markdown


def test_levels_are_the_current_policys(spec, layout):
    relaxed = build_timeline(spec, layout, [], LoopPolicy(moderate_drift=0.95, high_drift=1.0))
    assert all(row["level"] == "none" for row in relaxed.drift_days) and relaxed.not_triggering == {}
    strict = build_timeline(spec, layout, [], LoopPolicy(moderate_drift=0.2, high_drift=0.24))
    assert strict.drift_days[2]["level"] == "high"


def test_a_retraining_that_rebuilds_the_champion_is_reported_unchanged(spec, layout):
    """The initial run promotes v1; a later run rebuilds the same bytes (gates passed, no ledger row):
    that run is 'unchanged', not a bare success; a run whose gate failed stays 'rejected'."""
    from mlops_assets.core import verdicts
    from mlops_assets.core.verdicts import GateResult, evaluation_asset
    from mlops_assets.promote import ledger

    champion, other = "a" * 64, "b" * 64
    with connect(layout.warehouse_path) as con:
        for run_id, sha, passed in [("run-one", champion, True), ("run-two", champion, True), ("run-three", other, False)]:
            verdicts.record(con, dataset=spec.name, asset=evaluation_asset(spec.model.name), day=None, content_hash=sha,
                            result=GateResult("check_min_quality", passed, "recorded by the test"), run_id=run_id)
        ledger.append(con, ledger.LedgerEntry(
            spec.model.name, "promote", None, "1", champion, "snap", dt.datetime.now(dt.timezone.utc), "test", "run-one",
            "every gate passed", []))
    runs = [{"run_id": run_id, "status": "SUCCESS" if run_id != "run-three" else "FAILURE", "trigger": "t",
             "rule": "", "day": ""} for run_id in ("run-one", "run-two", "run-three")]
    timeline = build_timeline(spec, layout, runs, LoopPolicy())
    text = timeline_text(timeline)
    assert "run-one  PROMOTED v1" in text
    assert "run-two  UNCHANGED (is v1)" in text
    assert "run-thre  REJECTED" in text
    assert "| run-two | t | unchanged (is v1) |" in timeline_markdown(timeline)


def test_a_high_drift_partition_is_shaded_for_its_whole_length(tmp_path, monkeypatch):
    """A yearly dataset's drifted year is shaded as a year on the plot, not as its first day."""
    import datetime as dt

    from matplotlib.axes import Axes

    from mlops_assets.monitor.timeline import Timeline, plot_timeline

    shaded = []
    drawn = Axes.axvspan
    monkeypatch.setattr(Axes, "axvspan", lambda self, start, end, **kw: shaded.append((start, end)) or drawn(self, start, end, **kw))
    timeline = Timeline(grain="yearly", drift_days=[{"day": dt.date(2019, 1, 1), "level": "high"}])
    plot_timeline(timeline, tmp_path / "timeline.png")
    assert shaded == [(dt.date(2019, 1, 1), dt.datetime(2020, 1, 1))]
