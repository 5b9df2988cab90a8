"""The data dir's Dagster event log (platform/event_log.py): what a run records is what Dagster's own SQLite storage
records, the UI can follow a run another process writes, and data dirs made before it get it."""

from __future__ import annotations

import threading
import time
import uuid

import dagster as dg

from analytics_pipeline.cli import main
from analytics_pipeline.platform.event_log import BatchedSqliteEventLogStorage
from analytics_pipeline.runner import _EARLIER_DAGSTER_YAML, dagster_instance, dagster_yaml
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.lakes import QUIET, landing_root
from analytics_pipeline_tests.records import epoch, image, insert, jsonl, stream_record

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")


def _land_three_days(settings) -> None:
    landing = landing_root(settings)
    records = [insert(f"e-{day}-{i}", f"c-{day}-{i}", day, hour=i) for day in DAYS for i in range(1, 4)]
    claim = f"c-{DAYS[0]}-1"
    records.append(stream_record("e-late", "MODIFY", epoch(DAYS[2], 9), claim, new=image(claim, status="PAID")))
    landing.write_bytes(jsonl(records) + b'{"not": "a stream record"\n', "claims", "batch.jsonl")


def _recorded(instance: dg.DagsterInstance) -> dict:
    """What the UI reads: every asset's materializations by partition (their metadata's keys), partition statuses,
    and the check evaluations by asset, check and partition."""
    graph_keys = [r.asset_entry.asset_key for r in instance.get_asset_records()]
    materializations, evaluations = {}, {}
    for key in graph_keys:
        records = instance.fetch_materializations(key, limit=10_000).records
        materializations[key.to_user_string()] = sorted(
            (r.partition_key or "", tuple(sorted(r.asset_materialization.metadata))) for r in records)
    for record in instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION)):
        data = record.event_log_entry.dagster_event.event_specific_data
        check = (data.asset_key.to_user_string(), data.check_name, data.partition or "")
        evaluations[check] = evaluations.get(check, 0) + 1
    return {"materializations": materializations, "evaluations": evaluations,
            "planned": len(instance.get_event_records(
                dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)))}


def test_a_run_records_what_dagsters_own_storage_records(lake_env, tmp_path, monkeypatch):
    _land_three_days(lake_env)
    assert main(["run"]) == 0
    ours = dagster_instance(lake_env)
    assert isinstance(ours.event_log_storage, BatchedSqliteEventLogStorage)
    recorded = _recorded(ours)

    # The same landing file into a data dir whose dagster.yaml a user edited to Dagster's own event log
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "theirs"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "theirs" / "dagster_home"))
    settings = load_settings()
    (tmp_path / "theirs" / "dagster_home").mkdir(parents=True)
    (tmp_path / "theirs" / "dagster_home" / "dagster.yaml").write_text(_EARLIER_DAGSTER_YAML + "# mine\n")
    _land_three_days(settings)
    assert main(["run"]) == 0
    theirs = dagster_instance(settings)
    assert type(theirs.event_log_storage).__name__ == "SqliteEventLogStorage"

    assert recorded == _recorded(theirs)
    raw_days = dict(recorded["materializations"]["raw_claims"])
    assert set(raw_days) == set(DAYS) and "dagster/row_count" in raw_days[DAYS[0]]
    assert recorded["planned"] >= len(DAYS) * 2  # a planned event per asset and day of the range run
    status = ours.get_status_by_partition(dg.AssetKey("raw_claims"), list(DAYS), dg.DailyPartitionsDefinition(DAYS[0]))
    assert set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}


@dg.asset(partitions_def=dg.DailyPartitionsDefinition("2024-03-01", end_date="2024-04-01"),
          backfill_policy=dg.BackfillPolicy.single_run())
def days_of_march(context):
    for day in context.partition_keys:
        context.add_asset_metadata({"day": day}, partition_key=day)
    return dg.MaterializeResult()


def test_the_ui_follows_a_run_another_process_writes(lake_env):
    """Dagster's UI watches a run's database file; writes kept in the WAL must still wake it up."""
    writer = dagster_instance(lake_env)
    watcher = dg.DagsterInstance.get()  # another instance on the same DAGSTER_HOME: its own storage, as the UI has
    assert watcher.event_log_storage is not writer.event_log_storage
    seen, done = [], threading.Event()

    def on_event(entry, _cursor):
        seen.append(entry.dagster_event_type)
        if entry.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS:
            done.set()

    run_id = str(uuid.uuid4())
    job = dg.Definitions(assets=[days_of_march]).resolve_implicit_global_asset_job_def()
    watcher.event_log_storage.watch(run_id, None, on_event)
    try:
        started = time.monotonic()
        assert job.execute_in_process(instance=writer, run_id=run_id, run_config=QUIET, tags={
            "dagster/asset_partition_range_start": "2024-03-01",
            "dagster/asset_partition_range_end": "2024-03-31"}).success
        assert done.wait(timeout=20), f"the watcher saw {len(seen)} events and no end of the run"
        assert seen.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 31
        assert time.monotonic() - started < 20
    finally:
        watcher.event_log_storage.end_watch(run_id, on_event)
        watcher.dispose()


def test_data_dirs_made_before_get_the_event_log_and_an_edited_config_is_kept(lake_env, tmp_path, monkeypatch):
    home = tmp_path / "data" / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(_EARLIER_DAGSTER_YAML)
    assert isinstance(dagster_instance(lake_env).event_log_storage, BatchedSqliteEventLogStorage)
    assert (home / "dagster.yaml").read_text() == dagster_yaml(home)

    # a data dir moved elsewhere: its dagster.yaml names the new place (the event log is opened by path)
    (home / "dagster.yaml").write_text(dagster_yaml(tmp_path / "elsewhere" / "dagster_home"))
    instance = dagster_instance(lake_env)
    assert (home / "dagster.yaml").read_text() == dagster_yaml(home)
    assert instance.event_log_storage._base_dir == str(home.resolve() / "history" / "runs")
    monkeypatch.delenv("DAGSTER_HOME")
    opened_by_path = dg.DagsterInstance.from_config(str(home))  # as a script would, without DAGSTER_HOME
    assert opened_by_path.event_log_storage._base_dir == str(home.resolve() / "history" / "runs")

    edited = _EARLIER_DAGSTER_YAML.replace("max_concurrent_runs: 4", "max_concurrent_runs: 2")
    (home / "dagster.yaml").write_text(edited)
    dagster_instance(lake_env)
    assert (home / "dagster.yaml").read_text() == edited
