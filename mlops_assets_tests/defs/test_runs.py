"""Running jobs from Python: one quiet run config, one way to get a step's own error."""

from __future__ import annotations

import dagster as dg

from mlops_assets.defs.runs import QUIET_RUN_CONFIG, failure_event_message, quiet, step_failure_message


class VersionRefused(RuntimeError):
    pass


@dg.op
def refuses():
    try:
        raise ValueError("feature_encoding.json has sha256 0123")
    except ValueError as error:
        raise VersionRefused("version 3 cannot be loaded safely: feature_encoding.json has sha256 0123") from error


@dg.job
def refusing_job():
    refuses()


def test_the_step_error_is_ours_with_its_context_not_dagsters_nor_its_cause():
    result = refusing_job.execute_in_process(raise_on_error=False, run_config=quiet())
    expected = "VersionRefused: version 3 cannot be loaded safely: feature_encoding.json has sha256 0123"
    assert step_failure_message(result).endswith(expected)  # after the class's module
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure_event_message(failure) == step_failure_message(result)  # what the failure alert records


def test_quiet_merges_nested_config_and_keeps_the_logger_quiet():
    config = quiet({"ops": {"a": {"config": {"x": 1}}}, "loggers": {"console": {"config": {"extra": True}}}})
    assert config["ops"] == {"a": {"config": {"x": 1}}}
    assert config["loggers"]["console"]["config"] == {"log_level": "WARNING", "extra": True}
    assert quiet() == QUIET_RUN_CONFIG and quiet() is not QUIET_RUN_CONFIG
