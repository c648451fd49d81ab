"""The registered model is a self-contained MLflow pyfunc: raw feature columns in (strings, numbers,
nulls), P(positive) out, the encoding inside, every file checked against the manifest digest, and
the platform's own predictions come from the same class on the same files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_assets.core.registry import ModelRegistry, model_name
from mlops_assets.core.spec import load_spec
from mlops_assets.core.spec_sections import FeatureKind
from mlops_assets.core.files import ModelFilesRefused
from mlops_assets.train.model import ENCODING_FILE, train_candidate, write_manifest
from mlops_assets.evaluate.tasks import task_of
from mlops_assets.train.pyfunc import MANIFEST_CONFIG_KEY, PREDICTION_PACKAGES, pinned_requirements
from mlops_assets.train.smoke import write_smoke_sample
from mlops_assets.train.tuning import TuningBudget


def _frame(spec, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for name, feature in spec.features.items():
        if feature.kind is FeatureKind.NUMERIC:
            values = rng.normal(size=rows)
            values[rng.random(rows) < 0.1] = np.nan
            data[name] = values
        else:
            labels = np.array([f"{name}-{i}" for i in range(5)], dtype=object)[rng.integers(0, 5, rows)]
            labels[rng.random(rows) < 0.1] = None
            data[name] = labels
    numeric = [n for n, f in spec.features.items() if f.kind is FeatureKind.NUMERIC]
    categorical = [n for n, f in spec.features.items() if f.kind is FeatureKind.CATEGORICAL]
    signal = np.nan_to_num(data[numeric[0]]) + (data[categorical[0]] == f"{categorical[0]}-1") * 2.0
    data[spec.target.name] = (signal + rng.normal(scale=0.5, size=rows) > 0.5).astype("int32")
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A small model trained, saved and logged exactly as the training step does."""
    spec = load_spec()
    base = tmp_path_factory.mktemp("pyfunc")
    trained = train_candidate(_frame(spec, 800, 1), _frame(spec, 300, 2), spec,
                              TuningBudget(trials=1, max_rounds=15, early_stopping_rounds=5), log=lambda _: None)
    folder = base / "model"
    _, sha256 = trained.save(folder)
    write_smoke_sample(folder, trained, _frame(spec, 50, 3))
    manifest = write_manifest(folder)
    registry = ModelRegistry(f"sqlite:///{base / 'mlflow.db'}", base / "artifacts", model_name(spec))
    sample = _frame(spec, 100, 4)[trained.encoding.columns].astype({c: "float64" for c in trained.encoding.numeric})
    run_id, model_uri = registry.log_candidate(
        model_dir=folder, manifest_sha256=manifest, sample_input=sample, params={}, metrics={}, tags={},
    )
    return spec, trained, registry, run_id, model_uri, sha256, manifest


def raw_rows(spec, trained) -> pd.DataFrame:
    """Rows as a registry consumer sends them: strings (one never seen in training), plain Python
    numbers (ints among them), and nulls in every column."""
    frame = _frame(spec, 40, 5)[trained.encoding.columns].astype(object)
    frame = frame.where(frame.notna(), None)
    first_categorical = next(iter(trained.encoding.categorical))
    frame.loc[0, first_categorical] = "never-seen-in-training"
    first_numeric = trained.encoding.numeric[0]
    frame.loc[1, first_numeric] = 3
    frame.loc[2] = None
    return frame


def test_the_logged_pyfunc_predicts_raw_columns_as_the_platform_does(logged):
    import mlflow.pyfunc

    spec, trained, registry, run_id, model_uri, sha256, manifest = logged
    rows = raw_rows(spec, trained)
    served = mlflow.pyfunc.load_model(model_uri).predict(rows)  # through MLflow's schema enforcement
    assert list(served.columns) == list(task_of("binary").output_columns(()))
    platform = registry.load_run_model(run_id, sha256, manifest, threshold=0.5).predict(rows)
    np.testing.assert_allclose(served["probability"].to_numpy(dtype="float64"), platform, rtol=0, atol=1e-9)
    np.testing.assert_allclose(platform, trained.predict(rows), rtol=0, atol=1e-9)
    assert np.isfinite(platform).all() and len(set(np.round(platform, 6))) > 3


