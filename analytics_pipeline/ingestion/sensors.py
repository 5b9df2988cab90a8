"""Sensors of a source: new landing files → a staging run; staged days → one run per range of consecutive days.

The second sensor is what turns a late file into a backfill: a file holding records of an old
day stages rows under that day, and the sensor asks for that day's partition (and its
downstream daily assets) to be recomputed. It also asks again for a day whose latest run failed
(or was killed): its raw merge may have finished — staging files gone — while its daily marts
did not.
"""

import hashlib

import dagster as dg

from analytics_pipeline.ingestion.assets import LandingBatchConfig
from analytics_pipeline.ingestion.batching import split_batches
from analytics_pipeline.ingestion.cursor import RequestCursor
from analytics_pipeline.ingestion.manifest import (
    file_marker,
    landing_scan,
    skipped_summary,
    staged_days,
)
from analytics_pipeline.ingestion.staging import batch_id_for
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.platform.orphaned_runs import release_orphaned_runs
from analytics_pipeline.platform.partitions import day_ranges, range_tags, run_days

RUN_KEY_VERSION = "v3"
FAILED_RUNS_LOOKED_AT = 200
SENSOR_INTERVAL_SECONDS = 5
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def _runs_active(context: dg.SensorEvaluationContext, job_name: str) -> bool:
    if context.instance is None:
        return False
    release_orphaned_runs(context.instance)  # a killed `analytics-pipeline run` left them STARTED
    runs = context.instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE), limit=1)
    return bool(runs)


def build_landing_sensor(source: str, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{source}_landing_sensor",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts a staging run for files under landing/{source}/ that the lake has not taken in.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        scan = landing_scan(lake.lake_root(), lake.landing_root(), source)
        pending = {f.key: f for f in scan.pending}
        cursor = RequestCursor.parse(context.cursor)
        wanted, following = cursor.plan({k: file_marker(f) for k, f in pending.items()},
                                        _runs_active(context, job.name))
        if not wanted:
            reason = (f"{len(pending)} files under landing/{source}/ are in runs on their way" if pending
                      else f"no new files under landing/{source}/")
            reason += f" ({skipped_summary(scan.skipped)})" if scan.skipped else ""
            return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=following.serialise())
        requests = []
        for batch in split_batches([pending[key] for key in wanted]):
            attempt = max(wanted[f.key] for f in batch)
            requests.append(dg.RunRequest(
                run_key=f"{source}-landing-{RUN_KEY_VERSION}-{batch_id_for(batch)}-{attempt}",
                run_config=dg.RunConfig(ops={f"staged_{source}": LandingBatchConfig(files=[f.key for f in batch])}),
                tags={"analytics/source": source, "analytics/files": str(len(batch)), "analytics/attempt": str(attempt)},
            ))
        return dg.SensorResult(run_requests=requests, cursor=following.serialise())

    return landing_sensor


def build_staged_days_sensor(source: str, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{source}_staged_days_sensor",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Merges staged `{source}` rows into their event-day partitions (late days included).",
    )
    def staged_days_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        active = _runs_active(context, job.name)
        days = {**_failed_days(context, job.name),
                **{day: _fingerprint(files) for day, files in staged_days(lake.lake_root(), source).items()}}
        cursor = RequestCursor.parse(context.cursor)
        wanted, following = cursor.plan(days, active)
        if not wanted:
            reason = f"{len(days)} staged days of {source} are in runs on their way" if days else f"nothing staged for {source}"
            return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=following.serialise())
        requests = []
        for first, last in day_ranges(wanted):
            days_in_run = [day for day in sorted(days) if first <= day <= last]
            attempt = max(wanted[day] for day in days_in_run)
            marker = _fingerprint([f"{day}:{days[day]}" for day in days_in_run])
            requests.append(dg.RunRequest(
                run_key=f"{source}-merge-{RUN_KEY_VERSION}-{first}-{last}-{marker}-{attempt}",
                tags={**range_tags(first, last), "analytics/source": source, "analytics/attempt": str(attempt),
                      "analytics/days": str(len(days_in_run))}))
        return dg.SensorResult(run_requests=requests, cursor=following.serialise())

    return staged_days_sensor


def _failed_days(context: dg.SensorEvaluationContext, job_name: str) -> dict[str, str]:
    """Days whose latest run of the daily job (one day or a range of days) failed or was canceled → a marker
    naming that run."""
    if context.instance is None:
        return {}
    decided: dict[str, str | None] = {}
    for run in context.instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=FAILED_RUNS_LOOKED_AT):
        failed = run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        for day in run_days(run.tags):  # newest run first: the first run seen decides a day
            decided.setdefault(day, f"failed-{run.run_id[:12]}" if failed else None)
    return {day: marker for day, marker in decided.items() if marker}


def _fingerprint(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:12]
