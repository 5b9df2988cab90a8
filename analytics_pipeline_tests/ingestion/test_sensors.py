"""The ingestion sensors, evaluated against a real persistent DagsterInstance (DAGSTER_HOME).

New landing files → a ``claims_ingest_job`` run listing them; staged event days → one
``claims_daily_job`` run per range of consecutive days (late days included). Every run request is executed
in-process against the same instance, the way ``analytics-pipeline run`` and the daemon do.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from analytics_pipeline import runner
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.ingestion.cursor import RequestCursor
from analytics_pipeline.ingestion.sensors import RUN_KEY_VERSION
from analytics_pipeline.platform.partitions import run_days
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.conftest import claims_report
from analytics_pipeline_tests.lakes import QUIET, lake_root, landing_root
from analytics_pipeline_tests.records import epoch, image, insert, jsonl, stream_record

LANDING_SENSOR = "claims_landing_sensor"
STAGED_DAYS_SENSOR = "claims_staged_days_sensor"
INGEST_JOB = "claims_ingest_job"
DAILY_JOB = "claims_daily_job"


def _days_ago(n: int) -> str:
    """Event days relative to today (UTC): inside the partitions and the accepted event-time range."""
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


# the event days of the tests: an old day that gets a late file, the day after it, a newer day
OLD_DAY, DAY, NEW_DAY = (_days_ago(11), _days_ago(10), _days_ago(7))


def modify(event_id: str, claim_id: str, day: str, hour: int, status: str, **attributes) -> dict:
    return stream_record(event_id, "MODIFY", epoch(day, hour), claim_id,
                         new=image(claim_id, status, **attributes), old=image(claim_id))


class Lake:
    """A local lake with its Dagster instance and definitions, driven through the real sensors and jobs."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.instance = runner.dagster_instance(settings)
        self.defs = build_definitions()
        self.landing = landing_root(settings)
        self.root = lake_root(settings)

    # landing -----------------------------------------------------------------------------
    def land(self, name: str, records: list, mtime: float | None = None, data: bytes | None = None) -> Path:
        path = Path(self.settings.landing_uri) / "claims" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jsonl(records) if data is None else data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    # sensors -----------------------------------------------------------------------------
    def evaluate(self, sensor_name: str, cursor: str | None = None):
        sensor = self.defs.resolve_sensor_def(sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance, definitions=self.defs, sensor_name=sensor_name,
            resources=self.defs.resources, cursor=cursor,
        )
        return sensor(context)

    def landing_requests(self, cursor: str | None = None) -> tuple[list[dg.RunRequest], str]:
        result = self.evaluate(LANDING_SENSOR, cursor)
        assert isinstance(result, dg.SensorResult)
        return list(result.run_requests or []), result.cursor

    def staged_day_requests(self) -> list[dg.RunRequest]:
        return list(self.evaluate(STAGED_DAYS_SENSOR).run_requests or [])

    # jobs --------------------------------------------------------------------------------
    def ingest(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        config = {**config_of(request), **QUIET}
        result = self.defs.resolve_job_def(INGEST_JOB).execute_in_process(
            run_config=config, instance=self.instance, tags=request.tags
        )
        assert result.success
        return result

    def merge(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = self.defs.resolve_job_def(DAILY_JOB).execute_in_process(
            instance=self.instance, tags=request.tags, run_config=QUIET
        )
        assert result.success
        return result

    def ingest_and_merge_everything(self, cursor: str | None = None) -> str:
        """Stage every requested batch and merge every staged day; returns the landing cursor."""
        requests, cursor = self.landing_requests(cursor)
        for request in requests:
            self.ingest(request)
        for request in self.staged_day_requests():
            self.merge(request)
        return cursor

    def refresh(self) -> None:
        result = self.defs.resolve_job_def("refresh_job").execute_in_process(instance=self.instance, run_config=QUIET)
        assert result.success

    # the lake ----------------------------------------------------------------------------
    def raw_event_ids(self, day: str) -> list[str]:
        path = Path(self.settings.lake_uri) / "raw" / "claims" / f"event_date={day}" / "part-0.parquet"
        if not path.exists():
            return []
        with duckdb.connect() as con:
            rows = con.execute(f"SELECT event_id FROM read_parquet('{path}') ORDER BY event_id").fetchall()
        return [r[0] for r in rows]

    def query(self, sql: str) -> list[tuple]:
        return run_query(self.settings, sql).rows


def config_of(request: dg.RunRequest) -> dict:
    config = request.run_config
    return config if isinstance(config, dict) else config.to_config_dict()


def files_of(request: dg.RunRequest) -> list[str]:
    return config_of(request)["ops"]["staged_claims"]["config"]["files"]


def metadata_by_day(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    """The metadata of each day's materialization of ``asset`` in a (range) run."""
    return {event.step_materialization_data.materialization.partition:
            {k: getattr(v, "value", v) for k, v in event.step_materialization_data.materialization.metadata.items()}
            for event in result.get_asset_materialization_events()
            if event.step_materialization_data.materialization.asset_key == dg.AssetKey(asset)}


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    found = [
        event.step_materialization_data.materialization
        for event in result.get_asset_materialization_events()
        if event.step_materialization_data.materialization.asset_key == dg.AssetKey(asset)
    ]
    assert len(found) == 1, f"expected one materialization of {asset}, got {len(found)}"
    return {k: getattr(v, "value", v) for k, v in found[0].metadata.items()}


@pytest.fixture
def lake(lake_env: Settings):
    lake = Lake(lake_env)
    yield lake
    lake.instance.dispose()


# (a) ---------------------------------------------------------------------------------------

def test_new_file_yields_one_run_request_then_the_cursor_skips_it(lake: Lake):
    lake.land("firehose/batch-a.jsonl", [insert("a-1", "C-1", DAY), insert("a-2", "C-2", DAY, hour=13)])

    result = lake.evaluate(LANDING_SENSOR)

    assert isinstance(result, dg.SensorResult)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert files_of(request) == ["claims/firehose/batch-a.jsonl"]
    assert request.run_key.startswith(f"claims-landing-{RUN_KEY_VERSION}-") and request.run_key.endswith("-1")
    assert request.tags["analytics/source"] == "claims"
    assert request.tags["analytics/files"] == "1"
    assert result.cursor
    lake.ingest(request)

    again = lake.evaluate(LANDING_SENSOR, cursor=result.cursor)

    assert isinstance(again, dg.SensorResult)
    assert not again.run_requests
    assert again.skip_reason is not None
    message = again.skip_reason.skip_message
    assert "no new files" in message and "landing/claims/" in message


# (b) ---------------------------------------------------------------------------------------

def test_staged_days_become_one_partition_run_per_event_day_and_land_the_rows(lake: Lake):
    lake.land("batch-b.jsonl", [
        insert("b-1", "C-1", OLD_DAY, hour=9),
        insert("b-2", "C-2", OLD_DAY, hour=15),
        insert("b-3", "C-3", DAY, hour=8),
    ])
    assert lake.evaluate(STAGED_DAYS_SENSOR).skip_reason.skip_message == "nothing staged for claims"

    (request,), _ = lake.landing_requests()
    staged = metadata(lake.ingest(request), "staged_claims")
    assert (staged["files"], staged["records_in"], staged["staged"], staged["quarantined"]) == (1, 3, 3, 0)
    assert staged["event_days"] == {OLD_DAY: 2, DAY: 1}

    days = lake.staged_day_requests()

    # two consecutive days: one run over both
    assert [run_days(r.tags) for r in days] == [[OLD_DAY, DAY]]
    assert days[0].run_key.startswith(f"claims-merge-{RUN_KEY_VERSION}-{OLD_DAY}-{DAY}-")

    landed = metadata_by_day(lake.merge(days[0]), "raw_claims")

    assert {day: m["landed"] for day, m in landed.items()} == {OLD_DAY: 2, DAY: 1}
    assert lake.raw_event_ids(OLD_DAY) == ["b-1", "b-2"]
    assert lake.raw_event_ids(DAY) == ["b-3"]
    assert not lake.instance.is_ephemeral
    assert sorted((run.job_name, run_days(run.tags)) for run in lake.instance.get_runs()) == [
        (DAILY_JOB, [OLD_DAY, DAY]), (INGEST_JOB, []),
    ]
    skip = lake.evaluate(STAGED_DAYS_SENSOR).skip_reason
    assert "nothing staged" in skip.skip_message
    # the manifest now holds the file: a fresh landing evaluation (no cursor) asks for nothing
    requests, _ = lake.landing_requests()
    assert requests == []


# (c) ---------------------------------------------------------------------------------------

def test_late_file_backfills_exactly_its_old_day_partition_and_marts(lake: Lake):
    lake.land("firehose/batch-1.jsonl", [
        insert("on-time-1", "C-1", OLD_DAY, hour=9, textract_operation="detect_text", textract_cost=0.01),
        insert("on-time-2", "C-2", NEW_DAY, hour=9, textract_operation="analyze_document", textract_cost=0.05),
    ])
    cursor = lake.ingest_and_merge_everything()
    old_mart = Path(lake.settings.lake_uri) / "marts" / "financial_ops_daily" / f"event_date={OLD_DAY}" / "part-0.parquet"
    assert old_mart.exists()

    lake.land("firehose/batch-2-late.jsonl", [
        insert("late-1", "C-3", OLD_DAY, hour=10, textract_operation="detect_text", textract_cost=0.02),
        insert("late-2", "C-4", OLD_DAY, hour=11, textract_operation="analyze_document", textract_cost=0.04),
        modify("late-3", "C-1", OLD_DAY, 16, "PAID", payout_amount=250.0),
    ])
    (request,), _ = lake.landing_requests(cursor)
    assert files_of(request) == ["claims/firehose/batch-2-late.jsonl"]
    lake.ingest(request)

    days = lake.staged_day_requests()

    assert [run_days(r.tags) for r in days] == [[OLD_DAY]]  # a backfill of that day only
    raw = metadata(lake.merge(days[0]), "raw_claims")
    assert (raw["landed"], raw["duplicates"], raw["dagster/row_count"]) == (3, 0, 4)
    assert lake.raw_event_ids(OLD_DAY) == ["late-1", "late-2", "late-3", "on-time-1"]
    assert lake.raw_event_ids(NEW_DAY) == ["on-time-2"]

    lake.refresh()
    rows = lake.query(
        "SELECT event_date::VARCHAR, claims_submitted, detect_text_claims, analyze_document_claims, "
        "round(textract_cost_gbp, 6), claims_paid, payouts_released_gbp "
        "FROM financial_ops_daily ORDER BY event_date"
    )
    assert rows == [
        (OLD_DAY, 3, 2, 1, 0.07, 1, 250.0),
        (NEW_DAY, 1, 0, 1, 0.05, 0, 0.0),
    ]
    assert lake.query("SELECT claim_id, status FROM claims_current WHERE claim_id = 'C-1'") == [("C-1", "PAID")]


# (d) ---------------------------------------------------------------------------------------

def test_duplicate_file_under_a_new_name_is_ingested_but_lands_nothing(lake: Lake):
    records = [insert("d-1", "C-1", DAY, hour=9), insert("d-2", "C-2", DAY, hour=10), insert("d-3", "C-3", NEW_DAY)]
    lake.land("batch-d.jsonl", records)
    cursor = lake.ingest_and_merge_everything()

    lake.land("batch-d-copy.jsonl", records)
    (request,), _ = lake.landing_requests(cursor)
    assert files_of(request) == ["claims/batch-d-copy.jsonl"]
    staged = metadata(lake.ingest(request), "staged_claims")
    assert (staged["files"], staged["records_in"], staged["staged"], staged["duplicates_in_batch"]) == (1, 3, 3, 0)

    days = lake.staged_day_requests()
    assert [run_days(r.tags) for r in days] == [[DAY], [NEW_DAY]]
    raw = {day: m for r in days for day, m in metadata_by_day(lake.merge(r), "raw_claims").items()}

    assert {d: (m["landed"], m["duplicates"], m["dagster/row_count"]) for d, m in raw.items()} == {
        DAY: (0, 2, 2), NEW_DAY: (0, 1, 1),
    }
    assert lake.raw_event_ids(DAY) == ["d-1", "d-2"]
    assert lake.raw_event_ids(NEW_DAY) == ["d-3"]
    lake.refresh()
    assert lake.query("SELECT file FROM ingested_files ORDER BY file") == [
        ("claims/batch-d-copy.jsonl",), ("claims/batch-d.jsonl",),
    ]
    assert lake.query("SELECT count(*), count(DISTINCT event_id) FROM claims") == [(3, 3)]


# (e) ---------------------------------------------------------------------------------------

def test_same_key_redelivered_with_changed_content_is_picked_up_again(lake: Lake):
    path = lake.land("batch-e.jsonl", [insert("e-1", "C-1", DAY)])
    first, cursor = lake.landing_requests()
    lake.ingest(first[0])
    for request in lake.staged_day_requests():
        lake.merge(request)
    assert lake.landing_requests(cursor)[0] == []

    mtime = path.stat().st_mtime
    lake.land("batch-e.jsonl", [insert("e-1", "C-1", DAY), insert("e-2", "C-2", DAY, hour=14)], mtime=mtime + 5)

    again, _ = lake.landing_requests(cursor)

    assert len(again) == 1
    assert files_of(again[0]) == ["claims/batch-e.jsonl"]
    assert again[0].run_key != first[0].run_key
    staged = metadata(lake.ingest(again[0]), "staged_claims")
    assert staged["records_in"] == 2
    (day,) = lake.staged_day_requests()
    raw = metadata(lake.merge(day), "raw_claims")
    assert (raw["landed"], raw["duplicates"]) == (1, 1)
    assert lake.raw_event_ids(DAY) == ["e-1", "e-2"]


# (f) ---------------------------------------------------------------------------------------

def test_a_file_with_an_old_modification_time_is_still_picked_up(lake: Lake):
    lake.land("fresh.jsonl", [insert("f-1", "C-1", DAY)])
    first, cursor = lake.landing_requests()
    lake.ingest(first[0])
    an_hour_ago = time.time() - 3600  # as `cp -p` or `rsync -a` would leave it
    lake.land("copied-with-old-mtime.jsonl", [insert("f-2", "C-2", DAY)], mtime=an_hour_ago)

    requests, cursor = lake.landing_requests(cursor)

    assert [files_of(r) for r in requests] == [["claims/copied-with-old-mtime.jsonl"]]
    lake.ingest(requests[0])
    assert lake.landing_requests(cursor)[0] == []


def test_a_file_already_taken_is_not_requested_again(lake: Lake):
    lake.land("one.jsonl", [insert("g-1", "C-1", DAY)])
    first, cursor = lake.landing_requests()
    assert [files_of(r) for r in first] == [["claims/one.jsonl"]]
    lake.ingest(first[0])

    lake.land("two.jsonl", [insert("g-2", "C-2", DAY)])
    second, cursor = lake.landing_requests(cursor)
    assert [files_of(r) for r in second] == [["claims/two.jsonl"]]  # one.jsonl is in the manifest
    lake.ingest(second[0])

    third, _ = lake.landing_requests(cursor)
    assert third == []


def test_a_request_whose_run_never_finished_is_retried_with_a_new_run_key(lake: Lake):
    lake.land("stuck.jsonl", [insert("h-1", "C-1", DAY)])
    first, cursor = lake.landing_requests()
    # the run failed (or was never launched): no run of the job is active, the file is still pending
    retry, cursor = lake.landing_requests(cursor)
    assert [files_of(r) for r in retry] == [["claims/stuck.jsonl"]]
    assert first[0].run_key.endswith("-1") and retry[0].run_key.endswith("-2")
    assert retry[0].tags["analytics/attempt"] == "2"


def test_request_cursor_waits_while_a_run_is_active_and_resets_on_a_changed_file():
    cursor = RequestCursor()
    wanted, cursor = cursor.plan({"a": "m1"}, runs_active=False)
    assert wanted == {"a": 1}
    wanted, cursor = cursor.plan({"a": "m1"}, runs_active=True)
    assert wanted == {}  # its run is on the way
    wanted, cursor = cursor.plan({"a": "m1", "b": "m1"}, runs_active=True)
    assert wanted == {"b": 1}  # a new file does not wait for other runs
    wanted, cursor = cursor.plan({"a": "m2"}, runs_active=True)
    assert wanted == {"a": 1}  # changed content is new work
    wanted, cursor = cursor.plan({"a": "m2"}, runs_active=False)
    assert wanted == {"a": 2}  # nothing active and still pending: retry
    _, cursor = cursor.plan({}, runs_active=False)
    assert RequestCursor.parse(cursor.serialise()).requested == {}  # done items are forgotten


# (g) ---------------------------------------------------------------------------------------

SNAPSHOT_QUERIES = [
    "SELECT * FROM claims ORDER BY event_id",
    "SELECT * FROM claims_current ORDER BY claim_id",
    "SELECT * FROM claim_status_transitions ORDER BY claim_id, event_id",
    "SELECT * FROM financial_ops_daily ORDER BY event_date",
    "SELECT * FROM model_performance_daily ORDER BY event_date",
    "SELECT * FROM ingest_errors ORDER BY file, line",
    "SELECT * FROM ingested_files ORDER BY file",
]


def test_run_pipeline_twice_stages_nothing_the_second_time_and_is_recorded(lake_env: Settings):
    settings = lake_env
    landing = Path(settings.landing_uri) / "claims" / "firehose"
    landing.mkdir(parents=True)
    (landing / "batch-1.jsonl").write_bytes(
        jsonl([
            insert("p-1", "C-1", OLD_DAY, hour=9, claim_amount=1200, textract_operation="detect_text"),
            modify("p-2", "C-1", OLD_DAY, 11, "AI_ASSESSED", fraud_score=12, bedrock_cost=0.02),
            modify("p-3", "C-1", DAY, 10, "APPROVED", ai_agreement_flag="AGREE", payout_amount=1000,
                   ai_recommended_payout=1000, total_aws_cost=0.03),
            insert("p-4", "C-2", DAY, hour=12, claim_amount=300, textract_operation="analyze_document"),
        ])
        + b"this line is not JSON\n"
    )

    first = runner.run_pipeline(settings, progress=lambda _: None)

    report = claims_report(first)
    figures = report.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined, report.days) == (1, 5, 4, 1, 2)
    before = {sql: run_query(settings, sql).rows for sql in SNAPSHOT_QUERIES}
    assert [r[0] for r in run_query(settings, "SELECT event_id FROM claims ORDER BY event_id").rows] == [
        "p-1", "p-2", "p-3", "p-4"]
    assert len(before["SELECT * FROM ingest_errors ORDER BY file, line"]) == 1

    second = runner.run_pipeline(settings, progress=lambda _: None)

    report = claims_report(second)
    figures = report.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined, report.days) == (0, 0, 0, 0, 0)
    assert lake_root(settings).list_files("staging/claims") == []
    after = {sql: run_query(settings, sql).rows for sql in SNAPSHOT_QUERIES}
    for sql in SNAPSHOT_QUERIES:
        assert after[sql] == before[sql], sql

    instance = runner.dagster_instance(settings)
    try:
        runs = instance.get_runs()
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        by_job: dict[str, list] = {}
        for run in runs:
            by_job.setdefault(run.job_name, []).append(run)
        assert len(by_job[INGEST_JOB]) == 1
        assert by_job[INGEST_JOB][0].tags["analytics/source"] == "claims"
        assert sorted(run_days(run.tags) for run in by_job[DAILY_JOB]) == [[OLD_DAY, DAY]]
        assert len(by_job["refresh_job"]) == 2
        assert set(by_job) == {INGEST_JOB, DAILY_JOB, "refresh_job"}
    finally:
        instance.dispose()
