"""Sensors of a source: new landing files → a staging run; staged days → raw partition runs.

The second sensor is what turns a late file into a backfill: a file holding records of an old
day stages rows under that day, and the sensor asks for that day's partition (and its
downstream daily marts) to be recomputed.
"""


import hashlib

import dagster as dg

from analytics_pipeline.ingestion.assets import LandingBatchConfig
from analytics_pipeline.ingestion.batching import split_batches
from analytics_pipeline.ingestion.cursor import LandingCursor
from analytics_pipeline.ingestion.manifest import pending_files, staged_days
from analytics_pipeline.ingestion.staging import batch_id_for
from analytics_pipeline.lake.resource import LakeResource

RUN_KEY_VERSION = "v1"
SENSOR_INTERVAL_SECONDS = 5


def build_landing_sensor(source: str, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{source}_landing_sensor",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts a staging run for new or changed files under landing/{source}/.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        cursor = LandingCursor.parse(context.cursor)
        landing = lake.landing_root()
        listed = landing.list_files(source)
        unseen = {f.key for f in cursor.unseen(listed)}
        new = [f for f in pending_files(lake.lake_root(), landing, source) if f.key in unseen] if unseen else []
        next_cursor = cursor.advanced(listed).serialise()
        if not new:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"no new files under landing/{source}/ ({len(listed)} files listed)"),
                cursor=next_cursor,
            )
        requests = [
            dg.RunRequest(
                run_key=f"{source}-landing-{RUN_KEY_VERSION}-{batch_id_for(batch)}",
                run_config=dg.RunConfig(ops={f"staged_{source}": LandingBatchConfig(files=[f.key for f in batch])}),
                tags={"analytics/source": source, "analytics/files": str(len(batch))},
            )
            for batch in split_batches(new)
        ]
        return dg.SensorResult(run_requests=requests, cursor=next_cursor)

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
        days = staged_days(lake.lake_root(), source)
        if not days:
            return dg.SkipReason(f"nothing staged for {source}")
        return [
            dg.RunRequest(
                partition_key=day,
                run_key=f"{source}-merge-{RUN_KEY_VERSION}-{day}-{_fingerprint(files)}",
                tags={"analytics/source": source},
            )
            for day, files in sorted(days.items())
        ]

    return staged_days_sensor


def _fingerprint(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:12]
