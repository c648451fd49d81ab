"""ingest_and_featurize: the ingest job's work for one day without Dagster."""

import pytest

from mlops_assets.validate.data_gates import DATA_GATES
from mlops_assets.pipeline.ingest_day import NotMaterializedError, check_feature_day, gate_raw_day, ingest_and_featurize
from mlops_assets.features.checks import FEATURE_CHECKS
from mlops_assets.features.build import current_feature_version
from mlops_assets.core.verdicts import latest_verdicts
from mlops_assets.core.warehouse import connect


def test_a_clean_day_gets_every_gate_features_and_every_check_recorded(state, spec, land_flights, flight_days):
    day = flight_days[0]
    land_flights(day)
    results = ingest_and_featurize(spec, state, day)
    assert [r.check for r in results] == [*DATA_GATES, *FEATURE_CHECKS]
    assert all(r.passed for r in results), [r.summary for r in results if not r.passed]
    with connect(state.warehouse_path) as con:
        version = current_feature_version(con, spec, day)
        assert version is not None and version[1] > 100
        recorded = latest_verdicts(con, dataset=spec.name, asset="features", day=day, content_hash=version[0])
    assert set(recorded) == set(FEATURE_CHECKS)


def test_a_day_failing_a_data_gate_gets_no_features(state, spec, land_flights, flight_days):
    day = flight_days[0]
    [path] = land_flights(day)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("distance")
    broken = [lines[0]] + [
        ",".join("far" if i == column else v for i, v in enumerate(line.split(","))) if n % 5 == 0 else line
        for n, line in enumerate(lines[1:])
    ]
    path.write_text("\n".join(broken) + "\n")
    results = ingest_and_featurize(spec, state, day)
    assert [r.check for r in results] == list(DATA_GATES)
    failed = {r.check: r for r in results if not r.passed}
    assert "check_schema" in failed and "distance" in failed["check_schema"].summary
    with connect(state.warehouse_path) as con:
        assert current_feature_version(con, spec, day) is None


def test_checks_on_a_day_never_ingested_name_the_missing_asset(state, spec, flight_days):
    day = flight_days[0]
    with pytest.raises(NotMaterializedError, match=f"no snapshot of nycflights for {day}; materialize raw_nycflights first"):
        gate_raw_day(spec, state, day)
    with pytest.raises(NotMaterializedError, match=f"no features of nycflights for {day}; materialize nycflights_features first"):
        check_feature_day(spec, state, day)


def test_named_gates_run_alone_in_their_declared_order(state, spec, land_flights, flight_days):
    day = flight_days[0]
    land_flights(day)
    ingest_and_featurize(spec, state, day)
    _hash, results = gate_raw_day(spec, state, day, names={"check_row_count", "check_schema"})
    assert [r.check for r in results] == [name for name in DATA_GATES if name in {"check_row_count", "check_schema"}]
