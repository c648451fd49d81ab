"""Settings declared once: a field of a plain dataclass carries its default and what it means, so
the Dagster config built from that dataclass (``defs/config.py``) documents every field in the UI
without repeating a default."""

from __future__ import annotations

import dataclasses
from typing import Any

DESCRIPTION = "description"


def setting(default: Any, description: str) -> Any:
    """A dataclass field with ``default`` and a one-line ``description`` for people configuring it."""
    if not description:
        raise ValueError("a setting needs a description: it is what people read where they set it")
    return dataclasses.field(default=default, metadata={DESCRIPTION: description})


def description_of(field: dataclasses.Field) -> str:
    return field.metadata.get(DESCRIPTION, "")
