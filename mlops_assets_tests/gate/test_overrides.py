"""Gate overrides: who, why and until when are required; they expire; they never rewrite a verdict."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mlops_assets.gate.overrides import (
    MAX_OVERRIDE_DAYS,
    OverrideRefused,
    active_overrides,
    grant,
    overrides_for,
    parse_expiry,
)

GATES = ["check_min_quality", "check_calibration"]
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
SHA = "ab" * 32


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def give(con, **changes):
    arguments = dict(model="flights_late", model_sha256=SHA, gates=["check_calibration"], operator="alice",
                     reason="calibration drifts in holidays", expires_at=NOW + dt.timedelta(days=7),
                     known_gates=GATES, now=NOW)
    arguments.update(changes)
    return grant(con, **arguments)


def test_a_granted_override_is_in_force_until_it_expires(con):
    [granted] = give(con)
    assert granted.gate == "check_calibration" and granted.operator == "alice"
    assert set(active_overrides(con, "flights_late", SHA, NOW + dt.timedelta(days=6))) == {"check_calibration"}
    assert active_overrides(con, "flights_late", SHA, NOW + dt.timedelta(days=7)) == {}
    # expired overrides stay on record (the card and ledger keep showing them)
    assert [o.gate for o in overrides_for(con, "flights_late", SHA)] == ["check_calibration"]
    assert active_overrides(con, "flights_late", "cd" * 32, NOW) == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"operator": " "}, "needs an operator"),
        ({"reason": ""}, "needs a reason"),
        ({"expires_at": NOW - dt.timedelta(minutes=1)}, "not in the future"),
        ({"expires_at": NOW + dt.timedelta(days=MAX_OVERRIDE_DAYS + 1)}, f"at most {MAX_OVERRIDE_DAYS} days"),
        ({"gates": ["check_typo"]}, "unknown gate"),
        ({"gates": []}, "unknown gate"),
        ({"expires_at": dt.datetime(2026, 12, 1)}, "time zone"),
    ],
)
def test_incomplete_or_unsafe_overrides_are_refused(con, changes, message):
    with pytest.raises(OverrideRefused, match=message):
        give(con, **changes)
    assert overrides_for(con, "flights_late", SHA) == []


def test_the_longest_override_of_a_gate_wins(con):
    give(con, expires_at=NOW + dt.timedelta(days=2))
    give(con, expires_at=NOW + dt.timedelta(days=9), operator="bob")
    assert active_overrides(con, "flights_late", SHA, NOW)["check_calibration"].operator == "bob"


def test_expiry_parsing():
    assert parse_expiry("2026-12-01") == dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=dt.timezone.utc)
    assert parse_expiry("2026-12-01T08:00:00+01:00").utcoffset() == dt.timedelta(hours=1)
    assert parse_expiry("2026-12-01T08:00").tzinfo == dt.timezone.utc
    with pytest.raises(OverrideRefused, match="not a date"):
        parse_expiry("next week")