def test_a_feature_column_left_out_is_refused_by_name(logged):
    import mlflow.pyfunc

    spec, trained, _, _, model_uri, _, _ = logged
    left_out = trained.encoding.columns[-1]
    with pytest.raises(Exception, match=left_out):
        mlflow.pyfunc.load_model(model_uri).predict(raw_rows(spec, trained).drop(columns=[left_out]))


def test_the_signature_names_every_feature_and_accepts_nulls_in_each(logged):
    import mlflow.models

    _, trained, _, _, model_uri, _, _ = logged
    signature = mlflow.models.get_model_info(model_uri).signature
    inputs = {column.name: column for column in signature.inputs.inputs}
    assert list(inputs) == trained.encoding.columns
    assert all(not column.required for column in inputs.values())
    assert {inputs[c].type.name for c in trained.encoding.categorical} == {"string"}
    assert {inputs[c].type.name for c in trained.encoding.numeric} == {"double"}


def test_the_pyfunc_verifies_against_the_digest_the_platform_verifies_against(logged):
    """The pyfunc's files and the run's ``platform_model`` folder the platform loads are one set of
    bytes: both are checked against the manifest digest recorded at training."""
    import mlflow.models

    *_, model_uri, _, manifest = logged
    config = mlflow.models.get_model_info(model_uri).flavors["python_function"]["config"]
    assert config == {MANIFEST_CONFIG_KEY: manifest}


def test_the_requirements_pin_the_installed_versions(logged):
    import mlflow.artifacts

    _, _, registry, _, model_uri, _, _ = logged
    folder = Path(mlflow.artifacts.download_artifacts(model_uri, tracking_uri=registry.tracking_uri))
    logged_requirements = (folder / "requirements.txt").read_text().split()
    assert logged_requirements == pinned_requirements()
    assert all("==" in line for line in logged_requirements)


def test_the_model_carries_a_ready_request_body(logged):
    import mlflow.artifacts

    _, trained, registry, _, model_uri, _, _ = logged
    folder = Path(mlflow.artifacts.download_artifacts(model_uri, tracking_uri=registry.tracking_uri))
    request = json.loads((folder / "serving_input_example.json").read_text())
    assert request["dataframe_split"]["columns"] == trained.encoding.columns
    assert len(request["dataframe_split"]["data"]) == 5


def test_a_tampered_encoding_inside_the_pyfunc_is_refused(logged, tmp_path):
    import mlflow.artifacts
    import mlflow.pyfunc

    _, _, registry, _, model_uri, _, _ = logged
    folder = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path),
                                                      tracking_uri=registry.tracking_uri))
    mlflow.pyfunc.load_model(str(folder))  # the untouched copy loads
    (encoding_path,) = folder.glob(f"artifacts/*/{ENCODING_FILE}")  # the pyfunc's copy of the model folder
    encoding = json.loads(encoding_path.read_text())
    encoding["categorical"] = {name: values[::-1] for name, values in encoding["categorical"].items()}
    encoding_path.write_text(json.dumps(encoding))
    with pytest.raises(ModelFilesRefused, match=f"model file {ENCODING_FILE} in .* has sha256"):
        mlflow.pyfunc.load_model(str(folder))


def test_the_requirements_pin_every_package_prediction_imports(logged, tmp_path):
    """In a fresh process, load the pyfunc through MLflow and predict: every distribution imported
    beyond what MLflow's own loader imports must be pinned (mlops_assets travels by installation)."""
    import mlflow.artifacts

    spec, trained, registry, _, model_uri, _, _ = logged
    folder = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path), tracking_uri=registry.tracking_uri)
    rows_path = tmp_path / "rows.json"
    raw_rows(spec, trained).to_json(rows_path, orient="split")
    script = textwrap.dedent(f"""
        import importlib.metadata, json, sys
        import mlflow.pyfunc, pandas
        before = set(sys.modules)
        model = mlflow.pyfunc.load_model({str(folder)!r})
        model.predict(pandas.read_json({str(rows_path)!r}, orient="split"))
        top = {{name.split(".")[0] for name in set(sys.modules) - before}}
        known = importlib.metadata.packages_distributions()
        print(json.dumps(sorted({{d for name in top for d in known.get(name, [])}})))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "xgboost" in imported  # the measurement sees the prediction path
    assert imported - {"mlops_assets"} <= set(PREDICTION_PACKAGES), imported - set(PREDICTION_PACKAGES)
