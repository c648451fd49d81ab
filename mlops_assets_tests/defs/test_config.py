"""Dagster config derived from the plain dataclasses: every field, default and description comes
from the dataclass, and the config builds the dataclass back by keyword."""

from __future__ import annotations

import dataclasses
import datetime as dt

import dagster as dg
import pytest

from mlops_assets.core.settings import description_of, setting
from mlops_assets.defs.config import derived_config
from mlops_assets.defs.monitoring import MonitoringPolicy
from mlops_assets.monitor.policy import LoopPolicy


@dataclasses.dataclass(frozen=True)
class Window:
    end: dt.date | None = setting(None, "last day")
    start: dt.date = setting(dt.date(2013, 1, 1), "first day")
    days: int = setting(3, "how many days")


class WindowConfig(derived_config(Window, dg.Config)):
    """A test config."""


def _schema_fields(config_class) -> dict:
    return config_class.to_config_schema().as_field().config_type.fields


@pytest.mark.parametrize("plain, derived", [(LoopPolicy, MonitoringPolicy), (Window, WindowConfig)])
def test_every_field_default_and_description_comes_from_the_dataclass(plain, derived):
    schema = _schema_fields(derived)
    assert set(schema) == {field.name for field in dataclasses.fields(plain)}
    for field in dataclasses.fields(plain):
        assert schema[field.name].description == description_of(field)
    assert derived().plain() == plain()


def test_the_derived_config_builds_the_dataclass_by_keyword():
    assert MonitoringPolicy(cooldown_days=2, high_drift=0.9).plain() == LoopPolicy(cooldown_days=2, high_drift=0.9)
    config = WindowConfig(end="2013-07-01", days=5)
    assert WindowConfig().start == "2013-01-01"  # dates travel as ISO text
    assert config.plain() == Window(end=dt.date(2013, 7, 1), days=5)
    with pytest.raises(ValueError, match=r"end must be a date as YYYY-MM-DD \(or a time as YYYY-MM-DDTHH:MM\), got '07/01/2013'"):
        WindowConfig(end="07/01/2013").plain()


def test_a_field_without_a_description_or_default_is_refused():
    @dataclasses.dataclass
    class Undocumented:
        days: int = 3

    with pytest.raises(TypeError, match="Undocumented.days has no description"):
        derived_config(Undocumented, dg.Config)
    with pytest.raises(ValueError, match="needs a description"):
        setting(3, "")


def test_the_model_configs_are_derived_from_their_dataclasses():
    from mlops_assets.defs.model import EvaluationConfig, TrainingWindowConfig, TuningConfig
    from mlops_assets.evaluate.settings import EvaluationSettings
    from mlops_assets.train.window import TrainingWindow
    from mlops_assets.train.tuning import TuningBudget

    for plain, derived in ((TrainingWindow, TrainingWindowConfig), (TuningBudget, TuningConfig),
                           (EvaluationSettings, EvaluationConfig)):
        assert set(_schema_fields(derived)) == {field.name for field in dataclasses.fields(plain)}
        assert derived().plain() == plain()
    window = TrainingWindowConfig(end_date="2013-07-01", last_n_days=28, min_days=0).plain()
    assert window == TrainingWindow(end_date=dt.date(2013, 7, 1), last_n_days=28, min_days=0)
    assert TuningConfig(trials=2, nthread=1).plain() == TuningBudget(trials=2, nthread=1)


def test_the_weekly_schedules_window_keeps_training_snapshots_default_min_days():
    from mlops_assets.defs.automation import train_window_config
    from mlops_assets.defs.model import TrainingWindowConfig
    from mlops_assets.defs.names import ModelNames

    config = train_window_config(ModelNames("m"), dt.date(2013, 7, 1), 28)["ops"]["m__training_snapshot"]["config"]
    assert config == {"end_date": "2013-07-01", "last_n_days": 28}
    assert TrainingWindowConfig(**config).plain().min_days == TrainingWindowConfig().plain().min_days


def test_an_unknown_or_renamed_field_is_refused_by_name():
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=r"high_psi\n  Extra inputs are not permitted"):
        MonitoringPolicy(high_psi=0.9)  # renamed high_drift when drift got a statistic seam
    with pytest.raises(pydantic.ValidationError, match=r"dayz\n  Extra inputs are not permitted"):
        WindowConfig(dayz=3)
