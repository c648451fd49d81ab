"""Sensors and schedules: the loop that runs without anyone pressing a button.

Each dataset has its landing sensor; each model its retraining sensor, automation sensor and
schedules (names from ``defs.names``: ``<dataset>_landing_sensor``, ``<model>_retraining_sensor``, ...).

- landing_sensor (RUNNING): the new or changed landing files since its last tick start ingest_job,
  one ranged run per stretch of consecutive days; the run key is the days and the files' sha256, so
  files landed twice run once.
- monitoring_automation_sensor (RUNNING): declarative automation scores a day and computes its drift
  as soon as its features exist and every blocking check upstream passed.
- retraining_sensor (RUNNING): reads the drift and performance history and requests train_job on
  high drift, persistent moderate drift (of the drift statistic the monitoring policy names) or
  degraded live AUC, with a cool-down; the reason travels
  as run tags into MLflow, the ledger and the model card.
- run_failure_alert_sensor (RUNNING): every failed run becomes a row in `alerts` (and a webhook post).
- weekly_retraining_schedule, daily_monitoring_schedule (STOPPED): for live data on the wall clock.
"""

import datetime as dt
import hashlib
import json
import os

import dagster as dg

from mlops_assets.defs.common import range_tags
from mlops_assets.defs.model import TRIGGER_TAG
from mlops_assets.defs.names import DatasetNames, ModelNames
from mlops_assets.defs.resources import StateResource
from mlops_assets.defs.runs import failure_event_message
from mlops_assets.core.grain import key_of
from mlops_assets.core.spec import DatasetSpec

WEBHOOK_ENV = "MLOPS_ALERT_WEBHOOK_URL"
SENSOR_LOCK_WAIT_SECONDS = 20.0


def build_landing_sensor(spec: DatasetSpec, *, labels: bool = False) -> dg.SensorDefinition:
    """The sensor on the landing zone of the rows (ingestion), or with ``labels`` on the label zone."""
    names = DatasetNames.of(spec)
    job_name = names.labels_job if labels else names.ingest_job
    zone = f"landing/{spec.name}/labels/" if labels else f"landing/{spec.name}/"

    @dg.sensor(
        name=names.label_sensor if labels else names.landing_sensor,
        job_name=job_name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Starts {job_name} for the new or changed files in {zone}: one run per stretch of "
            "consecutive days (at most the spec's backfill_days_per_run); run key: the days and the files' sha256."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, state: StateResource):
        from mlops_assets.ingest.landing import new_landings
        from mlops_assets.pipeline.backfill import day_ranges

        seen = json.loads(context.cursor) if context.cursor else {}
        changed, seen = new_landings(state.layout(), spec, seen, labels=labels)
        arrived = {}
        for day, path, digest in changed:
            first, end = spec.partitions.start_date, spec.partitions.end_date or dt.date.max
            if not spec.grain.as_start(first) <= day < spec.grain.as_start(end):
                context.log.warning(f"{path.name} is outside the partitions of {spec.name}; ignored")
                continue
            if not spec.grain.is_start(day):
                context.log.warning(f"{path.name} does not start a {spec.grain.name} partition of {spec.name}; ignored")
                continue
            arrived[day] = (path, digest)
        for first, last in day_ranges(arrived, spec.partitions.backfill_days_per_run, spec.grain):
            yield _landing_request(first, last, {day: arrived[day] for day in sorted(arrived) if first <= day <= last},
                                   spec.grain.partitioned)
        context.update_cursor(json.dumps(seen))

    return landing_sensor


def _landing_request(first: dt.date, last: dt.date, files: dict, partitioned: bool = True) -> dg.RunRequest:
    """One ingest_job run for the landed files of first..last; the run key is the days and the
    files' sha256, so the same files landed again never run twice."""
    if first == last:
        path, digest = files[first]
        return dg.RunRequest(run_key=f"{first.isoformat()}:{digest}",
                             partition_key=key_of(first) if partitioned else None,
                             tags={"mlops/landing_file": path.name, "mlops/landing_sha256": digest})
    digest = hashlib.sha256(";".join(f"{day.isoformat()}:{sha}" for day, (_, sha) in files.items()).encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"{first.isoformat()}..{last.isoformat()}:{digest}",
        tags={**range_tags(first, last), "mlops/landing_files": str(len(files)), "mlops/landing_sha256": digest},
    )


