"""Dagster config and resources derived from the plain dataclasses that declare their defaults.

A Dagster class built here has one field per field of the dataclass, by name, with its type,
default and description (``core.settings.setting``), and no other: an unknown field is refused.
``plain()`` builds the dataclass back by keyword. Dagster config has no date type, so dates travel
as ISO text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from typing import Any

import pydantic

from mlops_assets.core.settings import description_of


def derived_config(plain: type, base: type, defaults: Any = None) -> type:
    """A subclass of ``base`` (``dg.Config``, ``dg.ConfigurableResource`` or a component's
    ``dg.Model``) with the fields of the dataclass ``plain``; subclass it in turn to add a docstring
    and wiring. ``defaults``, an instance of ``plain``, replaces the declared defaults (a model's own
    policy from its component YAML)."""
    hints = typing.get_type_hints(plain)
    definitions: dict[str, Any] = {}
    for field in dataclasses.fields(plain):
        if not description_of(field):
            raise TypeError(f"{plain.__name__}.{field.name} has no description: declare it with core.settings.setting")
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{plain.__name__}.{field.name} has no default; a derived config needs one for every field")
        kind = hints[field.name]
        default = field.default if defaults is None else getattr(defaults, field.name)
        if _is_date(kind):
            kind, default = str | None, default.isoformat() if default else None
        definitions[field.name] = (kind, pydantic.Field(default=default, description=description_of(field)))
    fields = pydantic.create_model(f"{plain.__name__}Fields", __base__=base, **definitions)
    return type(f"{plain.__name__}Config", (fields,), {
        # a misspelt or renamed field is refused by name, not silently ignored (pydantic's default)
        "model_config": pydantic.ConfigDict(extra="forbid"),
        "plain": _plain_builder(plain, hints),
        "__module__": __name__,
    })


def _plain_builder(plain: type, hints: dict[str, Any]):
    def plain_from(self) -> Any:
        values = {}
        for field in dataclasses.fields(plain):
            value = getattr(self, field.name)
            if _is_date(hints[field.name]) and value is not None:
                value = _date_or_time(field.name, value)
            values[field.name] = value
        return plain(**values)

    plain_from.__doc__ = f"The {plain.__name__} this config describes."
    return plain_from


def _date_or_time(name: str, text: str) -> dt.date:
    """ISO text back to a date, or to a datetime when it names a time (an hourly partition)."""
    try:
        return dt.datetime.fromisoformat(text) if "T" in text or " " in text.strip() else dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD (or a time as YYYY-MM-DDTHH:MM), got {text!r}") from None


def _is_date(kind: Any) -> bool:
    return kind is dt.date or (typing.get_origin(kind) in (typing.Union, types.UnionType) and dt.date in typing.get_args(kind))
