"""Who acted, as the promotion ledger records it: never a bare "dagster"."""

from mlops_assets.promote.ledger import run_operator


def test_a_sensor_requested_run_names_the_sensor_and_the_run():
    tags = {"dagster/sensor_name": "retrain_on_drift_sensor", "user": "ignored"}
    assert run_operator(tags, "run-1", "alice") == "sensor retrain_on_drift_sensor (run run-1)"


def test_a_scheduled_run_names_the_schedule_and_the_run():
    assert run_operator({"dagster/schedule_name": "weekly_retrain"}, "run-2", "alice") == \
        "schedule weekly_retrain (run run-2)"


def test_a_manual_run_names_the_launching_user_before_the_process_user():
    assert run_operator({"user": "bob"}, "run-3", "alice") == "bob"
    assert run_operator({"dagster/user": "carol@example.com"}, "run-3", "alice") == "carol@example.com"
    assert run_operator({}, "run-3", "alice") == "alice (run run-3)"


def test_without_any_identity_the_run_is_named_not_dagster():
    operator = run_operator({"user": "  "}, "run-4", None)
    assert operator == "unknown operator (run run-4)"
    assert operator != "dagster"
