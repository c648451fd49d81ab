"""Credentials never reach what the platform prints or stores."""

from __future__ import annotations

from mlops_assets.monitor.alerts import post_webhook
from mlops_assets.core.secrets import redact, redact_url


def test_userinfo_and_secret_parameters_are_masked():
    uri = "postgresql://mlflow:s3cr3t@db.internal:5432/mlflow?sslmode=require&password=hunter2"
    shown = redact(uri)
    assert "s3cr3t" not in shown and "hunter2" not in shown and "mlflow:" not in shown
    assert shown == "postgresql://***@db.internal:5432/mlflow?sslmode=require&password=***"
    assert redact("sqlite:////tmp/state/mlflow/mlflow.db") == "sqlite:////tmp/state/mlflow/mlflow.db"
    assert redact("https://host/x?api_key=abc&b=1") == "https://host/x?api_key=***&b=1"
    assert redact(None) == ""


def test_webhook_urls_show_only_their_host():
    assert redact_url("https://hooks.example.com/services/T00/B00/XXXXSECRET") == "https://hooks.example.com/***"


def test_a_failing_webhook_does_not_store_its_url():
    status = post_webhook("xyz://bot:pw@hooks.example.com/services/T00/B00/XXXXSECRET?token=abc", {"a": 1})
    assert status.startswith("failed:")
    for secret in ("pw", "XXXXSECRET", "abc"):
        assert secret not in status.split("failed:")[1].replace("***", ""), status
