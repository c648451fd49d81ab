"""The Dagster names of the bundled flights dataset and its model, as the tests refer to them."""

from mlops_assets.core.verdicts import evaluation_asset
from mlops_assets.defs.names import DatasetNames, ModelNames

FLIGHTS = DatasetNames("nycflights")
LATE = ModelNames("nycflights_late")
INGEST_JOB = FLIGHTS.ingest_job
LANDING_SENSOR = FLIGHTS.landing_sensor
LABEL_SENSOR = FLIGHTS.label_sensor
LABELS_JOB = FLIGHTS.labels_job
TRAIN_JOB = LATE.train_job
SCORE_JOB = LATE.job("score")
TIMELINE_JOB = LATE.job("timeline")
ROLLBACK_JOB = LATE.rollback_job
RETRAINING_SENSOR = LATE.retraining_sensor
LATE_EVALUATION = evaluation_asset(LATE.model)

# the synthetic sensors dataset of conftest (SENSOR_SPEC_YAML) and its one model
SENSOR_DATA = DatasetNames("sensors")
SENSOR_MODEL = ModelNames("sensors_failed")
