"""A component's YAML attributes as Dagster's template rendering would make them, without its
template engine when no value holds a template.

Dagster renders every non-empty string of a component's attributes as a Jinja native template
(``ResolutionContext.resolve_value``), so that ``{{ env.X }}`` works anywhere. For a string without
template syntax that rendering still changes it: one trailing newline goes, ``\\r\\n`` becomes
``\\n``, and a string that reads as a Python literal becomes that value (``"8"`` is 8). Importing
Jinja and compiling one template per string cost ~20-30 ms on every import of the code location
(benchmarks/results.md, "import"), so a value whose strings hold no template syntax is rendered here
the same way; anything else (a ``{``, a ``\\r``, a string that renders empty) is left to Dagster.
"""

from __future__ import annotations

from ast import literal_eval, parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


class NeedsTemplateEngine(Exception):
    """A string that only Dagster's template rendering may resolve."""


def rendered_fields(attributes: BaseModel | None) -> dict[str, Any] | None:
    """The fields the YAML set, rendered as Dagster's resolution of a component renders them (it
    resolves only the fields that were set, so the others keep their defaults); None when there are
    no attributes or a value needs the template engine."""
    if attributes is None:
        return None
    try:
        return {name: render_plain(getattr(attributes, name)) for name in attributes.model_fields_set}
    except NeedsTemplateEngine:
        return None


def render_plain(value: Any) -> Any:
    """``value`` as Dagster's rendering returns it, walking dicts, lists and tuples as it does.

    Raises ``NeedsTemplateEngine`` for a string this cannot render exactly as Jinja would."""
    if isinstance(value, dict):
        return {key: render_plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(render_plain(item) for item in value)
    if isinstance(value, list):
        return [render_plain(item) for item in value]
    if isinstance(value, str) and value:
        return _render_text(value)
    return value


def _render_text(text: str) -> Any:
    # every Jinja delimiter starts with "{" (line statements are off in Dagster's environment)
    if "{" in text or "\r" in text:
        raise NeedsTemplateEngine(text)
    raw = text[:-1] if text.endswith("\n") else text  # Jinja drops one trailing newline
    if not raw:
        raise NeedsTemplateEngine(text)  # renders as None
    try:
        # what jinja2.nativetypes.native_concat does with a template's output
        return literal_eval(parse(raw, mode="eval"))
    except (ValueError, SyntaxError, MemoryError):
        return raw
