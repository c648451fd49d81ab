"""The ModelLifecycle component: one model per defs.yaml, every name it owns under the model's own
prefix, its policies from the YAML, and a scaffold a user edits."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mlops_assets.core.spec import SpecError, load_spec
from mlops_assets.definitions import build_dataset_definitions, project_definitions, shared_definitions
from mlops_assets.defs.lifecycle import ModelLifecycle
from mlops_assets.defs.names import DatasetNames, ModelNames

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL_ASSETS = ("training_snapshot", "candidate_model", "candidate_evaluation", "model_card", "champion_model",
                "batch_predictions", "drift_report", "live_performance", "monitoring_timeline")


def component(**attributes) -> ModelLifecycle:
    return ModelLifecycle.from_attributes_dict(attributes={"dataset": "nycflights", **attributes})


def code_location(*models: ModelLifecycle) -> dg.Definitions:
    """The models, each dataset they use once, and the shared resources: what definitions.py builds."""
    datasets = {m.model_spec().name: m.model_spec() for m in models}
    return dg.Definitions.merge(
        *(dg.build_defs_for_component(m) for m in models),
        *(build_dataset_definitions(spec) for spec in datasets.values()),
        shared_definitions(),
    )


def test_two_models_share_one_dataset_and_own_everything_else():
    late = component(name="late_a")
    delay = component(name="delay_b", target="arrival_delay_minutes")
    defs = code_location(late, delay)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_nycflights", "nycflights_features"} <= keys  # the dataset's, built once
    for model in ("late_a", "delay_b"):
        names = ModelNames(model)
        assert {f"{model}/{asset}" for asset in MODEL_ASSETS} <= keys
        assert {graph.get(names.key(a)).group_name for a in MODEL_ASSETS} == {model}
        for job in (names.train_job, names.job("score"), names.job("performance"), names.job("timeline"),
                    names.rollback_job):
            defs.resolve_job_def(job)
        assert {names.retraining_sensor, names.automation_sensor} <= {s.name for s in defs.sensors}
        assert {names.weekly_retraining_schedule, names.daily_monitoring_schedule} <= {s.name for s in defs.schedules}
        assert {names.gate_policy, names.monitoring_policy} <= set(defs.resources)
        # the model's training reads the shared features and labels; nothing of the other model
        parents = graph.get(names.key("training_snapshot")).parent_keys
        assert parents == {dg.AssetKey("nycflights_features"), dg.AssetKey("nycflights_labels")}
        assert graph.get(names.key("live_performance")).parent_keys == {
            names.key("batch_predictions"), dg.AssetKey("nycflights_labels")}
    assert DatasetNames("nycflights").ingest_job in {j.name for j in defs.jobs}
    assert delay.model_spec().model.task == "regression" and late.model_spec().model.task == "binary"


def test_the_yaml_policies_become_the_models_own_resources_and_config():
    defs = code_location(component(name="strict", gates={"min_auc": 0.8}, tuning={"trials": 3},
                                   monitoring={"cooldown_days": 3}, schedules={"running": True, "retrain_cron": "0 4 * * *"}))
    names = ModelNames("strict")
    assert defs.resources[names.gate_policy].thresholds().min_auc == 0.8
    assert defs.resources[names.monitoring_policy].cooldown_days == 3
    schedule = next(s for s in defs.schedules if s.name == names.weekly_retraining_schedule)
    assert schedule.cron_schedule == "0 4 * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(names.train_job)
    config_type = job.run_config_schema.config_type.fields["ops"].config_type.fields[names.op("candidate_model")]
    assert config_type.config_type.fields["config"].config_type.fields["trials"].default_value == 3


@pytest.mark.parametrize(
    "attributes, message",
    [
        ({"name": "m", "target": "nothing_like_it"}, "target 'nothing_like_it' is not one of the dataset nycflights's targets"),
        ({"name": "m", "task": "regression"}, "a regression model needs a numeric target, but 'late' is boolean"),
        ({"name": "m", "dataset": "no_such_spec"}, "dataset spec 'no_such_spec' not found"),
    ],
)
def test_a_model_that_cannot_be_built_is_refused_by_name(attributes, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        component(**attributes).model_spec()


@pytest.mark.parametrize(
    "attributes, field",
    [({"name": "m", "gates": {"min_acu": 0.7}}, "min_acu"), ({"name": "Bad Name"}, "name"),
     ({"name": "m", "monitoring": {"cooldown_days": "soon"}}, "cooldown_days")],
)
def test_a_typo_or_bad_value_in_the_yaml_is_refused_naming_the_field(attributes, field):
    with pytest.raises(Exception, match=field):
        component(**attributes)


def test_the_scaffold_writes_a_model_that_builds(tmp_path):
    from dagster.components.scaffold.scaffold import ScaffoldRequest

    from mlops_assets.defs.lifecycle import ModelLifecycleScaffolder, ScaffoldParams

    target = tmp_path / "flight_delay"
    target.mkdir()  # dg creates the folder before it calls the scaffolder
    request = ScaffoldRequest(
        type_name="mlops_assets.ModelLifecycle", target_path=target, scaffold_format="yaml",
        project_root=tmp_path, params=ScaffoldParams(dataset="nycflights", target="arrival_delay_minutes"),
    )
    ModelLifecycleScaffolder().scaffold(request)
    document = yaml.safe_load((target / "defs.yaml").read_text())
    assert document["type"] == "mlops_assets.ModelLifecycle"
    attributes = document["attributes"]
    assert attributes["name"] == "flight_delay" and attributes["target"] == "arrival_delay_minutes"
    assert set(attributes) >= {"gates", "monitoring", "tuning", "schedules"}  # every policy written out to edit
    defs = code_location(ModelLifecycle.from_attributes_dict(attributes=attributes))
    defs.resolve_job_def(ModelNames("flight_delay").train_job)


def test_the_code_location_loads_every_model_of_the_project_folder():
    defs = project_definitions()
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    folders = [p.name for p in (PROJECT_ROOT / "mlops_assets" / "defs" / "models").iterdir() if (p / "defs.yaml").exists()]
    assert folders, "the project bundles its models"
    for folder in folders:
        model = yaml.safe_load((PROJECT_ROOT / "mlops_assets" / "defs" / "models" / folder / "defs.yaml").read_text())
        assert f"{model['attributes']['name']}/champion_model" in keys


def test_the_project_bundles_three_models_of_three_tasks_on_two_datasets_of_two_grains():
    from mlops_assets.definitions import project_models

    models = {name: (spec.name, spec.partitions.grain, spec.model.task, spec.model.target)
              for name, spec in project_models().items()}
    assert models == {
        "nycflights_late": ("nycflights", "daily", "binary", "late"),
        "flight_delay": ("nycflights", "daily", "regression", "arrival_delay_minutes"),
        "airport_visibility": ("nycweather", "weekly", "multiclass", "visibility_class"),
    }
    jobs = {job.name for job in project_definitions().resolve_all_job_defs()}
    assert {"nycflights_ingest_job", "nycweather_ingest_job", "airport_visibility_train_job"} <= jobs
    # the weather model learns the sensor's class from the other sensors: its reading is no input
    weather = project_models()["airport_visibility"]
    assert weather.forbidden_columns == ["visib"] and "visib" not in weather.features


def test_dg_lists_the_component_and_every_model():
    dg_cli = [sys.executable, "-c", "from dagster_dg_cli.cli import main; main()"]
    listed = subprocess.run([*dg_cli, "list", "components", "--json"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "mlops_assets.ModelLifecycle" in listed.stdout
    defs = subprocess.run([*dg_cli, "list", "defs", "--json"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert defs.returncode == 0, defs.stderr
    import json

    listed_keys = {asset["asset_key"] for asset in json.loads(defs.stdout)["assets"]}
    assert {key.to_user_string() for key in project_definitions().resolve_asset_graph().get_all_asset_keys()} <= listed_keys


def test_a_bare_spec_keeps_its_one_model_under_the_name_registries_hold():
    spec = load_spec()
    assert spec.model.name == "nycflights_late" and ModelNames.of(spec).train_job == "nycflights_late_train_job"


@pytest.mark.parametrize("delay", [1, 3])
def test_the_declared_label_delay_is_what_the_automation_waits_for(delay):
    """Without a label feed (outcomes in the rows), live_performance of a day depends on the raw
    partition ``label_delay_days`` later, so the automation (eager, every dependency present) waits
    for it rather than running and failing."""
    document = yaml.safe_load((PROJECT_ROOT / "mlops_assets/specs/nycflights.yaml").read_text())
    del document["labels"]
    defs = code_location(component(name="waits", dataset=document, monitoring={"label_delay_days": delay}))
    names = ModelNames("waits")
    performance = defs.resolve_assets_def(names.key("live_performance"))
    mapping = performance.get_partition_mapping(dg.AssetKey("raw_nycflights"))
    assert (mapping.start_offset, mapping.end_offset) == (delay, delay)
    partitions = performance.partitions_def
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        partitions.subset_with_partition_keys(["2013-01-10"]), partitions, partitions,
    ).partitions_subset.get_partition_keys()
    assert list(upstream) == [(dt.date(2013, 1, 10) + dt.timedelta(days=delay)).isoformat()]
