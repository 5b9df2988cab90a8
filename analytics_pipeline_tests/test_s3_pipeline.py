"""Landing zone and lake on S3 (a real moto S3 server on 127.0.0.1): sensors, ETag cursor, full runs.

Nothing is mocked: the sensors list the bucket through s3fs, DuckDB reads and writes s3:// paths
through the same filesystem, and the warehouse views point at s3:// paths.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pytest

from analytics_pipeline import runner
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.ingestion.cursor import RequestCursor
from analytics_pipeline.ingestion.sensors import RUN_KEY_VERSION
from analytics_pipeline.platform.partitions import run_days
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.conftest import claims_report
from analytics_pipeline_tests.records import epoch, image, insert, jsonl, stream_record

LANDING_SENSOR = "claims_landing_sensor"


def _days_ago(n: int) -> str:
    """Event days relative to today (UTC): inside the partitions and the accepted event-time range."""
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


# the event days of the tests: an old day that gets a late file, and the day after it
OLD_DAY, DAY = _days_ago(11), _days_ago(10)


def modify(event_id: str, claim_id: str, day: str, hour: int, status: str, **attributes) -> dict:
    return stream_record(event_id, "MODIFY", epoch(day, hour), claim_id,
                         new=image(claim_id, status, **attributes), old=image(claim_id))


class Bucket:
    """The test bucket, spoken to with plain boto3 against the moto server."""

    def __init__(self, settings: Settings):
        self.name, _, self.lake_prefix = settings.lake_uri.removeprefix("s3://").partition("/")
        self.landing_prefix = settings.landing_uri.removeprefix("s3://").partition("/")[2]
        self.client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)

    def land(self, name: str, body: bytes) -> str:
        """Put ``body`` at landing/claims/<name>; returns its ETag (without quotes)."""
        response = self.client.put_object(Bucket=self.name, Key=f"{self.landing_prefix}/claims/{name}", Body=body)
        return response["ETag"].strip('"')

    def keys(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            kwargs = {"Bucket": self.name, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = page["NextContinuationToken"]

    def last_modified(self, key: str):
        return self.client.head_object(Bucket=self.name, Key=key)["LastModified"]


@pytest.fixture
def bucket(s3_lake_env: Settings) -> Bucket:
    return Bucket(s3_lake_env)


def evaluate_landing(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, definitions=defs, sensor_name=LANDING_SENSOR,
                                      resources=defs.resources, cursor=cursor)
    result = defs.resolve_sensor_def(LANDING_SENSOR)(context)
    assert isinstance(result, dg.SensorResult)
    return result


def ingest(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> None:
    config = request.run_config if isinstance(request.run_config, dict) else request.run_config.to_config_dict()
    result = defs.resolve_job_def("claims_ingest_job").execute_in_process(run_config=config, instance=instance)
    assert result.success


def files_of(request: dg.RunRequest) -> list[str]:
    config = request.run_config if isinstance(request.run_config, dict) else request.run_config.to_config_dict()
    return config["ops"]["staged_claims"]["config"]["files"]


def quiet(progress: str) -> None:
    pass


def test_landing_sensor_lists_the_s3_prefix_and_its_cursor_follows_etags(s3_lake_env: Settings, bucket: Bucket):
    assert s3_lake_env.landing_uri.startswith("s3://")
    instance = runner.dagster_instance(s3_lake_env)
    defs = build_definitions()
    try:
        body = jsonl([insert("s3-1", "C-1", DAY), insert("s3-2", "C-2", DAY, hour=13)])
        etag = bucket.land("firehose/batch-a.jsonl", body)

        first = evaluate_landing(defs, instance)

        assert [files_of(r) for r in first.run_requests] == [["claims/firehose/batch-a.jsonl"]]
        assert first.run_requests[0].run_key.startswith(f"claims-landing-{RUN_KEY_VERSION}-")
        assert RequestCursor.parse(first.cursor).requested == {"claims/firehose/batch-a.jsonl": (etag, 1)}
        ingest(defs, instance, first.run_requests[0])

        # identical bytes re-uploaded under the same key: same ETag, already taken, not requested again
        assert bucket.land("firehose/batch-a.jsonl", body) == etag
        second = evaluate_landing(defs, instance, first.cursor)
        assert not second.run_requests
        assert "no new files" in second.skip_reason.skip_message

        # changed bytes under the same key: a new ETag, requested again under a new run key
        changed = body + jsonl([insert("s3-3", "C-3", DAY, hour=14)])
        new_etag = bucket.land("firehose/batch-a.jsonl", changed)
        assert new_etag != etag
        third = evaluate_landing(defs, instance, second.cursor)
        assert [files_of(r) for r in third.run_requests] == [["claims/firehose/batch-a.jsonl"]]
        assert third.run_requests[0].run_key != first.run_requests[0].run_key
        assert RequestCursor.parse(third.cursor).requested == {"claims/firehose/batch-a.jsonl": (new_etag, 1)}
        ingest(defs, instance, third.run_requests[0])

        # a new object beside it: only the new one is requested
        bucket.land("firehose/batch-b.jsonl", jsonl([insert("s3-4", "C-4", DAY)]))
        fourth = evaluate_landing(defs, instance, third.cursor)
        assert [files_of(r) for r in fourth.run_requests] == [["claims/firehose/batch-b.jsonl"]]
    finally:
        instance.dispose()


def test_run_pipeline_on_s3_lands_partitions_quarantine_and_views_then_a_late_file_updates_the_old_day(
    s3_lake_env: Settings, bucket: Bucket
):
    settings = s3_lake_env
    lake = bucket.lake_prefix
    bucket.land("firehose/batch-1.jsonl", jsonl([
        insert("k-1", "C-1", OLD_DAY, hour=9, claim_amount=900, textract_operation="detect_text", textract_cost=0.01),
        modify("k-2", "C-1", OLD_DAY, 15, "PAID", payout_amount=800.0),
        insert("k-3", "C-2", DAY, hour=8, claim_amount=300, textract_operation="analyze_document", textract_cost=0.05),
    ]) + b"{not json at all\n")

    report = claims_report(runner.run_pipeline(settings, progress=quiet))

    figures = report.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined, report.days) == (1, 4, 3, 1, 2)
    old_partition = f"{lake}/raw/claims/event_date={OLD_DAY}/part-0.parquet"
    day_partition = f"{lake}/raw/claims/event_date={DAY}/part-0.parquet"
    assert bucket.keys(f"{lake}/raw/") == [old_partition, day_partition]
    errors = bucket.keys(f"{lake}/errors/")
    assert len(errors) == 1 and errors[0].startswith(f"{lake}/errors/claims/batch-") and errors[0].endswith(".parquet")
    assert len(bucket.keys(f"{lake}/manifests/claims/")) == 1
    assert bucket.keys(f"{lake}/staging/") == []
    assert f"{lake}/marts/financial_ops_daily/event_date={OLD_DAY}/part-0.parquet" in bucket.keys(f"{lake}/marts/")

    (view_sql,) = run_query(settings, "SELECT sql FROM duckdb_views() "
                                      f"WHERE view_name = 'claims' AND schema_name = '{settings.schema}'").rows
    assert f"s3://{bucket.name}/{lake}/raw/claims/" in view_sql[0]
    assert run_query(settings, "SELECT event_id, claim_id, event_type, status, event_date::VARCHAR "
                               "FROM claims ORDER BY event_id").rows == [
        ("k-1", "C-1", "INSERT", "SUBMITTED", OLD_DAY),
        ("k-2", "C-1", "MODIFY", "PAID", OLD_DAY),
        ("k-3", "C-2", "INSERT", "SUBMITTED", DAY),
    ]
    (error,) = run_query(settings, "SELECT file, line, reason, reason_detail FROM ingest_errors").rows
    assert error[:3] == ("claims/firehose/batch-1.jsonl", 4, "invalid_json")
    assert error[3].startswith("invalid JSON: ")
    assert run_query(settings, "SELECT claim_id, status FROM claims_current ORDER BY claim_id").rows == [
        ("C-1", "PAID"), ("C-2", "SUBMITTED"),
    ]
    finance_sql = ("SELECT event_date::VARCHAR, claims_submitted, round(textract_cost_gbp, 6), claims_paid, "
                   "payouts_released_gbp FROM financial_ops_daily ORDER BY event_date")
    assert run_query(settings, finance_sql).rows == [(OLD_DAY, 1, 0.01, 1, 800.0), (DAY, 1, 0.05, 0, 0.0)]
    day_written = bucket.last_modified(day_partition)

    # a late file: records of the old day arrive after that day has landed
    bucket.land("firehose/batch-late.jsonl", jsonl([
        insert("late-1", "C-3", OLD_DAY, hour=10, claim_amount=50, textract_operation="detect_text", textract_cost=0.02),
        modify("late-2", "C-3", OLD_DAY, 17, "PAID", payout_amount=40.0),
    ]))

    report = claims_report(runner.run_pipeline(settings, progress=quiet))

    figures = report.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined, report.days) == (1, 2, 2, 0, 1)
    assert bucket.last_modified(day_partition) == day_written  # the other day was not rewritten
    assert run_query(settings, f"SELECT event_id FROM claims WHERE event_date = DATE '{OLD_DAY}' "
                               "ORDER BY event_id").rows == [("k-1",), ("k-2",), ("late-1",), ("late-2",)]
    assert run_query(settings, finance_sql).rows == [(OLD_DAY, 2, 0.03, 2, 840.0), (DAY, 1, 0.05, 0, 0.0)]
    assert len(bucket.keys(f"{lake}/manifests/claims/")) == 2
    assert bucket.keys(f"{lake}/staging/") == []
    # the claims dashboards are generated over the S3 lake too
    finance = json.loads((Path(settings.data_dir) / "site" / "data" / "financial_operations.json").read_text())
    assert finance["status"] == "ready"
    assert {w["id"]: w for w in finance["widgets"]}["payouts_released"]["data"]["value"] == 840.0

    instance = runner.dagster_instance(settings)
    try:
        daily = instance.get_runs(filters=dg.RunsFilter(job_name="claims_daily_job"))
        # the first run merged both consecutive days; the late file's run merged its old day
        assert sorted(run_days(run.tags) for run in daily) == [[OLD_DAY], [OLD_DAY, DAY]]
    finally:
        instance.dispose()