def build_retraining_sensor(spec: DatasetSpec) -> dg.SensorDefinition:
    names = ModelNames.of(spec)

    @dg.sensor(
        name=names.retraining_sensor,
        job_name=names.train_job,
        required_resource_keys={"state", names.monitoring_policy},
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Requests {names.train_job} (on the last N days) when drift is high, moderate drift persists, "
            "the champion's live AUC degrades, or the gate override it was promoted with expired; "
            "one request per cool-down period."
        ),
    )
    def retraining_sensor(context: dg.SensorEvaluationContext):
        from mlops_assets.core.warehouse import WarehouseBusyError, connect
        from mlops_assets.retrain.requests import retraining_request

        cursor = json.loads(context.cursor) if context.cursor else {}
        last = (spec.grain.as_start(dt.datetime.fromisoformat(cursor["last_trigger_day"]))
                if cursor.get("last_trigger_day") else None)
        policy = getattr(context.resources, names.monitoring_policy).plain()
        try:
            with connect(context.resources.state.layout().warehouse_path, wait_seconds=SENSOR_LOCK_WAIT_SECONDS) as con:
                request = retraining_request(con, spec, policy, last)
        except WarehouseBusyError:
            return dg.SkipReason("the warehouse is busy; trying again next tick")
        if isinstance(request, str):
            return dg.SkipReason(request)
        trigger = request.trigger
        context.update_cursor(json.dumps({"last_trigger_day": trigger.day.isoformat()}))
        return dg.RunRequest(
            run_key=trigger.run_key,
            run_config=train_window_config(names, trigger.day, request.window_days, request.min_days,
                                           request.holdout_days),
            tags={
                TRIGGER_TAG: trigger.reason,
                "mlops/trigger_rule": trigger.rule,
                "mlops/trigger_day": trigger.day.isoformat(),
                "mlops/trigger_features": json.dumps({k: round(v, 4) for k, v in trigger.features.items()}),
            },
        )

    return retraining_sensor


def train_window_config(names: ModelNames, end: dt.date, window_days: int, min_days: int | None = None,
                        holdout_days: int | None = None) -> dict:
    """The model's training_snapshot run config for the ``window_days`` days ending on ``end``;
    without ``min_days`` or ``holdout_days`` its default (train.window.TrainingWindow) applies."""
    config: dict = {"end_date": end.isoformat(), "last_n_days": window_days}
    if min_days is not None:
        config["min_days"] = min_days
    if holdout_days is not None:
        config["holdout_days"] = holdout_days
    return names.run_config({"training_snapshot": config})


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Records every failed run in the alerts table and posts it to ${WEBHOOK_ENV} when set.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, state: StateResource):
    from mlops_assets.monitor.alerts import readable_reason, record_alert

    failures = [(event.step_key or "run", failure_event_message(event)) for event in context.get_step_failure_events()]
    reason = readable_reason(failures, context.failure_event.message or "run failed")
    run = context.dagster_run
    status = record_alert(
        state.layout(), run_id=run.run_id, job=run.job_name,
        partition=run.tags.get("dagster/partition"), reason=reason, webhook_url=os.environ.get(WEBHOOK_ENV),
    )
    context.log.info(f"alert for {run.job_name} run {run.run_id[:8]}: {reason} (webhook: {status})")


def _last_complete_hour(spec: DatasetSpec, scheduled: dt.datetime) -> dt.datetime:
    """The hour before the one holding ``scheduled``, in the spec's timezone (not the schedule's)."""
    import zoneinfo

    local = scheduled.astimezone(zoneinfo.ZoneInfo(spec.timestamp.timezone)).replace(tzinfo=None)
    return spec.grain.previous(spec.grain.partition_of(local))


def build_schedules(spec: DatasetSpec, score_job, train_job, settings=None) -> list:
    """The model's wall-clock schedules; ``settings`` (the component's ``schedules:`` block) sets
    their crons and whether they start switched on."""
    from mlops_assets.defs.lifecycle import ScheduleSettings

    names = ModelNames.of(spec)
    settings = settings or ScheduleSettings()
    status = dg.DefaultScheduleStatus.RUNNING if settings.running else dg.DefaultScheduleStatus.STOPPED

    @dg.schedule(
        name=names.weekly_retraining_schedule,
        cron_schedule=settings.retrain_cron,
        job=train_job,
        default_status=status,
        required_resource_keys={names.monitoring_policy},
        description="Retrains on the last N days (the model's monitoring policy) on a cadence, whatever the drift.",
    )
    def weekly_retraining_schedule(context: dg.ScheduleEvaluationContext):
        monitoring_policy = getattr(context.resources, names.monitoring_policy)
        if spec.grain.within_day:  # up to the last complete hour, not to yesterday's midnight hour
            end = _last_complete_hour(spec, context.scheduled_execution_time)
        else:
            end = (context.scheduled_execution_time - dt.timedelta(days=1)).date()
        return dg.RunRequest(
            run_key=f"weekly-{end.isoformat()}",
            run_config=train_window_config(names, end, monitoring_policy.retrain_window_days),
            tags={TRIGGER_TAG: f"weekly schedule ({end.isoformat()})", "mlops/trigger_rule": "schedule"},
        )

    @dg.schedule(
        name=names.daily_monitoring_schedule,
        cron_schedule=settings.score_cron,
        job=score_job,
        default_status=status,
        description="Scores the last complete partition (yesterday for a daily dataset) and computes its drift "
                    "(a fallback to the automation sensor).",
    )
    def daily_monitoring_schedule(context: dg.ScheduleEvaluationContext):
        # the run key names the partition: a yearly dataset's last year is scored once, not every day
        scheduled = context.scheduled_execution_time
        if spec.grain.within_day:
            day = _last_complete_hour(spec, scheduled)
        else:
            day = spec.grain.previous(spec.grain.partition_of(scheduled.date()))
        if not spec.grain.partitioned:  # the table as it is now, once a day
            return dg.RunRequest(run_key=f"score-{scheduled.isoformat()}")
        return dg.RunRequest(run_key=f"score-{spec.grain.key(day)}", partition_key=spec.grain.key(day))

    return [weekly_retraining_schedule, daily_monitoring_schedule]
