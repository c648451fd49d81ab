"""Running a job from Python (the CLI, the replay loop, the failure alerts): quiet run config, and
the error a step raised, out of Dagster's wrapping.

Deliberately free of a dagster import, so the CLI can import it at startup.
"""

from __future__ import annotations

from typing import Any

# The terminal shows one line per run; the full event log is in the UI.
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def quiet(run_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``run_config`` (merged key by key, nested dicts included) with the console logger quiet."""
    return _merge(QUIET_RUN_CONFIG, run_config or {})


def user_error_message(error: Any) -> str:
    """The message of the error a step raised: Dagster wraps it in its own errors (whose class names
    start with "Dagster"); ours keep their cause, because they add what the cause lacks (which file,
    which version). ``error`` is a SerializableErrorInfo; the message is "ErrorClass: text"."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.message.strip()


def step_failure_message(result: Any) -> str:
    """The first failed step's own error in an ExecuteInProcessResult."""
    failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None)
    if failure is None:
        return "no step failed; see the run in the UI"
    return failure_event_message(failure)


def failure_event_message(event: Any) -> str:
    """A step-failure event's own error, or the event's message when it carries no error."""
    error = getattr(event.event_specific_data, "error", None)
    return user_error_message(error) if error is not None else (event.message or "")


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged
